"""Standard Webhooks signatures: known vector, round trip, tampering, tolerance, header forms."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from connector.delivery.signing import WebhookVerificationError, sign, signed_headers, verify

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"type":"job.completed","data":{"job_id":"j1"}}'
NOW = 1_700_000_000


def spec_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Compute a signature straight from the spec's formula."""
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_sign_matches_the_spec_formula():
    assert sign(SECRET, "msg_1", NOW, BODY) == spec_signature(KEY, "msg_1", NOW, BODY)


def test_sign_matches_the_published_standard_webhooks_vector():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_raw_secret_without_prefix_is_used_as_the_key_bytes():
    assert sign("plain-secret", "m", NOW, BODY) == spec_signature(b"plain-secret", "m", NOW, BODY)


def test_bad_base64_after_prefix_is_refused():
    with pytest.raises(ValueError, match="base64"):
        sign("whsec_not*base64", "m", NOW, BODY)


def test_signed_headers_round_trip():
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-timestamp"] == str(NOW)
    verify(SECRET, headers, BODY, now=NOW)


def test_signed_headers_default_to_the_current_time():
    import time

    headers = signed_headers(SECRET, "msg_1", BODY)
    assert abs(int(headers["webhook-timestamp"]) - int(time.time())) <= 2
    verify(SECRET, headers, BODY)


def test_header_names_are_matched_case_insensitively():
    headers = {k.title(): v for k, v in signed_headers(SECRET, "msg_1", BODY, now=NOW).items()}
    verify(SECRET, headers, BODY, now=NOW)


def _flip(text: str, index: int = -1) -> str:
    chars = list(text)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b[:-1] + b"!"), id="body"),
        pytest.param(lambda h, b: ({**h, "webhook-id": h["webhook-id"] + "x"}, b), id="id"),
        pytest.param(lambda h, b: ({**h, "webhook-timestamp": str(NOW + 1)}, b), id="timestamp"),
        pytest.param(
            lambda h, b: ({**h, "webhook-signature": _flip(h["webhook-signature"], 5)}, b),
            id="signature",
        ),
    ],
)
def test_one_changed_byte_fails(tamper):
    headers, body = tamper(signed_headers(SECRET, "msg_1", BODY, now=NOW), BODY)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, headers, body, now=NOW)


def test_wrong_secret_fails():
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW)
    other = "whsec_" + base64.b64encode(b"another key, same length, okay!!").decode()
    with pytest.raises(WebhookVerificationError):
        verify(other, headers, BODY, now=NOW)


@pytest.mark.parametrize(
    ("offset", "message"),
    [(-301, "too old"), (301, "future"), (-3600, "too old"), (3600, "future")],
)
def test_timestamps_outside_the_tolerance_fail(offset, message):
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW + offset)
    with pytest.raises(WebhookVerificationError, match=message):
        verify(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamps_at_the_edge_of_the_tolerance_pass(offset):
    verify(SECRET, signed_headers(SECRET, "msg_1", BODY, now=NOW + offset), BODY, now=NOW)


def test_tolerance_is_configurable():
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW - 20)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers, BODY, tolerance=10, now=NOW)


def test_one_valid_signature_among_several_passes():
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW)
    valid = headers["webhook-signature"]
    old = spec_signature(b"an old rotated key.............", "msg_1", NOW, BODY)
    headers["webhook-signature"] = f"v2,abc {old} {valid} v1,bm90LWEtc2ln"
    verify(SECRET, headers, BODY, now=NOW)


def test_only_invalid_signatures_fail():
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW)
    good = headers["webhook-signature"].partition(",")[2]
    headers["webhook-signature"] = f"v1a,{good} v2,{good} {good}"  # right value, wrong versions
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(missing):
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW)
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(SECRET, headers, BODY, now=NOW)


def test_non_integer_timestamp_fails():
    headers = {**signed_headers(SECRET, "msg_1", BODY, now=NOW), "webhook-timestamp": "soon"}
    with pytest.raises(WebhookVerificationError, match="integer"):
        verify(SECRET, headers, BODY, now=NOW)


def test_verification_error_is_a_value_error():
    assert issubclass(WebhookVerificationError, ValueError)
