"""Exactly-once submission against a real simulator and a private Redis."""

import threading
import time
import uuid

import pytest

from connector import create_app
from connector.auth import Account, account_id_for
from connector.errors import AccountLimited, IdempotencyMismatch
from connector.jobs.submission import submit_job
from connector.ledger import get_ledger
from connector.pi import PiInputError, PiRateLimited, PiTimeout
from tests.support.settings import replace_settings

KEY = "pi_test_submission_key"
ACCOUNT = Account(account_id_for(KEY), KEY)


def submit(app, url="https://acme.example", **kw):
    with app.app_context():
        return submit_job(ACCOUNT, "brand_extraction", {"url": url}, origin="api", **kw)


def test_same_domain_twice_is_one_pi_job(sim_app, pisim):
    first = submit(sim_app, "https://Acme.example/about")
    second = submit(sim_app, "https://www.acme.example/")
    assert first.created and not second.created
    assert first.record.job_id == second.record.job_id
    assert pisim.count("POST /api/v1/brands/extract") == 1


def test_fifty_concurrent_identical_submissions_create_one_pi_job(sim_app, pisim):
    results, errors = [], []
    barrier = threading.Barrier(50)

    def run():
        barrier.wait()
        try:
            results.append(submit(sim_app).record.job_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert pisim.count("POST /api/v1/brands/extract") == 1


def test_same_idempotency_key_with_different_body_is_refused(sim_app):
    key = str(uuid.uuid4())
    submit(sim_app, "https://acme.example", idempotency_key=key)
    with pytest.raises(IdempotencyMismatch, match="different request body"):
        submit(sim_app, "https://other.example", idempotency_key=key)


def test_failed_job_is_not_reused_by_the_derived_key(sim_app, pisim):
    first = submit(sim_app, "https://fail.example")
    with sim_app.app_context():
        from connector.jobs.waiting import wait_in_worker

        assert wait_in_worker(ACCOUNT.account_id, first.record.job_id).status == "failed"
    second = submit(sim_app, "https://fail.example")
    assert second.created and second.record.job_id != first.record.job_id
    assert pisim.count("POST /api/v1/brands/extract") == 2


def test_invalid_input_sends_nothing_and_records_nothing(sim_app, pisim):
    with pytest.raises(PiInputError):
        submit(sim_app, "ftp://acme.example")
    assert pisim.count("POST /api/v1/brands/extract") == 0
    with sim_app.app_context():
        assert get_ledger().list_jobs(ACCOUNT.account_id) == []


def test_pi_failure_during_submission_records_nothing_and_frees_the_key(sim_app, pisim):
    from connector.pi import PiError

    pisim.configure(fail_next=[{"status": 500, "route": "POST /api/v1/brands/extract", "count": 1}])
    with pytest.raises(PiError):
        submit(sim_app)
    with sim_app.app_context():
        assert get_ledger().list_jobs(ACCOUNT.account_id) == []
    assert submit(sim_app).created


def test_api_key_is_stored_only_encrypted(sim_app, redis_client):
    submit(sim_app)
    dump = b"".join(
        str(
            redis_client.hgetall(k) if redis_client.type(k) == b"hash" else redis_client.dump(k)
        ).encode()
        for k in redis_client.scan_iter()
    )
    assert KEY.encode() not in dump


def test_worker_waiter_records_the_brand(sim_app, pisim):
    submission = submit(sim_app, "https://secs2.example")
    with sim_app.app_context():
        from connector.jobs.waiting import wait_in_worker

        record = wait_in_worker(ACCOUNT.account_id, submission.record.job_id)
    assert record.status == "completed"
    assert record.brand_id
    fields = record.brand_fields()
    assert fields["brand_name"] and fields["primary_hex"]


def test_creates_beyond_the_gate_wait_and_a_full_gate_times_out_cleanly(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url,
                      "CONNECTOR_PI_CREATE_CONCURRENCY": 1})  # fmt: skip
    gate = app.extensions["pi_clients"].create_gate
    assert gate.acquire("another-account", 1)  # another create holds the only slot
    try:
        with app.app_context(), pytest.raises(PiTimeout):
            submit_job(ACCOUNT, "brand_extraction", {"url": "https://gated.example"},
                       origin="api", deadline=time.monotonic() + 0.2)  # fmt: skip
    finally:
        gate.release()
    assert pisim.count("POST /api/v1/brands/extract") == 0
    # Nothing was half-written: the same request goes through once a slot is free.
    assert submit(app, "https://gated.example").created
    assert pisim.count("POST /api/v1/brands/extract") == 1


