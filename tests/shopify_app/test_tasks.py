"""The extraction task against the Pi simulator and the fake Shopify, run by an RQ worker."""

from __future__ import annotations

import json
import threading
import time

from connector.delivery.delivery_log import get_delivery_log
from connector.ledger import get_ledger
from shopify_app.settings import get_shopify_settings
from shopify_app.shops import get_shops
from shopify_app.tasks import enqueue_extraction, extract_brand_for_shop, handle_uninstalled
from tests.shopify_app.conftest import extraction_asking_pi, install, run_worker
from tests.shopify_app.helpers import SHOP

EXTRACT = "POST /api/v1/brands/extract"


def _config(app) -> dict:
    with app.app_context():
        return get_shops().config(SHOP)


def _refresh(app) -> bool:
    with app.app_context():
        return enqueue_extraction(SHOP, get_shops().get(SHOP).install_id)


def test_install_extracts_the_brand_into_the_shop_config_and_metafields(
    sim_app, fake_shopify, pisim
):
    client = sim_app.test_client()
    install(client, fake_shopify)
    run_worker(sim_app)

    config = _config(sim_app)
    assert config["status"] == "completed", config
    brand = config["brand"]
    assert config["brand_id"] and brand["brand_id"] == config["brand_id"]
    assert brand["brand_name"] == "Pi Demo" and brand["domain"] == "pi-demo.example"
    assert brand["primary_hex"].startswith("#") and brand["secondary_hex"].startswith("#")
    assert config["last_error"] is None and config["last_extracted_at"] > time.time() - 60

    metafields = fake_shopify.shops[SHOP].metafields
    assert metafields[("pi", "brand_id")] == {
        "type": "single_line_text_field",
        "value": config["brand_id"],
    }
    assert json.loads(metafields[("pi", "brand")]["value"]) == brand
    # The metafield owner is the current app installation read through Admin GraphQL.
    (mutation,) = [c for c in fake_shopify.calls("graphql") if "metafieldsSet" in c["query"]]
    owners = {m["ownerId"] for m in mutation["variables"]["metafields"]}
    assert owners == {fake_shopify.shops[SHOP].installation_gid}

    assert pisim.count(EXTRACT) == 1
    # wait_for_completion long-polls: a 1 s job needs one or two GETs, not a polling loop.
    assert pisim.count("GET /api/v1/jobs/:id") <= 2
    with sim_app.app_context():
        record = get_ledger().get(get_shopify_settings().pi_account().account_id, config["job_id"])
        logged = get_delivery_log().deliveries(record.account_id, record.job_id)
    assert (record.origin, record.origin_ref, record.status) == ("shopify", SHOP, "completed")
    # Both writes of the brand to the shop are in the delivery log, without the shop's token.
    assert {(d["kind"], d["state"]) for d in logged} == {
        ("shopify_shop_config", "delivered"),
        ("shopify_metafields", "delivered"),
    }
    attempts = [a for d in logged for a in d["attempt_log"]]
    assert {a["host"] for a in attempts} == {SHOP}
    assert "shpat_" not in json.dumps(logged) and "shpua_" not in json.dumps(logged)
    assert record.input == {"url": "https://www.pi-demo.example"}


def test_reinstall_and_double_click_never_create_a_second_pi_job(sim_app, fake_shopify, pisim):
    client = sim_app.test_client()
    install(client, fake_shopify)
    install(client, fake_shopify)  # re-authorised while installed: one extraction stays queued
    assert _refresh(sim_app) is False
    run_worker(sim_app)
    first = _config(sim_app)
    assert _refresh(sim_app) is True  # after it finished, a click runs the task again...
    assert _refresh(sim_app) is False
    run_worker(sim_app)
    second = _config(sim_app)
    assert pisim.count(EXTRACT) == 1  # ...which the ledger maps to the same Pi job
    assert second["job_id"] == first["job_id"] and second["status"] == "completed"


