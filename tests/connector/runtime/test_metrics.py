"""GET /metrics: bounded labels, Pi calls, job ends, deliveries, Redis gauges, multiprocess."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid

import pytest
import requests
import responses
from prometheus_client.parser import text_string_to_metric_families

from connector import create_app
from connector.delivery.dispatch import deliver
from connector.delivery.dispatch import register_delivery_kind as register_kind
from connector.delivery.outcomes import DELIVERED, FAILED, GONE, RETRY, Outcome
from connector.delivery.subscriptions import Subscriber
from connector.ledger import JobRecord, get_ledger
from connector.pi import PiClient, PiConnectionError
from connector.runtime import metrics
from connector.runtime.logs import JsonFormatter, request_id_var
from connector.runtime.queues import DELIVER, get_queue
from tests.support.procs import free_port

BASE = "http://pi.test"
JOB_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
JOB_URL = f"{BASE}/api/v1/jobs/{JOB_ID}"
JOB_BODY = {
    "id": "req_pi_g",
    "data": {"id": JOB_ID, "type": "brand_extraction", "status": "processing", "payload": {}},
}


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels: str) -> float:
    """Return one sample's value from an exposition, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def pi_client() -> PiClient:
    return PiClient("pi_test_metrics_key", base_url=BASE, max_retries=1, _sleep=lambda _: None)


def store_job(app, *, kind: str = "brand_extraction", request_id: str | None = None) -> JobRecord:
    record = JobRecord(
        job_id=str(uuid.uuid4()),
        account_id="acct_metrics",
        kind=kind,
        input={},
        origin="api",
        request_id=request_id,
    )
    with app.app_context():
        get_ledger().create(record)
    return record


def subscribe(app, record: JobRecord, kind: str) -> str:
    """Attach a subscriber of `kind` to the job and return its delivery ref."""
    subscriber = Subscriber(kind, None, {"n": 1})
    with app.app_context():
        pipe = get_ledger().redis.pipeline()
        app.extensions["subscriptions"].add(pipe, record.account_id, record.job_id, subscriber)
        pipe.execute()
    return f"sub:{subscriber.id}"


# -- the endpoint ----------------------------------------------------------------------------