def test_a_submission_the_replicas_lack_is_a_503_and_its_retry_replays_the_one_pi_job(
    app_config, pisim, redis_client
):
    # The private Redis has no replica: every WAIT falls short, as during a failover.
    strict = create_app(
        {
            **app_config,
            "PI_BASE_URL": pisim.base_url,
            "CONNECTOR_REDIS_MIN_REPLICAS": 1,
            "CONNECTOR_REDIS_REPLICA_TIMEOUT_MS": 20,
        }
    )
    body = {"kind": "brand_extraction", "input": {"url": "https://replicas-behind.example"}}
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": str(uuid.uuid4())}
    first = strict.test_client().post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == 503
    assert first.get_json()["error"]["code"] == "redis_unavailable"
    assert int(first.headers["Retry-After"]) > 0
    # Nothing half-written: the job, its sealed key, its binding and its in-flight entry.
    [job] = pisim.jobs()
    with strict.app_context():
        ledger = get_ledger()
        record = ledger.get(ACCOUNT.account_id, job["id"])
        assert record is not None
        assert redis_client.hget(ledger.job_key(ACCOUNT.account_id, job["id"]), "api_key")
        assert any(job["id"] in "|".join(pair) for pair in ledger.inflight(limit=10))
    again = strict.test_client().post("/v1/jobs", json=body, headers=headers)
    assert again.status_code == 503  # the replay is an acknowledgement too
    relaxed = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    replay = relaxed.test_client().post("/v1/jobs", json=body, headers=headers)
    assert replay.status_code in (200, 202), replay.text
    assert replay.get_json()["job_id"] == job["id"]
    assert pisim.count("POST /api/v1/brands/extract") == 1


def test_a_job_pi_created_is_recorded_even_when_the_first_write_meets_a_redis_blip(
    sim_app, pisim, monkeypatch
):
    import redis

    real_execute = redis.client.Pipeline.execute
    failures = {"left": 2}

    def flaky_execute(self, *args, **kwargs):
        # The transaction that records the job: the first two tries meet a failover.
        if self.transaction and failures["left"] and self.command_stack:
            failures["left"] -= 1
            self.reset()
            raise redis.ConnectionError("primary went away")
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", flaky_execute)
    submission = submit(sim_app, "https://blip.example")
    monkeypatch.setattr(redis.client.Pipeline, "execute", real_execute)

    assert submission.created and failures["left"] == 0
    with sim_app.app_context():
        assert get_ledger().get(ACCOUNT.account_id, submission.record.job_id) is not None
    # A retry of the same request finds the job: Pi made exactly one.
    assert submit(sim_app, "https://blip.example").record.job_id == submission.record.job_id
    assert pisim.count("POST /api/v1/brands/extract") == 1


# -- per-account limits ----------------------------------------------------------------------


def test_a_replay_is_never_counted_nor_refused_by_the_account_limits(sim_app, pisim):
    replace_settings(sim_app, account_submit_rate=0.01, account_submit_burst=1)
    first = submit(sim_app, "https://limits-replay.example")
    with pytest.raises(AccountLimited):  # the one token is spent: a new job is refused
        submit(sim_app, "https://limits-other.example")
    again = submit(sim_app, "https://limits-replay.example")  # the same job: answered
    assert not again.created and again.record.job_id == first.record.job_id
    assert pisim.count("POST /api/v1/brands/extract") == 1


