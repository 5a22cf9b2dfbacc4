"""The ledger: records, per-account indexes newest first, terminal transitions, erasure."""

import time
import uuid

import pytest

from connector.ledger import JobKind, JobRecord, JobStatus, Ledger
from connector.runtime.redis_store import RedisStore


@pytest.fixture
def ledger(redis_url):
    return Ledger(RedisStore(redis_url, "t:"), retention_days=1)


def make(account="acct-a", kind="brand_extraction", status="queued", created=None, **kw):
    return JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account,
        kind=kind,
        input={"url": "https://acme.example"},
        origin="api",
        status=status,
        created_at=created or time.time(),
        **kw,
    )


def test_record_round_trips_and_view_has_iso_timestamps(ledger):
    record = make()
    ledger.create(record)
    loaded = ledger.get("acct-a", record.job_id)
    assert loaded.job_id == record.job_id and loaded.input == record.input
    view = loaded.view()
    assert set(view) == {
        "job_id",
        "kind",
        "status",
        "brand_id",
        "image_url",
        "brand",
        "error",
        "created_at",
        "updated_at",
    }
    assert view["created_at"].endswith("Z")
    assert set(view["brand"]) == {
        "brand_id",
        "brand_name",
        "domain",
        "primary_hex",
        "secondary_hex",
        "logo_url",
    }


def test_another_account_cannot_read_the_record(ledger):
    record = make()
    ledger.create(record)
    assert ledger.get("acct-b", record.job_id) is None


def test_jobs_are_listed_newest_first_with_a_limit(ledger):
    records = [make(created=time.time() - 100 + i) for i in range(5)]
    for record in records:
        ledger.create(record)
    listed = ledger.list_jobs("acct-a", limit=3)
    assert [r.job_id for r in listed] == [r.job_id for r in reversed(records)][:3]


def test_finish_transitions_once_and_ignores_later_progress(ledger):
    record = make()
    ledger.create(record)
    record.status, record.brand_id = "completed", str(uuid.uuid4())
    assert ledger.finish(record) is True
    assert ledger.finish(record) is False
    assert ledger.update_progress("acct-a", record.job_id, "processing", "phase_a") is False
    assert ledger.get("acct-a", record.job_id).status == "completed"
    assert [r.job_id for r in ledger.list_jobs("acct-a", finished=True)] == [record.job_id]


def _end_state(ledger, record):
    """Return what a stored end left in Redis, apart from times."""
    stored = ledger.get("acct-a", record.job_id)
    return {
        "status": stored.status,
        "brand_id": stored.brand_id,
        "api_key": ledger.get_field("acct-a", record.job_id, "api_key"),
        "finished": [r.job_id for r in ledger.list_jobs("acct-a", finished=True)],
        "brands": [r.job_id for r in ledger.list_brands("acct-a")],
        "history": ledger.redis.llen(ledger.history_key("acct-a", record.job_id)),
        "by_brand": ledger.redis.zcard(ledger.index_key("brand", record.brand_id)),
    }


def test_a_job_end_is_stored_and_announced_in_one_round_trip(ledger):
    from tests.support.round_trips import counting

    warm_up, record = make(), make()
    for each in (warm_up, record):
        ledger.create(each, extra={"api_key": "ciphertext"})
    listener = ledger.redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(ledger.ended_channel())
    warm_up.status = "failed"
    ledger.finish(warm_up)  # loads the script and opens the connection
    record.status, record.brand_id = "completed", str(uuid.uuid4())
    with counting() as trips:
        assert ledger.finish(record, leave_inflight=False) is True
    assert trips.count == 1  # a guard check and a transaction used to take two
    deadline, announced = time.monotonic() + 2, []
    while len(announced) < 2 and time.monotonic() < deadline:  # the warm-up's end comes first
        message = listener.get_message(timeout=0.5)
        if message:
            announced.append(message["data"].decode())
    listener.close()
    assert announced == [f"acct-a|{warm_up.job_id}", f"acct-a|{record.job_id}"]
    assert _end_state(ledger, record) == {
        "status": "completed",
        "brand_id": record.brand_id,
        "api_key": None,
        "finished": [record.job_id, warm_up.job_id],
        "brands": [record.job_id],
        "history": 2,
        "by_brand": 1,
    }
    assert ledger.finish(record) is False  # the end is stored once


def test_an_end_that_cannot_be_sent_as_text_is_stored_in_two_steps_alike(ledger, monkeypatch):
    import connector.ledger.redis_ledger as redis_ledger

    staged, unstaged = make(), make()
    for record in (staged, unstaged):
        ledger.create(record, extra={"api_key": "ciphertext"})
        record.status, record.brand_id = "completed", str(uuid.uuid4())
    assert ledger.finish(staged) is True
    monkeypatch.setattr(redis_ledger, "staged_json", lambda pipe: None)
    assert ledger.finish(unstaged) is True
    assert ledger.finish(unstaged) is False
    first, second = _end_state(ledger, staged), _end_state(ledger, unstaged)
    assert first["finished"] == second["finished"] == [unstaged.job_id, staged.job_id]
    for state in (first, second):
        del state["brand_id"], state["finished"]
    assert first == second