def test_failed_pi_job_records_a_sanitized_error_and_refresh_makes_a_new_job(
    sim_app, fake_shopify, pisim
):
    fake_shopify.add_shop(SHOP, primary_url="https://www.fail-store.example")
    client = sim_app.test_client()
    install(client, fake_shopify)
    run_worker(sim_app)
    failed = _config(sim_app)
    assert failed["status"] == "failed" and failed["brand_id"] is None
    assert failed["last_error"] and "Traceback" not in failed["last_error"]
    assert "\n    at " not in failed["last_error"]  # no stack frames from Pi's error_log
    assert fake_shopify.shops[SHOP].metafields == {}

    assert _refresh(sim_app) is True
    run_worker(sim_app)
    again = _config(sim_app)
    assert pisim.count(EXTRACT) == 2
    assert again["job_id"] != failed["job_id"] and again["status"] == "failed"


def test_throttled_admin_graphql_during_extraction_is_retried(sim_app, fake_shopify, pisim):
    client = sim_app.test_client()
    install(client, fake_shopify)
    fake_shopify.throttle_next = 2
    fake_shopify.rate_limit_next = 1
    run_worker(sim_app)
    assert _config(sim_app)["status"] == "completed"
    assert fake_shopify.throttle_next == 0 and fake_shopify.rate_limit_next == 0


def test_metafield_user_errors_are_recorded_and_the_brand_kept(sim_app, fake_shopify, pisim):
    client = sim_app.test_client()
    install(client, fake_shopify)
    fake_shopify.metafield_errors_next = [
        {"field": ["metafields", "0", "value"], "message": "Value is too long", "code": "TOO_LONG"}
    ]
    run_worker(sim_app)
    config = _config(sim_app)
    assert config["status"] == "completed" and config["brand_id"]
    assert "Value is too long" in config["metafield_error"]


def test_shop_uninstalled_during_the_wait_gets_nothing_persisted(sim_app, fake_shopify, pisim):
    fake_shopify.add_shop(SHOP, primary_url="https://www.secs2-store.example")
    client = sim_app.test_client()
    install(client, fake_shopify)
    thread, outcome = extraction_asking_pi(sim_app, pisim)
    with sim_app.app_context():
        assert handle_uninstalled(SHOP, time.time()) == "uninstalled"
    thread.join(30)
    assert outcome == ["skipped"]
    assert _config(sim_app)["status"] == "none"
    assert fake_shopify.shops[SHOP].metafields == {}
    with sim_app.app_context():
        assert get_shops().get(SHOP) is None


def test_task_for_a_shop_that_is_not_installed_does_nothing(sim_app, fake_shopify, pisim):
    with sim_app.app_context():
        assert extract_brand_for_shop(SHOP, "no-such-install") == "skipped"
    assert pisim.count(EXTRACT) == 0
    assert fake_shopify.calls() == []


def test_the_install_task_and_a_running_tracker_share_one_long_poll(sim_app, fake_shopify, pisim):
    from connector.jobs.tracker import Tracker
    from connector.worker import ConnectorThreadWorker, build_worker

    pisim.configure(job_seconds=3)
    tracker = Tracker(sim_app, capacity=10, lease_seconds=30, scan_seconds=0.05).start()
    try:
        install(sim_app.test_client(), fake_shopify)
        # The task runs on an RQ thread worker, as in the worker process, beside the tracker.
        worker = build_worker(sim_app, cls=ConnectorThreadWorker)
        runner = threading.Thread(target=lambda: worker.work(burst=True, with_scheduler=False))
        runner.start()
        runner.join(timeout=30)
    finally:
        tracker.stop()

    assert _config(sim_app)["status"] == "completed"
    # Both waited on the same 3 s job; only the lease holder asked Pi, one long-poll at a time.
    assert pisim.count("GET /api/v1/jobs/:id") == 1