def test_a_refused_submission_frees_its_key_and_records_nothing(sim_app, pisim):
    replace_settings(sim_app, account_submit_rate=0.01, account_submit_burst=1)
    submit(sim_app, "https://limits-first.example")
    with pytest.raises(AccountLimited) as refused:
        submit(sim_app, "https://limits-later.example")
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) >= 1
    replace_settings(sim_app, account_submit_rate=0)  # the limit lifted: the retry goes through
    later = submit(sim_app, "https://limits-later.example")
    assert later.created
    assert pisim.count("POST /api/v1/brands/extract") == 2


def test_over_the_in_flight_limit_until_a_job_ends(sim_app, pisim):
    replace_settings(sim_app, account_submit_rate=0, account_max_in_flight=1)
    first = submit(sim_app, "https://limits-busy.example")
    with pytest.raises(AccountLimited, match="too many jobs"):
        submit(sim_app, "https://limits-waiting.example")
    with sim_app.app_context():
        from connector.jobs.waiting import wait_in_worker

        assert wait_in_worker(ACCOUNT.account_id, first.record.job_id).is_terminal
    assert submit(sim_app, "https://limits-waiting.example").created


def test_pi_429_on_create_holds_only_that_accounts_next_creates(sim_app, pisim):
    pisim.configure(
        retry_after=3, fail_next={"route": "POST /api/v1/brands/extract", "status": 429}
    )
    with pytest.raises(PiRateLimited):
        submit(sim_app, "https://limits-pi429.example")
    with pytest.raises(AccountLimited) as held:  # not sent to Pi: the account cools down
        submit(sim_app, "https://limits-pi429-next.example")
    assert held.value.code == "pi_rate_limited" and held.value.headers["Retry-After"] in "123"
    other = Account(account_id_for("pi_test_other_account_key"), "pi_test_other_account_key")
    with sim_app.app_context():
        assert submit_job(other, "brand_extraction", {"url": "https://b.example"}, origin="api")
    assert pisim.count("POST /api/v1/brands/extract") == 2  # A's refused one, B's


def test_a_create_slot_granted_past_the_deadline_is_a_timeout_not_an_internal_error(sim_app, pisim):
    # Under a heavy burst a slot can come free just as the request's budget runs out.
    with sim_app.app_context(), pytest.raises(PiTimeout):
        submit_job(ACCOUNT, "brand_extraction", {"url": "https://late-slot.example"},
                   origin="api", deadline=time.monotonic() - 0.1)  # fmt: skip
    assert pisim.count("POST /api/v1/brands/extract") == 0
    assert submit(sim_app, "https://late-slot.example").created  # nothing left behind


def test_submissions_take_turns_and_one_that_never_gets_its_turn_is_told_to_slow_down(
    app_config, pisim
):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url,
                      "CONNECTOR_PI_CREATE_CONCURRENCY": 1})  # fmt: skip
    gate = app.extensions["pi_clients"].submit_gate  # 2 turns per create slot
    assert gate.acquire(ACCOUNT.account_id, 1) and gate.acquire(ACCOUNT.account_id, 1)
    try:
        with app.app_context(), pytest.raises(AccountLimited) as busy:
            submit_job(ACCOUNT, "brand_extraction", {"url": "https://turns.example"},
                       origin="api", deadline=time.monotonic() + 0.2)  # fmt: skip
    finally:
        gate.release()
        gate.release()
    assert busy.value.status == 429 and busy.value.code == "busy"
    assert busy.value.headers["Retry-After"] == "1"
    assert pisim.count("POST /api/v1/brands/extract") == 0
    assert submit(app, "https://turns.example").created  # nothing was claimed meanwhile