def test_a_job_let_go_leaves_the_in_flight_set_and_its_tracker_lease_in_one_round_trip(ledger):
    from tests.support.round_trips import counting

    record = make()
    ledger.create(record)
    member = f"acct-a|{record.job_id}"
    ledger.redis.zadd(ledger.tracker_key("leases"), {member: time.time() + 30})
    ledger.redis.hset(ledger.tracker_key("owners"), member, "host:1:abc")
    with counting() as trips:
        ledger.leave_inflight(record)
    assert trips.count == 1
    assert ledger.redis.zscore(ledger.inflight_key(), member) is None
    assert ledger.redis.zscore(ledger.tracker_key("leases"), member) is None
    assert ledger.redis.hget(ledger.tracker_key("owners"), member) is None


def test_brands_index_keeps_one_entry_per_brand_newest_first(ledger):
    brand = str(uuid.uuid4())
    first, second, other = make(), make(), make()
    for r, b in ((first, brand), (other, str(uuid.uuid4())), (second, brand)):
        ledger.create(r)
        r.status, r.brand_id = "completed", b
        ledger.finish(r)
        time.sleep(0.01)
    listed = ledger.list_brands("acct-a", limit=10)
    assert [r.job_id for r in listed] == [second.job_id, other.job_id]


def test_finish_drops_the_stored_api_key(ledger):
    record = make()
    ledger.create(record, extra={"api_key": "ciphertext"})
    record.status = "failed"
    ledger.finish(record)
    assert ledger.get_field("acct-a", record.job_id, "api_key") is None


def test_erase_origin_deletes_records_and_index_entries(ledger):
    mine = make(origin_ref="shop-1.myshopify.com")
    keep = make()
    ledger.create(mine)
    ledger.create(keep)
    mine.status, mine.brand_id = "completed", str(uuid.uuid4())
    ledger.finish(mine)
    assert ledger.erase_origin("acct-a", "api", "shop-1.myshopify.com") == 1
    assert ledger.get("acct-a", mine.job_id) is None
    assert [r.job_id for r in ledger.list_jobs("acct-a")] == [keep.job_id]
    assert ledger.list_brands("acct-a") == []
    assert not list(ledger.redis.scan_iter(match="*shop-1*"))


def test_kind_and_status_are_enums_that_compare_as_their_names(ledger):
    record = make(status="processing")
    ledger.create(record)
    loaded = ledger.get("acct-a", record.job_id)
    assert loaded.kind is JobKind.BRAND_EXTRACTION and loaded.kind == "brand_extraction"
    assert loaded.status is JobStatus.PROCESSING
    with pytest.raises(ValueError):
        make(kind="video_render")


@pytest.mark.parametrize(
    ("kind", "status", "events"),
    [
        ("brand_extraction", "completed", ("job.completed", "brand.extracted")),
        ("image_generation", "completed", ("job.completed",)),
        ("campaign_render", "failed", ("job.failed",)),
        ("brand_extraction", "processing", ()),
    ],
)
def test_a_job_raises_its_events_once_it_has_ended(kind, status, events):
    assert make(kind=kind, status=status).events == events


def test_the_domain_is_a_bare_host_from_the_brand_else_from_the_submitted_url():
    assert make().domain == "acme.example"
    assert make(brand={"domain": "brand.example"}).domain == "brand.example"
    # Records stored before domains were kept bare held the submitted URL.
    assert make(brand={"domain": "https://www.Legacy.example/x"}).domain == "legacy.example"
    assert make(kind="image_generation").domain is None


def _finish_brand(ledger, domain: str, created: float):
    record = make(created=created)
    record.input = {"url": f"https://{domain}"}
    ledger.create(record)
    record.status, record.brand_id = "completed", str(uuid.uuid4())
    record.brand = {"brand_id": record.brand_id, "domain": domain}
    ledger.finish(record)
    return record


def test_brands_page_newest_first(ledger):
    made = [_finish_brand(ledger, f"b{i}.example", time.time() + i) for i in range(5)]
    newest = [r.brand_id for r in reversed(made)]
    first = ledger.list_brands("acct-a", limit=2)
    second = ledger.list_brands("acct-a", limit=2, offset=2)
    assert [r.brand_id for r in first + second] == newest[:4]
    assert ledger.list_brands("acct-a", limit=2, offset=10) == []


def test_a_brand_is_found_by_the_domain_a_user_types(ledger):
    brand = _finish_brand(ledger, "acme.example", time.time())
    for typed in ("acme.example", "www.Acme.example", "https://acme.example/about"):
        assert ledger.find_brand_by_domain("acct-a", typed).brand_id == brand.brand_id
    assert ledger.find_brand_by_domain("acct-a", "other.example") is None
    assert ledger.find_brand_by_domain("acct-b", "acme.example") is None
