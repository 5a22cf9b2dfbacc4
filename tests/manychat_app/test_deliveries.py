"""ManyChat push: the API calls, how answers are classified, retries, and the key at rest."""

from __future__ import annotations

import contextlib
import uuid
import zlib

import pytest
import requests
import responses
from responses import matchers
from rq import Queue
from rq.registry import ScheduledJobRegistry

from connector import create_app
from connector.auth import account_id_for
from connector.delivery.dispatch import deliver, delivery_state, fan_out
from connector.delivery.outcomes import DELIVERED, FAILED, RETRY, Target
from connector.delivery.subscriptions import DeliveryRef, Subscriber
from connector.ledger import JobRecord, get_ledger
from connector.runtime.queues import DELIVER, get_queue
from connector.worker import run_until_idle
from manychat_app.client import sanitize
from manychat_app.deliveries import PUSH_KIND, deliver_push, push_fields, push_subscriber
from tests.support.fake_manychat import SEND_FLOW, SET_FIELDS, VALID_KEY, FakeManyChat
from tests.support.settings import replace_settings

MC = "http://127.0.0.1:9"  # never contacted: `responses` answers at the transport
KEY = "pi_test_manychat_push_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
MC_KEY = "7654321:mc_push_key_fedcba9876543210"
SUBSCRIBER = "1234567890"


@pytest.fixture
def mc_app(app_config):
    return create_app({**app_config, "MANYCHAT_API_URL": MC, "CONNECTOR_DELIVERY_MAX_ATTEMPTS": 3})