def test_metrics_answers_prometheus_text_with_every_metric(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    for name in (
        "pic_http_requests",
        "pic_http_request_duration_seconds",
        "pic_pi_calls",
        "pic_jobs_finished",
        "pic_time_to_result_seconds",
        "pic_deliveries",
        "pic_jobs_in_flight",
        "pic_queue_depth",
        "pic_tracker_leases",
    ):
        assert f"# TYPE {name}" in text, name
    assert value(text, "pic_redis_up") == 1.0


def test_request_is_counted_under_its_route_template_not_its_path(client):
    labels = {"endpoint": "/v1/jobs/<job_id>", "method": "GET", "status": "401"}
    before = value(scrape(client), "pic_http_requests_total", **labels)
    client.get(f"/v1/jobs/{JOB_ID}")
    text = scrape(client)
    assert value(text, "pic_http_requests_total", **labels) == before + 1
    assert JOB_ID not in text


def test_request_without_a_route_is_counted_as_unmatched(client):
    labels = {"endpoint": "unmatched", "method": "other", "status": "404"}
    before = value(scrape(client), "pic_http_requests_total", **labels)
    client.open("/no/such/path/12345", method="BREW")
    text = scrape(client)
    assert value(text, "pic_http_requests_total", **labels) == before + 1
    assert "12345" not in text and "BREW" not in text


# -- Pi calls --------------------------------------------------------------------------------


def test_each_pi_attempt_is_counted_with_templated_endpoint_and_status(client):
    get_503 = {"endpoint": "GET /api/v1/jobs/:id", "status": "503"}
    get_200 = {"endpoint": "GET /api/v1/jobs/:id", "status": "200"}
    text = scrape(client)
    before = (
        value(text, "pic_pi_calls_total", **get_503),
        value(text, "pic_pi_calls_total", **get_200),
    )
    with responses.RequestsMock() as rsps:
        rsps.get(JOB_URL, status=503, json={"error": {"code": "down", "message": "down"}})
        rsps.get(JOB_URL, json=JOB_BODY)
        with pi_client() as pi:
            pi.get_job(JOB_ID)
    text = scrape(client)
    assert value(text, "pic_pi_calls_total", **get_503) == before[0] + 1
    assert value(text, "pic_pi_calls_total", **get_200) == before[1] + 1
    assert JOB_ID not in text


def test_pi_connection_error_is_counted_as_error(client):
    labels = {"endpoint": "POST /api/v1/brands/extract", "status": "error"}
    before = value(scrape(client), "pic_pi_calls_total", **labels)
    with responses.RequestsMock() as rsps:
        rsps.post(f"{BASE}/api/v1/brands/extract", body=requests.ConnectionError("refused"))
        with pi_client() as pi, pytest.raises(PiConnectionError):
            pi.extract_brand(url="https://acme.example")
    # A job-creating POST is never retried once sent: one attempt, one count.
    assert value(scrape(client), "pic_pi_calls_total", **labels) == before + 1


def test_pi_endpoint_keeps_the_route_and_drops_ids_and_base_path():
    url = f"https://pi.example/proxy/api/v1/brands/{JOB_ID}"
    assert metrics.pi_endpoint("get", url) == "GET /api/v1/brands/:id"


# -- job ends and deliveries -------------------------------------------------------------------


def test_record_finished_counts_the_job_and_feeds_time_to_result(client):
    record = JobRecord(
        job_id=JOB_ID,
        account_id="acct",
        kind="campaign_render",
        input={},
        origin="api",
        status="completed",
        created_at=1000.0,
        finished_at=1045.0,
    )
    kind = {"kind": "campaign_render"}
    text = scrape(client)
    finished = value(text, "pic_jobs_finished_total", kind="campaign_render", status="completed")
    count = value(text, "pic_time_to_result_seconds_count", **kind)
    under_30 = value(text, "pic_time_to_result_seconds_bucket", **kind, le="30.0")
    under_60 = value(text, "pic_time_to_result_seconds_bucket", **kind, le="60.0")
    metrics.record_finished(record.kind, record.status, record.created_at, record.finished_at)
    text = scrape(client)
    assert value(text, "pic_jobs_finished_total", **kind, status="completed") == finished + 1
    assert value(text, "pic_time_to_result_seconds_count", **kind) == count + 1
    assert value(text, "pic_time_to_result_seconds_bucket", **kind, le="30.0") == under_30
    assert value(text, "pic_time_to_result_seconds_bucket", **kind, le="60.0") == under_60 + 1


@pytest.mark.parametrize(
    ("result", "outcome"),
    [(DELIVERED, "delivered"), (RETRY, "retrying"), (FAILED, "failed"), (GONE, "gone")],
)
def test_delivery_is_counted_by_kind_and_outcome(app, client, result, outcome):
    register_kind(app, "probe", lambda record, target: Outcome(result, "probe"))
    record = store_job(app)
    ref = subscribe(app, record, "probe")
    before = value(scrape(client), "pic_deliveries_total", kind="probe", outcome=outcome)
    with app.app_context():
        deliver(record.account_id, record.job_id, ref)
    assert value(scrape(client), "pic_deliveries_total", kind="probe", outcome=outcome) == (
        before + 1
    )


def test_delivery_logs_with_the_request_id_that_created_the_job(app, caplog):
    seen = []

    def handler(record, target):
        seen.append(request_id_var.get())
        return Outcome(DELIVERED, "200")

    register_kind(app, "probe", handler)
    record = store_job(app, request_id="req_pic_origin_0123456789")
    ref = subscribe(app, record, "probe")
    caplog.handler.setFormatter(JsonFormatter())
    with app.app_context(), caplog.at_level(logging.INFO, logger="connector.delivery"):
        assert deliver(record.account_id, record.job_id, ref) == DELIVERED
    lines = [json.loads(line) for line in caplog.text.splitlines()]
    delivery_lines = [line for line in lines if line["logger"] == "connector.delivery.dispatch"]
    assert delivery_lines
    assert {line.get("request_id") for line in delivery_lines} == {"req_pic_origin_0123456789"}
    assert seen == ["req_pic_origin_0123456789"]
    assert request_id_var.get() is None  # reset once the attempt is over


# -- Redis gauges ------------------------------------------------------------------------------


def test_redis_gauges_reflect_inflight_jobs_leases_and_queue_depth(app, client):
    for kind in ("brand_extraction", "brand_extraction", "image_generation"):
        store_job(app, kind=kind)
    store = app.extensions["store"]
    store.redis.zadd(store.key("tracker", "leases"), {"acct_metrics|job": 1.0})
    get_queue(store, DELIVER).enqueue("os.getcwd")
    text = scrape(client)
    assert value(text, "pic_redis_up") == 1.0
    assert value(text, "pic_jobs_in_flight") == 3.0
    assert value(text, "pic_jobs", kind="brand_extraction", state="queued") == 2.0
    assert value(text, "pic_jobs", kind="image_generation", state="queued") == 1.0
    assert value(text, "pic_queue_depth", queue=DELIVER) == 1.0
    assert value(text, "pic_queue_depth", queue="pic-shopify") == 0.0
    assert value(text, "pic_tracker_leases") == 1.0


def test_metrics_answers_with_redis_down(app_config):
    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    text = scrape(app.test_client())
    assert value(text, "pic_redis_up") == 0.0
    assert "pic_jobs_in_flight" not in text
    assert "# TYPE pic_http_requests" in text


# -- multiprocess mode ---------------------------------------------------------------------------


def test_multiprocess_mode_sums_what_other_processes_counted(client, tmp_path, monkeypatch):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "from connector.runtime import metrics; metrics.record_delivery('mp_probe', 'delivered')"
    for _ in range(2):  # two processes, two files: the scrape adds them up
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    labels = {"kind": "mp_probe", "outcome": "delivered"}
    assert value(scrape(client), "pic_deliveries_total", **labels) == 0.0  # process-local
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = scrape(client)
    assert value(text, "pic_deliveries_total", **labels) == 2.0
    assert value(text, "pic_redis_up") == 1.0  # the Redis gauges ride along


def test_a_vanished_metrics_directory_falls_back_to_this_process(client, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "removed-by-its-server"))
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert "pic_http_requests_total" in response.get_data(as_text=True)
