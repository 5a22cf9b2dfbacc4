"""Every pattern /openapi.json states is a validator's own regex, and reads alike in ECMA-262.

The validators apply these compiled regexes themselves, so the document cannot drift from
them; a pattern that quotes one where the validator trims first allows the trimmed whitespace
around it (`padded`). Two patterns promise less than the validators take (targets on DNS names:
the SSRF guard's verdict on addresses is no pattern); the platform spec tests prove those
accepted. A pattern must compile in Python and in JavaScript (with and without the u flag) and
match the same strings in both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.pi import validation
from connector.web import bodies
from connector.web.openapi import padded
from connector.web.spec import PUBLIC_CALLBACK
from manychat_app import schemas as manychat
from shopify_app.verify import SHOP_DOMAIN, TIMESTAMP
from shopify_app.webhooks import WEBHOOK_ID
from tests.support.openapi import served_spec
from zapier_app.spec import PUBLIC_HTTPS_TARGET

# Regexes whose validator reads the value as it comes.
AS_IS = {
    "uuid": validation.UUID_RE,
    "country": validation.COUNTRY_RE,
    "language": validation.LANGUAGE_RE,
    "visible": validation.VISIBLE_RE,
    "reference_image": validation.REFERENCE_IMAGE_RE,
    "bare_domain": bodies.BARE_DOMAIN,
    "blank": bodies.BLANK,
    "unfilled": bodies.UNFILLED,
    "placeholder": bodies.PLACEHOLDER,
    "timestamp": TIMESTAMP,
    "webhook_id": WEBHOOK_ID,
}
# Regexes whose validator trims the value first: documented padded.
TRIMMED = {
    "brand_url": validation.HTTP_URL_RE,
    "shop": SHOP_DOMAIN,
    "subscriber_id": manychat.SUBSCRIBER_ID,
    "manychat_api_key": manychat.API_KEY,
    "flow_ns": manychat.FLOW_NS,
}
# Narrower promises than the validators make (DNS names only).
PROMISES = {"callback": PUBLIC_CALLBACK, "https_target": PUBLIC_HTTPS_TARGET}
QUOTED = {
    **{name: regex.pattern for name, regex in {**AS_IS, **PROMISES}.items()},
    **{name: padded(regex) for name, regex in TRIMMED.items()},
}

SCHEMAS = "/components/schemas"
MANYCHAT = f"{SCHEMAS}/ManyChatExtractInput/properties"
JOB_PATHS = "/paths/~1manychat~1v1~1jobs~1{job_id}/get/parameters/0/schema"
# Where each field's validator regex shows up (a JSON pointer into the document).
PLACES = [
    (f"{SCHEMAS}/BrandJobInput/properties/url/anyOf/0/pattern", "brand_url"),
    (f"{SCHEMAS}/BrandJobInput/properties/logo_base64/anyOf/0/pattern", "visible"),
    (f"{SCHEMAS}/BrandJobInput/properties/location/anyOf/0/properties/country/pattern", "country"),
    (
        f"{SCHEMAS}/BrandJobInput/properties/location/anyOf/0/properties/languages/items/pattern",
        "language",
    ),
    (f"{SCHEMAS}/GenerationJobInput/properties/prompt/pattern", "visible"),
    (f"{SCHEMAS}/GenerationJobInput/properties/brand_id/anyOf/0/pattern", "uuid"),
    (
        f"{SCHEMAS}/GenerationJobInput/properties/reference_images/anyOf/0/items/allOf/1/pattern",
        "reference_image",
    ),
    (f"{SCHEMAS}/JobCreate/properties/callback_url/pattern", "callback"),
    (f"{MANYCHAT}/url/anyOf/0/pattern", "brand_url"),
    (f"{MANYCHAT}/url/anyOf/1/pattern", "bare_domain"),
    (f"{MANYCHAT}/subscriber_id/anyOf/0/anyOf/0/pattern", "subscriber_id"),
    (f"{MANYCHAT}/manychat_api_key/anyOf/0/pattern", "manychat_api_key"),
    (f"{MANYCHAT}/flow_ns/anyOf/0/pattern", "flow_ns"),
    (f"{MANYCHAT}/flow_ns/anyOf/0/not/pattern", "unfilled"),
    (f"{MANYCHAT}/flow_ns/anyOf/1/anyOf/1/pattern", "blank"),
    (f"{SCHEMAS}/ZapierExtractBrandInput/properties/url/anyOf/1/pattern", "bare_domain"),
    (f"{SCHEMAS}/ZapierExtractBrandInput/properties/callback_url/anyOf/0/pattern", "https_target"),
    (f"{SCHEMAS}/ZapierGenerationInput/properties/brand_id/anyOf/0/pattern", "uuid"),
    (f"{SCHEMAS}/ZapierGenerationInput/properties/prompt/not/pattern", "placeholder"),
    (f"{SCHEMAS}/ZapierHookInput/properties/target_url/pattern", "https_target"),
    ("/paths/~1zapier~1v1~1searches~1job/get/parameters/0/schema/not/pattern", "placeholder"),
    (f"{JOB_PATHS}/not/anyOf/0/pattern", "blank"),
    (f"{JOB_PATHS}/not/anyOf/1/pattern", "unfilled"),
    ("/paths/~1shopify~1install/get/parameters/0/schema/pattern", "shop"),
    ("/paths/~1shopify~1callback/get/parameters/1/schema/pattern", "timestamp"),
    ("/paths/~1shopify~1webhooks/post/parameters/1/schema/pattern", "webhook_id"),
]


@pytest.fixture(scope="module")
def spec() -> dict:
    return served_spec()


def _patterns(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Yield (JSON pointer, pattern) for every pattern keyword in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key == "pattern" and isinstance(value, str):
                yield here, value
            else:
                yield from _patterns(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns(value, f"{where}/{index}")


def _at(document: Any, pointer: str) -> Any:
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        document = document[int(key)] if isinstance(document, list) else document[key]
    return document


def test_every_documented_pattern_quotes_a_validator_regex(spec):
    known = set(QUOTED.values())
    strays = [where for where, pattern in _patterns(spec) if pattern not in known]
    assert strays == []


@pytest.mark.parametrize(("pointer", "name"), PLACES, ids=[p for p, _ in PLACES])
def test_each_field_quotes_the_regex_its_validator_applies(spec, pointer, name):
    assert _at(spec, pointer) == QUOTED[name]


def test_every_validator_regex_is_documented(spec):
    assert {name for _, name in PLACES} == set(QUOTED)
    for name, regex in TRIMMED.items():
        # The validator's own pattern, whole, between the whitespace it trims.
        assert regex.pattern[1:-1] in QUOTED[name], name


# -- ECMA-262 ------------------------------------------------------------------------------

# Escapes Python reads and ECMA-262 does not, or reads otherwise (\d, \w, \s match other sets).
PYTHON_ESCAPES = set("AZzgNpPhHdDwWbBsS")


def python_only(pattern: str) -> list[str]:
    """Return the Python-only constructs of a pattern ([\\s\\S], every character, is fine)."""
    found = []
    pattern = pattern.replace(r"[\s\S]", "")
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if pattern[i + 1] in PYTHON_ESCAPES:
                found.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(" and pattern.startswith("(?", i) and pattern[i + 2] not in ":=!":
            found.append(pattern[i : i + 4])  # named group, inline flags, atomic, lookbehind
        elif char in "*+?}" and pattern.startswith("+", i + 1):
            found.append(pattern[i : i + 2])  # possessive quantifier
        i += 1
    return found


def test_python_only_syntax_is_found():
    assert python_only(r"(?P<x>a)(?i:b)(?>c)a*+\Z\d[\s]") == [
        "(?P<",
        "(?i:",
        "(?>c",
        "*+",
        r"\Z",
        r"\d",
        r"\s",
    ]
    assert python_only(r"[*+?]+[\s\S]*(?:a)(?=b)(?!c)\\d") == []


def test_patterns_compile_in_python_and_use_no_python_only_syntax(spec):
    for where, pattern in _patterns(spec):
        re.compile(pattern)
        assert python_only(pattern) == [], where


def _node() -> str | None:
    node = shutil.which("node")
    if node is None and os.environ.get("PIC_REQUIRE_NODE") == "1":
        pytest.fail("node is not installed (PIC_REQUIRE_NODE=1)")
    return node


_JS = """
const {patterns, samples} = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = patterns.map((p) => {
  const plain = new RegExp(p);
  new RegExp(p, 'u');
  return samples.map((s) => plain.test(s));
});
process.stdout.write(JSON.stringify(out));
"""

# Text that sits on the engines' differences: Unicode spaces, line ends, astral characters.
EDGES = ["", " ", "\u00a0", "\u2028", "\u3000", "\u0085", "\u180e", "\u200b", "\ufeff", "\r", "x"]


def _samples(patterns: list[str]) -> list[str]:
    found: list[str] = list(EDGES)
    alphabet = st.characters(blacklist_categories=["Cs"]) | st.sampled_from(EDGES[1:])
    text = st.text(alphabet=alphabet, max_size=40)

    @settings(
        max_examples=40, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.sampled_from(patterns).flatmap(lambda p: st.from_regex(p)) | text)
    def collect(value: str) -> None:
        found.append(value)

    collect()
    # Python's $ also matches before a final newline; the validators never meet one there
    # (they trim, or use fullmatch), so those strings say nothing about the document.
    return [s for s in found if not s.endswith("\n")]


def test_patterns_compile_in_javascript_and_match_the_same_strings(spec):
    node = _node()
    if node is None:
        pytest.skip("node is not installed")
    patterns = sorted({pattern for _, pattern in _patterns(spec)})
    samples = _samples(patterns)
    answer = subprocess.run(
        [node, "-e", _JS],
        input=json.dumps({"patterns": patterns, "samples": samples}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    in_js = json.loads(answer.stdout)
    for pattern, matches in zip(patterns, in_js, strict=True):
        in_python = [bool(re.search(pattern, s)) for s in samples]
        differ = [s for s, a, b in zip(samples, in_python, matches, strict=True) if a != b]
        assert differ == [], pattern[:80]