@pytest.fixture
def manychat():
    """Fake ManyChat at the transport; an unregistered call fails the delivery."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def completed_record(*, brand: bool = True) -> JobRecord:
    brand_id = str(uuid.uuid4())
    return JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account_id_for(KEY),
        kind="brand_extraction",
        input={"url": "https://acme.com"},
        origin="manychat",
        status="completed",
        brand_id=brand_id,
        brand={
            "brand_id": brand_id,
            "brand_name": "Acme",
            "domain": "acme.com",
            "primary_hex": "#112233",
            "secondary_hex": "#445566",
            "logo_url": None,  # unknown: left out of the push
        }
        if brand
        else None,
    )


def target(flow_ns: str | None = "content20240101_1", secret: str | None = MC_KEY) -> Target:
    sub = push_subscriber(SUBSCRIBER, MC_KEY, flow_ns)
    return Target(DeliveryRef.to_subscriber(sub.id), PUSH_KIND, None, sub.data, secret)


def ok(manychat, path: str, body: dict | None = None, key: str = MC_KEY) -> None:
    match = [matchers.header_matcher({"Authorization": f"Bearer {key}"})]
    if body is not None:
        match.append(matchers.json_params_matcher(body))
    manychat.post(MC + path, json={"status": "success"}, match=match)


def test_push_sets_known_fields_in_one_call_then_sends_the_flow(mc_app, manychat):
    record = completed_record()
    ok(
        manychat,
        SET_FIELDS,
        {
            "subscriber_id": int(SUBSCRIBER),
            "fields": [
                {"field_name": "job_id", "field_value": record.job_id},
                {"field_name": "status", "field_value": "completed"},
                {"field_name": "brand_id", "field_value": record.brand_id},
                {"field_name": "brand_name", "field_value": "Acme"},
                {"field_name": "domain", "field_value": "acme.com"},
                {"field_name": "primary_hex", "field_value": "#112233"},
                {"field_name": "secondary_hex", "field_value": "#445566"},
            ],
        },
    )
    ok(manychat, SEND_FLOW, {"subscriber_id": int(SUBSCRIBER), "flow_ns": "content20240101_1"})
    with mc_app.app_context():
        outcome = deliver_push(record, target())
    assert outcome.result == DELIVERED
    assert [c.request.url for c in manychat.calls] == [MC + SET_FIELDS, MC + SEND_FLOW]


def test_push_without_flow_only_sets_fields(mc_app, manychat):
    ok(manychat, SET_FIELDS)
    with mc_app.app_context():
        assert deliver_push(completed_record(), target(flow_ns=None)).result == DELIVERED
    assert [c.request.url for c in manychat.calls] == [MC + SET_FIELDS]


def test_failed_job_pushes_job_id_and_status_only(mc_app, manychat):
    record = completed_record(brand=False)
    record.status, record.brand_id, record.error = "failed", None, "site down"
    assert push_fields(record) == [
        {"field_name": "job_id", "field_value": record.job_id},
        {"field_name": "status", "field_value": "failed"},
    ]


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(429, {"Retry-After": "30"}, 30.0), (500, {}, None), (502, {}, None), (503, {}, None)],
)
def test_transient_answers_are_retried_honouring_retry_after(
    mc_app, manychat, status, headers, retry_after
):
    manychat.post(MC + SET_FIELDS, status=status, headers=headers, json={"status": "error"})
    with mc_app.app_context():
        outcome = deliver_push(completed_record(), target())
    assert (outcome.result, outcome.retry_after) == (RETRY, retry_after)


@pytest.mark.parametrize("error", [requests.ConnectTimeout(), requests.ReadTimeout()])
def test_timeouts_are_retried(mc_app, manychat, error):
    manychat.post(MC + SET_FIELDS, body=error)
    with mc_app.app_context():
        assert deliver_push(completed_record(), target()).result == RETRY


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refusals_fail_with_a_sanitized_detail(mc_app, manychat, status):
    # A hostile or buggy answer echoing the key must not put it into the delivery record.
    message = f"Wrong token {MC_KEY}\n\x1b[31m" + "y" * 500
    manychat.post(MC + SET_FIELDS, status=status, json={"status": "error", "message": message})
    with mc_app.app_context():
        outcome = deliver_push(completed_record(), target())
    assert outcome.result == FAILED
    assert (
        MC_KEY not in outcome.detail and "\n" not in outcome.detail and "\x1b" not in outcome.detail
    )
    assert f"HTTP {status}" in outcome.detail and len(outcome.detail) <= 200


def test_status_error_in_a_200_body_fails(mc_app, manychat):
    manychat.post(
        MC + SET_FIELDS,
        json={"status": "error", "message": "Validation error", "details": {"fields": "bad"}},
    )
    with mc_app.app_context():
        outcome = deliver_push(completed_record(), target())
    assert outcome.result == FAILED and "Validation error" in outcome.detail


def test_a_200_without_manychats_envelope_is_retried(mc_app, manychat):
    manychat.post(MC + SET_FIELDS, body="<html>maintenance</html>")
    with mc_app.app_context():
        assert deliver_push(completed_record(), target()).result == RETRY


def test_retry_after_send_flow_failed_does_not_set_fields_again(mc_app, manychat):
    record = completed_record()
    ok(manychat, SET_FIELDS)
    manychat.post(MC + SEND_FLOW, status=500, json={"status": "error"})
    with mc_app.app_context():
        get_ledger().create(record)
        first = deliver_push(record, target())
        manychat.replace(responses.POST, MC + SEND_FLOW, json={"status": "success"})
        second = deliver_push(record, target())
    assert (first.result, second.result) == (RETRY, DELIVERED)
    assert "sendFlow" in first.detail
    assert [c.request.url for c in manychat.calls] == [
        MC + SET_FIELDS,
        MC + SEND_FLOW,
        MC + SEND_FLOW,
    ]


def test_a_missing_key_fails_without_calling_manychat(mc_app, manychat):
    with mc_app.app_context():
        assert deliver_push(completed_record(), target(secret=None)).result == FAILED
    assert len(manychat.calls) == 0


def test_sanitize_removes_the_secret_and_control_characters():
    assert sanitize(f"bad {MC_KEY}\r\n end", MC_KEY) == "bad [redacted] end"


def _subscribe(app, record: JobRecord) -> str:
    """Store the record as finished with a push subscriber; return the delivery ref."""
    sub = push_subscriber(SUBSCRIBER, MC_KEY, "content20240101_1")
    with app.app_context():
        ledger = get_ledger()
        ledger.create(record)
        pipe = ledger.redis.pipeline()
        app.extensions["subscriptions"].add(pipe, record.account_id, record.job_id, sub)
        pipe.execute()
    return f"sub:{sub.id}"


@pytest.fixture
def scheduled_delays(monkeypatch) -> list[float]:
    """Record the delay of every retry the delivery task schedules."""
    delays: list[float] = []
    original = Queue.enqueue_in

    def spy(self, time_delta, *args, **kwargs):
        delays.append(time_delta.total_seconds())
        return original(self, time_delta, *args, **kwargs)

    monkeypatch.setattr(Queue, "enqueue_in", spy)
    return delays


def test_manychat_500_is_retried_with_backoff_up_to_the_limit_then_failed(
    mc_app, manychat, scheduled_delays
):
    record = completed_record()
    ref = _subscribe(mc_app, record)
    manychat.post(MC + SET_FIELDS, status=500, json={"status": "error"})
    args = (record.account_id, record.job_id, ref, 1)
    with mc_app.app_context():
        queue = get_queue(mc_app.extensions["store"], DELIVER)
        registry = ScheduledJobRegistry(queue=queue)
        subs = mc_app.extensions["subscriptions"]
        for attempt in (1, 2):
            assert deliver(*args) == RETRY
            assert delivery_state(*args[:3])["state"] == "retrying"
            [job_id] = registry.get_job_ids()
            job = queue.fetch_job(job_id)
            registry.remove(job)
            assert job.args == (record.account_id, record.job_id, ref, attempt + 1)
            args = job.args  # run the retry the scheduler would run
            assert subs.get(record.account_id, record.job_id, ref[4:]).secret == MC_KEY
        assert deliver(*args) == FAILED  # attempt 3 of 3
        state = delivery_state(*args[:3])
        assert registry.get_job_ids() == []
        # Kept (encrypted, within retention) so an operator can redeliver once fixed.
        assert subs.get(record.account_id, record.job_id, ref[4:]).secret == MC_KEY
    assert state["state"] == "failed" and state["attempts"] == "3"
    assert "HTTP 500" in state["detail"]
    assert len(scheduled_delays) == 2
    assert 1 <= scheduled_delays[0] <= 2 and 2 <= scheduled_delays[1] <= 4  # jittered doubling
    assert len(manychat.calls) == 3


def test_manychat_429_retry_is_scheduled_after_its_retry_after(mc_app, manychat, scheduled_delays):
    record = completed_record()
    ref = _subscribe(mc_app, record)
    manychat.post(MC + SET_FIELDS, status=429, headers={"Retry-After": "45"}, json={})
    with mc_app.app_context():
        assert deliver(record.account_id, record.job_id, ref, 1) == RETRY
    assert scheduled_delays == [45.0]


def _plaintext_hits(redis, secret: str) -> list[str]:
    """Return the keys whose content (RQ payloads decompressed) holds the secret in clear."""
    needle = secret.encode()
    hits = []
    for key in redis.scan_iter("*"):
        kind = redis.type(key).decode()
        if kind == "string":
            values = [redis.get(key)]
        elif kind == "hash":
            values = [*redis.hkeys(key), *redis.hvals(key)]
        elif kind in ("list",):
            values = redis.lrange(key, 0, -1)
        elif kind == "set":
            values = list(redis.smembers(key))
        elif kind == "zset":
            values = redis.zrange(key, 0, -1)
        else:
            values = []
        for value in [key, *values]:
            blobs = [value]
            with contextlib.suppress(zlib.error):
                blobs.append(zlib.decompress(value))
            if any(needle in blob for blob in blobs):
                hits.append(key.decode())
    return hits


def test_key_is_stored_encrypted_and_dropped_after_delivery(app_config, pisim):
    with FakeManyChat() as fake:
        app = create_app(
            {**app_config, "PI_BASE_URL": pisim.base_url, "MANYCHAT_API_URL": fake.url}
        )
        client = app.test_client()
        body = {
            "url": "https://pushed.example",
            "subscriber_id": "42",
            "manychat_api_key": VALID_KEY,
            "flow_ns": "content_flow_1",
        }
        # Answer at once so the worker, not the request, sees the job end.
        replace_settings(app, manychat_wait_seconds=0)
        job_id = client.post("/manychat/v1/brands/extract", json=body, headers=AUTH).get_json()[
            "job_id"
        ]
        with app.app_context():
            redis = get_ledger().redis
            secret_key = get_ledger().account_key(account_id_for(KEY), "job", job_id, "subsec")
            [token] = redis.hvals(secret_key)
            assert app.extensions["secrets"].decrypt(token) == VALID_KEY
            assert _plaintext_hits(redis, VALID_KEY) == []
            assert _plaintext_hits(redis, KEY) == []

        run_until_idle(app)

        [fields_call] = fake.calls_to(SET_FIELDS, 42)
        [flow_call] = fake.calls_to(SEND_FLOW, 42)
        assert fields_call.fields()["job_id"] == job_id
        assert fields_call.fields()["status"] == "completed"
        assert flow_call.body == {"subscriber_id": 42, "flow_ns": "content_flow_1"}
        with app.app_context():
            assert redis.hlen(secret_key) == 0
            assert _plaintext_hits(redis, VALID_KEY) == []


def test_subscriber_id_is_stable_so_a_double_tap_pushes_once():
    a = push_subscriber("42", MC_KEY, "flow")
    b = push_subscriber("42", "another-key-0123", "flow")
    assert a.id == b.id and isinstance(a, Subscriber)
    assert "secret" not in a.to_json() and MC_KEY not in a.to_json()


def test_stored_key_survives_a_secret_key_rotation(app_config, mc_app, manychat):
    from cryptography.fernet import Fernet

    from connector.runtime.secrets import rotate_all

    record = completed_record()
    ref = _subscribe(mc_app, record)  # encrypted under the test key
    new_key = Fernet.generate_key().decode()
    old_key = app_config["CONNECTOR_SECRET_KEY"]
    rotating = create_app({**app_config, "CONNECTOR_SECRET_KEY": f"{new_key},{old_key}"})
    with rotating.app_context():
        assert rotate_all() >= 1
    # The old key can be retired: the push still reads the ManyChat key.
    only_new = create_app({**app_config, "CONNECTOR_SECRET_KEY": new_key, "MANYCHAT_API_URL": MC})
    ok(manychat, SET_FIELDS)
    ok(manychat, SEND_FLOW)
    with only_new.app_context():
        assert deliver(record.account_id, record.job_id, ref, 1) == DELIVERED
    assert manychat.calls[0].request.headers["Authorization"] == f"Bearer {MC_KEY}"


def test_push_added_while_the_job_finishes_is_still_delivered(mc_app, monkeypatch):
    """A double tap with push settings races the tracker finishing the job: no push is lost."""
    from connector.delivery.subscriptions import Subscriptions

    client = mc_app.test_client()
    record = completed_record()
    record.status = "queued"
    finished = dict(record.__dict__, status="completed")
    with mc_app.app_context():
        get_ledger().create(record)
        idem = mc_app.extensions["idempotency"]
        # The first tap's claim, as submit_job leaves it (derived key: the brand's domain).
        claim = idem.claim(
            record.account_id, "brand_extraction", {}, explicit=None, basis="acme.com"
        )
        pipe = get_ledger().redis.pipeline()
        idem.bind(pipe, claim, record.job_id)
        pipe.execute()
    original_add = Subscriptions.add

    def add_after_tracker_finished(self, pipe, account_id, job_id, subscriber):
        # The tracker ends the job and fans out just before our subscriber is stored.
        done = JobRecord(**finished)
        if get_ledger().finish(done):
            fan_out(done)
        original_add(self, pipe, account_id, job_id, subscriber)

    monkeypatch.setattr(Subscriptions, "add", add_after_tracker_finished)
    body = {"url": "https://acme.com", "subscriber_id": SUBSCRIBER, "manychat_api_key": MC_KEY}
    replace_settings(mc_app, manychat_wait_seconds=0)
    response = client.post("/manychat/v1/brands/extract", json=body, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    with mc_app.app_context():
        queue = get_queue(mc_app.extensions["store"], DELIVER)
        refs = [job.args[2] for job in queue.get_jobs()]
    assert refs == [f"sub:{push_subscriber(SUBSCRIBER, MC_KEY, None).id}"]
