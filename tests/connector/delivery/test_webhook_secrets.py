"""Per-account webhook secrets: each account's callbacks verify only with its own secret.

Deliveries are checked with the `standardwebhooks` library, not with the project's own
signing code, so the signatures are what any Standard Webhooks receiver accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connector import create_app
from connector.auth import account_id_for
from connector.delivery.dispatch import deliver, fan_out
from connector.delivery.outcomes import Target
from connector.delivery.subscriptions import DeliveryRef, Subscriber
from connector.delivery.webhook_secrets import previous_valid_until
from connector.ledger import JobRecord, JobStatus, get_ledger
from connector.web.api_v1 import deliver_webhook
from tests.support.jobs import stored_job
from tests.support.receiver import Receiver

KEY_A = "pi_test_webhook_secret_account_a"
KEY_B = "pi_test_webhook_secret_account_b"


def _deliver(app, api_key: str, receiver: Receiver):
    """Deliver one finished job of the account to the receiver; return what arrived."""
    record = JobRecord(job_id="4b0c7a9e-8f1e-4a2b-9c3d-5e6f7a8b9c0d",
                       account_id=account_id_for(api_key), kind="brand_extraction",
                       input={"url": "https://acme.example"}, origin="api",
                       status=JobStatus.COMPLETED, brand_id="b-1")  # fmt: skip
    target = Target(DeliveryRef.to_subscriber("s1"), "webhook", receiver.url + "/cb", {})
    before = len(receiver.requests)
    with app.app_context():
        assert deliver_webhook(record, target).result == "delivered"
    return receiver.wait_for(before + 1)[-1]


def _secrets(app, api_key: str):
    with app.app_context():
        return app.extensions["webhook_secrets"].secrets(account_id_for(api_key))


def _rotate(app, api_key: str):
    with app.app_context():
        return app.extensions["webhook_secrets"].rotate(account_id_for(api_key))


def test_a_delivery_verifies_with_its_account_secret_and_not_another(app, receiver):
    got = _deliver(app, KEY_A, receiver)
    a, b = _secrets(app, KEY_A).current, _secrets(app, KEY_B).current
    assert a != b and a.startswith("whsec_")
    assert Webhook(a).verify(got.body, got.headers)["data"]["brand_id"] == "b-1"
    with pytest.raises(WebhookVerificationError):
        Webhook(b).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):  # nor with the server's own key
        Webhook(app.config["CONNECTOR_WEBHOOK_SECRET"]).verify(got.body, got.headers)


def test_a_signature_forged_with_another_accounts_secret_is_refused(app, receiver):
    got = _deliver(app, KEY_A, receiver)
    b = Webhook(_secrets(app, KEY_B).current)
    msg_id, stamp = got.headers["webhook-id"], got.headers["webhook-timestamp"]
    forged = b.sign(msg_id, _as_datetime(int(stamp)), got.body.decode())
    headers = {**got.headers, "webhook-signature": forged}
    with pytest.raises(WebhookVerificationError):
        Webhook(_secrets(app, KEY_A).current).verify(got.body, headers)


def test_a_replayed_delivery_with_an_old_timestamp_is_refused(app, receiver):
    got = _deliver(app, KEY_A, receiver)
    secret = _secrets(app, KEY_A).current
    old = int(time.time()) - 3600
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{old}.".encode() + got.body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {**got.headers, "webhook-timestamp": str(old), "webhook-signature": f"v1,{signature}"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body, headers)


def test_after_a_rotation_both_secrets_verify_until_the_grace_ends(app, receiver):
    old = _secrets(app, KEY_A).current
    rotated = _rotate(app, KEY_A)
    assert rotated.current != old and rotated.previous == old and rotated.generation == 1
    got = _deliver(app, KEY_A, receiver)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(rotated.current).verify(got.body, got.headers)


def test_rotating_twice_in_a_row_drops_the_oldest_secret(app, receiver):
    first = _secrets(app, KEY_A).current
    second = _rotate(app, KEY_A).current
    third = _rotate(app, KEY_A)
    assert third.previous == second
    got = _deliver(app, KEY_A, receiver)
    Webhook(second).verify(got.body, got.headers)
    Webhook(third.current).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(got.body, got.headers)


def test_once_the_grace_ends_only_the_new_secret_signs(app_config, receiver):
    app = create_app({**app_config, "CONNECTOR_WEBHOOK_ROTATION_GRACE_SECONDS": 0.5})
    old = _secrets(app, KEY_A).current
    new = _rotate(app, KEY_A).current
    time.sleep(0.6)
    got = _deliver(app, KEY_A, receiver)
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)


def _dispatched(app, api_key: str, receiver: Receiver, job_id: str):
    """End a job with a /v1 callback and let dispatch make its first attempt; return it."""
    callback = Subscriber("webhook", receiver.url + f"/cb/{job_id}")
    record = stored_job(app, account_id_for(api_key), job_id, callback)
    before = len(receiver.requests)
    with app.app_context():
        record.status, record.brand_id = JobStatus.COMPLETED, "b-1"
        get_ledger().finish(record, leave_inflight=False)
        assert fan_out(record) == 1
    return receiver.wait_for(before + 1)[-1]


def test_a_rotated_secret_signs_the_very_next_dispatched_delivery(app, first_attempts, receiver):
    # Dispatch reads the secrets with the target: nothing may keep the old ones past a rotation.
    old = _secrets(app, KEY_A).current
    got = _dispatched(app, KEY_A, receiver, _job_id(1))
    Webhook(old).verify(got.body, got.headers)
    new = _rotate(app, KEY_A).current
    got = _dispatched(app, KEY_A, receiver, _job_id(2))
    Webhook(new).verify(got.body, got.headers)
    Webhook(old).verify(got.body, got.headers)  # still inside the grace
    newest = _rotate(app, KEY_A).current
    got = _dispatched(app, KEY_A, receiver, _job_id(3))
    Webhook(newest).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)


def test_a_queued_retry_signs_with_the_secret_rotated_since_the_first_attempt(app, receiver):
    # The RQ task reads the target (and so the secrets) again for every attempt.
    record = JobRecord(job_id=_job_id(4), account_id=account_id_for(KEY_A),
                       kind="brand_extraction", input={}, origin="api")  # fmt: skip
    callback = Subscriber("webhook", receiver.url + "/cb/retry")
    stored_job(app, record.account_id, record.job_id, callback)
    with app.app_context():
        record.status, record.brand_id = JobStatus.COMPLETED, "b-1"
        get_ledger().finish(record, leave_inflight=False)
    new = _rotate(app, KEY_A).current
    with app.app_context():
        assert deliver(record.account_id, record.job_id, f"sub:{callback.id}") == "delivered"
    got = receiver.wait_for(1)[-1]
    Webhook(new).verify(got.body, got.headers)


def _job_id(n: int) -> str:
    return f"4b0c7a9e-8f1e-4a2b-9c3d-5e6f7a8b9c{n:02d}"


def test_the_previous_secret_is_valid_only_inside_the_grace():
    assert previous_valid_until(None, 60, now=100) is None
    assert previous_valid_until(100, 60, now=130) == 160
    assert previous_valid_until(100, 60, now=160) is None


def _as_datetime(stamp: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC)
