"""Pi clients: one pooled session per process, sized for everything that polls Pi."""

from __future__ import annotations


def test_the_pi_pool_holds_a_connection_for_every_job_the_tracker_follows():
    from connector.config import Settings
    from connector.jobs.pi_clients import pool_size

    settings = Settings.load(
        {"CONNECTOR_TRACKER_CAPACITY": 2000, "CONNECTOR_PI_POOL_SIZE": 1000}, environ={}
    )
    assert pool_size(settings) == 2000 + settings.shopify_threads
    assert pool_size(Settings.load({"CONNECTOR_PI_POOL_SIZE": 5000}, environ={})) == 5000
