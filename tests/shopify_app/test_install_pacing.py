"""A wave of installs over the app account's limits: paced by RQ's scheduler, none fails."""

from __future__ import annotations

import time

from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.scheduler import RQScheduler

from connector.runtime.queues import SHOPIFY, get_queue
from shopify_app.shops import get_shops
from tests.shopify_app.conftest import install, run_worker
from tests.support.settings import replace_settings

WAVE = 6


def _enqueue_due(app) -> int:
    """Move due delayed tasks onto their queue, as the worker's scheduler does; return how many."""
    store = app.extensions["store"]
    registry = ScheduledJobRegistry(queue=get_queue(store, SHOPIFY))
    due = len(registry.get_jobs_to_schedule(time.time()))
    scheduler = RQScheduler([SHOPIFY], connection=store.redis)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    return due


def test_a_wave_of_installs_over_the_account_limit_is_paced_and_none_fails(
    sim_app, fake_shopify, pisim
):
    pisim.configure(job_seconds=0.2)
    # Every shop submits with the app's one Pi key: 2 at once, then 2 a second.
    replace_settings(sim_app, account_submit_rate=2.0, account_submit_burst=2)
    shops = [f"wave-{i}.myshopify.com" for i in range(WAVE)]
    client = sim_app.test_client()
    for shop in shops:
        fake_shopify.add_shop(shop)
        install(client, fake_shopify, shop)

    paced, seen = 0, set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run_worker(sim_app)
        with sim_app.app_context():
            configs = {shop: get_shops().config(shop) for shop in shops}
            store = sim_app.extensions["store"]
            scheduled = ScheduledJobRegistry(queue=get_queue(store, SHOPIFY))
            waiting = scheduled.get_job_ids()
        seen |= {c["status"] for c in configs.values()}
        paced += len(set(waiting))
        if all(c["brand_id"] for c in configs.values()):
            break
        # A paced shop shows as queued in its admin page meanwhile, never as failed.
        assert {c["status"] for c in configs.values() if not c["brand_id"]} <= {"queued"}
        time.sleep(0.2)
        _enqueue_due(sim_app)

    assert all(c["brand_id"] and c["status"] == "completed" for c in configs.values()), configs
    assert paced > 0  # the wave really was over the limit
    assert "failed" not in seen
    with sim_app.app_context():
        failed = FailedJobRegistry(queue=get_queue(sim_app.extensions["store"], SHOPIFY))
        assert failed.get_job_ids() == []
    assert pisim.count("POST /api/v1/brands/extract") == WAVE
