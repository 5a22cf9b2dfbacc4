"""Property tests of the ManyChat and Zapier input schemas: bad input is a 400, never a crash.

Loading arbitrary JSON-like input with a request schema (and normalizing what it accepts for
Pi) raises nothing but marshmallow's ValidationError or the Pi input error that becomes a 400;
through the app, arbitrary bodies never produce a 5xx. Each property runs 150 examples,
derandomized so CI is deterministic; set PIC_FUZZ_EXAMPLES=N for a longer, randomized run.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from connector.errors import BadRequest
from connector.jobs.submission import normalize
from connector.pi.validation import PiInputError
from manychat_app.schemas import DomainQuery, ExtractInput, GenerateInput
from shopify_app.verify import require_shop
from tests.support.constants import NO_ACCOUNT_LIMITS
from zapier_app import schemas as zapier

_LONG_RUN = os.environ.get("PIC_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_LONG_RUN or 150),
    derandomize=not _LONG_RUN,
    deadline=None,  # a shared 2-core machine: timing is no property of validation
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
AUTH = {"Authorization": "Bearer pi_test_input_fuzz_account"}

# Values that sit on the edges the validators care about, mixed with anything at all.
EDGES = st.sampled_from(
    [
        "",
        "   ",
        "{{cuf_123}}",
        "x{{name}}y",
        "acme.com",
        "https://acme.com",
        "HTTPS://Acme.com/x?y#z",
        "http://[::1",
        "https://a[",
        "https://[",
        "https://[::1/x",
        "https://a]/b",
        "https://:80",
        "https://acme.com:99999",
        "ftp://acme.com",
        "data:image/png;base64,AAAA",
        "data:nocomma",
        "QUJD",
        "00000000-0000-0000-0000-000000000000",
        "512",
        "1K",
        "auto",
        "high",
        "job.completed",
        "brand.extracted",
        "12345678901234567890",
        "content20240101000000_000000",
        "\x00",
        "\u2028",
        "🙂",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | EDGES
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


# A valid value for each required field, so the other fields get past the first check.
GOOD = {
    "url": "https://acme.com",
    "domain": "acme.com",
    "prompt": "a summer poster",
    "target_url": "https://hooks.example.com/catch",
    "event": "job.completed",
    "job_id": "00000000-0000-0000-0000-000000000000",
}


VALUES = EDGES | st.lists(EDGES, min_size=1, max_size=3) | JSON


def required_fields(schema: type[Schema]) -> dict[str, Any]:
    """Return a valid value for each required field of a schema."""
    return {name: GOOD[name] for name, field in schema().fields.items() if field.required}


def bodies(schema: type[Schema]) -> st.SearchStrategy[Any]:
    """Return objects of the schema's fields and other keys, and any JSON at all."""
    objects = st.fixed_dictionaries({}, optional=dict.fromkeys(schema().fields, VALUES))
    extra = st.dictionaries(st.text(max_size=8), JSON, max_size=2)
    return st.tuples(objects, extra).map(lambda pair: {**pair[1], **pair[0]}) | JSON


def load_and_normalize(schema: type[Schema], data: Any, kind: str | None) -> None:
    """Load like the endpoint does, then build the Pi body; only input errors may escape."""
    try:
        body = schema().load(data)
    except ValidationError:
        return
    if kind is None:
        return
    payload = {k: v for k, v in body.items() if v is not None and k != "callback_url"}
    try:
        normalize(kind, payload)
    except PiInputError:
        return


SCHEMAS = [
    (ExtractInput, "brand_extraction"),
    (GenerateInput, "image_generation"),
    (DomainQuery, None),
    (zapier.ExtractBrandInput, "brand_extraction"),
    (zapier.GenerationInput, "image_generation"),
    (zapier.HookInput, None),
    (zapier.JobSearchQuery, None),
    (zapier.BrandSearchQuery, None),
    (zapier.TriggerQuery, None),
    (zapier.JobsTriggerQuery, None),
]


@pytest.mark.parametrize(("schema", "kind"), SCHEMAS, ids=[s.__name__ for s, _ in SCHEMAS])
def test_schema_raises_only_validation_errors(schema, kind):
    @FUZZ
    @given(data=bodies(schema))
    def check(data):
        load_and_normalize(schema, data, kind)

    check()


FIELDS = [(s, kind, name) for s, kind in SCHEMAS for name in sorted(s().fields)]


@pytest.mark.parametrize(
    ("schema", "kind", "name"), FIELDS, ids=[f"{s.__name__}.{n}" for s, _, n in FIELDS]
)
def test_each_field_raises_only_validation_errors(schema, kind, name):
    # One field at a time on valid required ones reaches the checks behind the schema.
    required = required_fields(schema)

    @FUZZ
    @given(value=VALUES)
    def check(value):
        load_and_normalize(schema, {**required, name: value}, kind)

    check()


@FUZZ
@given(value=JSON | EDGES.map(lambda edge: f"{edge}.myshopify.com"))
def test_shop_parameter_raises_only_bad_request(value):
    with contextlib.suppress(BadRequest):
        require_shop(value)


def test_a_reference_image_that_breaks_url_parsing_is_an_input_error():
    with pytest.raises(PiInputError) as caught:
        normalize("image_generation", {"prompt": "x", "reference_images": ["https://a["]})
    assert caught.value.field == "reference_images[0]"


@pytest.fixture
def fuzz_client(app_config: dict, pisim):
    """Return a client of an app whose Pi is the simulator and whose waits are zero."""
    from connector import create_app

    app = create_app(
        {
            **app_config,
            "PI_BASE_URL": pisim.base_url,
            "CONNECTOR_ZAPIER_WAIT_SECONDS": 0,
            "CONNECTOR_MANYCHAT_WAIT_SECONDS": 0,
            # Thousands of examples from one account: its limits would answer most with 429.
            **NO_ACCOUNT_LIMITS,
        }
    )
    return app.test_client()


ENDPOINTS = {
    "/manychat/v1/brands/extract": ExtractInput,
    "/manychat/v1/images/generate": GenerateInput,
    "/zapier/v1/actions/extract_brand": zapier.ExtractBrandInput,
    "/zapier/v1/actions/generate_image": zapier.GenerationInput,
    "/zapier/v1/hooks": zapier.HookInput,
}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_arbitrary_bodies_never_cause_a_server_error(fuzz_client, path):
    @FUZZ
    @given(body=bodies(ENDPOINTS[path]))
    def check(body):
        response = fuzz_client.post(path, json=body, headers=AUTH)
        assert response.status_code < 500, (body, response.get_data(as_text=True))
        if response.status_code >= 400:
            assert set(response.get_json()["error"]) >= {"code", "message"}

    check()


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_arbitrary_bytes_never_cause_a_server_error(fuzz_client, path):
    @FUZZ
    @given(raw=st.binary(max_size=200))
    def check(raw):
        response = fuzz_client.post(
            path, data=raw, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code < 500, (raw, response.get_data(as_text=True))

    check()
