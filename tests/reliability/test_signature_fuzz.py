"""Property tests of every signature check: one changed byte always fails, stale messages fail.

Covers Shopify's webhook HMAC and OAuth query HMAC, App Bridge session tokens, and our own
Standard Webhooks signatures. Each property runs 300 examples, derandomized so CI is
deterministic; set PIC_FUZZ_EXAMPLES=N for a longer, randomized run (e.g. 5000).

Two edits keep the message the same and may verify, on purpose: a webhook-timestamp that
reads as the same integer ("01780000000"; the signature covers the integer, as in the
Standard Webhooks reference code) and whitespace around a header value (HTTP trims it; the
webhook-signature header is a space-separated list). Every other one-byte edit must fail.
Shopify does not sign a webhook's time, so only the OAuth query and session tokens have one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from connector.delivery import signing as webhook_signing
from connector.errors import ApiError
from shopify_app import verify
from shopify_app.settings import ShopifySettings
from tests.shopify_app.helpers import API_KEY, OLD_SECRET, SECRET, SHOP, session_token

_LONG_RUN = os.environ.get("PIC_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_LONG_RUN or 300),
    derandomize=not _LONG_RUN,
    deadline=None,  # a shared 2-core machine: timing is no property of a signature
    database=None,  # leave no .hypothesis directory behind
    suppress_health_check=[HealthCheck.too_slow],
)

SETTINGS = ShopifySettings(
    api_key=API_KEY,
    secrets=(SECRET, OLD_SECRET),
    scopes=("read_products",),
    api_version="2026-10",
    admin_url_template="https://{shop}",
    public_url="https://connector.test",
    pi_api_key="pi_test_fuzz",
)

# --- one-byte edits -----------------------------------------------------------------------


@st.composite
def edited_bytes(draw, original: bytes) -> bytes:
    """Return the bytes with exactly one byte replaced, inserted or removed."""
    edits = ["insert"] + (["replace", "delete"] if original else [])
    edit = draw(st.sampled_from(edits))
    if edit == "insert":
        at = draw(st.integers(0, len(original)))
        return original[:at] + bytes([draw(st.integers(0, 255))]) + original[at:]
    at = draw(st.integers(0, len(original) - 1))
    if edit == "delete":
        return original[:at] + original[at + 1 :]
    flip = draw(st.integers(1, 255))
    return original[:at] + bytes([original[at] ^ flip]) + original[at + 1 :]


CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"])


@st.composite
def edited_text(draw, original: str, alphabet=CHARS) -> str:
    """Return the text with exactly one character replaced, inserted or removed."""
    edits = ["insert"] + (["replace", "delete"] if original else [])
    edit = draw(st.sampled_from(edits))
    if edit == "delete":
        at = draw(st.integers(0, len(original) - 1))
        return original[:at] + original[at + 1 :]
    if edit == "insert":
        at = draw(st.integers(0, len(original)))
        return original[:at] + draw(alphabet) + original[at:]
    at = draw(st.integers(0, len(original) - 1))
    new = draw(alphabet.filter(lambda c: c != original[at]))
    return original[:at] + new + original[at + 1 :]


# --- Standard Webhooks (connector/webhook_signing.py) --------------------------------------

SECRETS = st.binary(min_size=1, max_size=64).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)
MSG_IDS = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)
NOW = 1_780_000_000
TOLERANCE = webhook_signing.DEFAULT_TOLERANCE


def _verifies(secret: str, headers: dict[str, str], body: bytes, now: int = NOW) -> bool:
    try:
        webhook_signing.verify(secret, headers, body, now=now)
    except webhook_signing.WebhookVerificationError:
        return False
    return True


def _same_message(name: str, original: str, edited: str) -> bool:
    """Return True when an edited header still says the same thing (so it may verify)."""
    if name == "webhook-signature":
        # A space-separated list: an end space adds an empty candidate and nothing else.
        return edited.strip(" ") == original
    if name == "webhook-timestamp":
        try:
            return int(edited) == int(original)  # "01780000000" is the same second
        except ValueError:
            return False
    return False


@FUZZ
@given(secret=SECRETS, msg_id=MSG_IDS, body=st.binary(max_size=512), data=st.data())
def test_standard_webhook_fails_after_any_one_byte_change(secret, msg_id, body, data):
    headers = webhook_signing.signed_headers(secret, msg_id, body, now=NOW)
    assert _verifies(secret, headers, body)
    assert not _verifies(secret, headers, data.draw(edited_bytes(body), "body"))
    name = data.draw(st.sampled_from(sorted(headers)), "header")
    value = data.draw(edited_text(headers[name]), "value")
    verified = _verifies(secret, {**headers, name: value}, body)
    assert verified == _same_message(name, headers[name], value)


@FUZZ
@given(
    secret=SECRETS,
    body=st.binary(max_size=256),
    skew=st.integers(TOLERANCE + 1, 10**9) | st.integers(-(10**9), -(TOLERANCE + 1)),
)
def test_standard_webhook_outside_the_tolerance_fails_even_when_signed(secret, body, skew):
    headers = webhook_signing.signed_headers(secret, "msg_1", body, now=NOW + skew)
    assert not _verifies(secret, headers, body)


@FUZZ
@given(secret=SECRETS, body=st.binary(max_size=256), skew=st.integers(-TOLERANCE, TOLERANCE))
def test_standard_webhook_inside_the_tolerance_verifies(secret, body, skew):
    headers = webhook_signing.signed_headers(secret, "msg_1", body, now=NOW + skew)
    assert _verifies(secret, headers, body)


@FUZZ
@given(secret=SECRETS, other=SECRETS, body=st.binary(max_size=256))
def test_standard_webhook_signed_with_another_secret_fails(secret, other, body):
    headers = webhook_signing.signed_headers(other, "msg_1", body, now=NOW)
    assert _verifies(secret, headers, body) == (
        webhook_signing.secret_key(secret) == webhook_signing.secret_key(other)
    )


# --- Shopify webhooks (X-Shopify-Hmac-SHA256 over the raw body) -----------------------------


@FUZZ
@given(body=st.binary(max_size=1024), old=st.booleans(), data=st.data())
def test_shopify_webhook_hmac_fails_after_any_one_byte_change(body, old, data):
    header = verify.webhook_signature(body, OLD_SECRET if old else SECRET)
    assert verify.webhook_hmac_valid(body, header, SETTINGS.secrets)
    assert not verify.webhook_hmac_valid(
        data.draw(edited_bytes(body), "body"), header, SETTINGS.secrets
    )
    edited = data.draw(edited_text(header), "header")
    # Surrounding whitespace is not part of a header value.
    assert verify.webhook_hmac_valid(body, edited, SETTINGS.secrets) == (edited.strip() == header)
    assert not verify.webhook_hmac_valid(body, header, ("shpss_someone_else",))


# --- Shopify OAuth query HMAC ---------------------------------------------------------------

# Shopify signs the sorted "k=v" pairs joined by "&"; these alphabets need no escaping.
PARAM_KEYS = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
    lambda k: k not in ("hmac", "timestamp")
)
PARAM_VALUES = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~:/+ ", min_size=0, max_size=40
)


def _signed(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {**params, "hmac": digest}


def _query_accepted(params: dict[str, str]) -> bool:
    try:
        verify.verify_oauth_query(MultiDict(params), SETTINGS)
    except ApiError as exc:
        assert exc.status in (400, 401)
        return False
    return True


@FUZZ
@given(
    extra=st.dictionaries(PARAM_KEYS, PARAM_VALUES, max_size=5),
    old=st.booleans(),
    data=st.data(),
)
def test_oauth_query_fails_after_any_one_character_change(extra, old, data):
    params = _signed(
        {"shop": SHOP, "timestamp": str(int(time.time())), **extra}, OLD_SECRET if old else SECRET
    )
    assert _query_accepted(params)
    name = data.draw(st.sampled_from(sorted(params)), "param")
    alphabet = st.sampled_from(string.ascii_letters + string.digits + "-_.~:/+ ")
    changed = data.draw(edited_text(params[name], alphabet), "value")
    assert not _query_accepted({**params, name: changed})
    dropped = data.draw(st.sampled_from(sorted(set(params) - {"hmac"})), "dropped")
    assert not _query_accepted({k: v for k, v in params.items() if k != dropped})


@FUZZ
@given(extra=st.dictionaries(PARAM_KEYS, PARAM_VALUES, max_size=3), age=st.integers(86_460, 10**8))
def test_oauth_query_older_than_a_day_fails_even_when_signed(extra, age):
    params = _signed({"shop": SHOP, "timestamp": str(int(time.time()) - age), **extra})
    with pytest.raises(ApiError) as refused:
        verify.verify_oauth_query(MultiDict(params), SETTINGS)
    assert refused.value.code == "stale_request"


# --- App Bridge session tokens (HS256 JWT) -------------------------------------------------

TOKEN_CHARS = st.sampled_from(string.ascii_letters + string.digits + "-_.=+/ ")


def _token_shop(token: str) -> str | None:
    try:
        return verify.session_shop(f"Bearer {token}", SETTINGS)
    except ApiError as exc:
        assert exc.status == 401
        return None


@FUZZ
@given(
    sub=st.text(alphabet=string.digits, min_size=1, max_size=12),
    old=st.booleans(),
    data=st.data(),
)
def test_session_token_fails_after_any_one_character_change(sub, old, data):
    token = session_token(secret=OLD_SECRET if old else SECRET, sub=sub)
    assert _token_shop(token) == SHOP
    assert _token_shop(data.draw(edited_text(token, TOKEN_CHARS), "token")) is None


# PyJWT allows 10 s of leeway on exp and nbf (App Bridge clocks drift); 15 s keeps a margin.
@FUZZ
@given(
    expired=st.integers(15, 10**8),
    early=st.integers(15, 10**8),
    secret=st.sampled_from([SECRET, OLD_SECRET]),
)
def test_session_token_outside_its_lifetime_fails(expired, early, secret):
    assert _token_shop(session_token(secret=secret, lifetime=-expired)) is None
    now = int(time.time())
    assert _token_shop(session_token(secret=secret, nbf=now + early)) is None


@FUZZ
@given(secret=st.text(min_size=32, max_size=64).filter(lambda s: s not in (SECRET, OLD_SECRET)))
def test_session_token_signed_with_another_secret_fails(secret):
    assert _token_shop(session_token(secret=secret)) is None
