"""Gauges read from Redis at scrape time (jobs in flight, queue depths, tracker leases)."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue

from connector.ledger import Ledger

log = logging.getLogger(__name__)

MAX_INFLIGHT_SCANNED = 10_000  # a scrape must stay cheap even with a huge backlog


class RedisCollector(Collector):
    """Read job, queue and tracker gauges from Redis at scrape time, so all processes agree."""

    def __init__(self, ledger: Ledger, queues: Sequence[str]) -> None:
        self.ledger = ledger
        self.queues = tuple(queues)

    def describe(self) -> list:
        """Describe nothing, so registering the collector never touches Redis."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield pic_redis_up and, when Redis answers, the gauges read from it."""
        up = GaugeMetricFamily("pic_redis_up", "1 when Redis answered this scrape, else 0")
        try:
            families = self._read()
        except Exception as exc:  # a scrape must answer even while Redis is down
            log.warning("metrics scrape without Redis gauges: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def snapshot(self) -> dict[str, float]:
        """Return the gauges as plain numbers, named like /metrics names them."""
        figures: dict[str, float] = {}
        for family in self._read():
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                figures[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return figures

    def _read(self) -> list[GaugeMetricFamily]:
        """Read every Redis gauge (raising on the first Redis error)."""
        redis = self.ledger.redis
        pipe = redis.pipeline(transaction=False)
        pipe.zcard(self.ledger.inflight_key())
        pipe.zcard(self.ledger.tracker_key("leases"))  # absent until the tracker runs: 0
        inflight_count, leases = pipe.execute()

        states: Tally[tuple[str, str]] = Tally()
        pairs = [p for p in self.ledger.inflight(limit=MAX_INFLIGHT_SCANNED) if len(p) == 2]
        if pairs:
            pipe = redis.pipeline(transaction=False)
            for account_id, job_id in pairs:
                pipe.hmget(self.ledger.job_key(account_id, job_id), "kind", "status")
            for kind, status in pipe.execute():
                if kind is not None and status is not None:  # expired record: nothing to count
                    states[(kind.decode(), status.decode())] += 1

        in_flight = GaugeMetricFamily("pic_jobs_in_flight", "Jobs submitted and not yet ended")
        in_flight.add_metric([], inflight_count)
        jobs = GaugeMetricFamily(
            "pic_jobs",
            f"In-flight jobs by kind and state (the oldest {MAX_INFLIGHT_SCANNED} counted)",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(states.items()):
            jobs.add_metric([kind, state], count)
        depth = GaugeMetricFamily(
            "pic_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"]
        )
        for name in self.queues:
            depth.add_metric([name], Queue(name, connection=redis).count)
        lease_gauge = GaugeMetricFamily("pic_tracker_leases", "Jobs a tracker holds a lease on")
        lease_gauge.add_metric([], leases)
        return [in_flight, jobs, depth, lease_gauge]
