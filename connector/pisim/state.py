"""In-memory tables of the simulator: jobs, brands and idempotency records, behind one lock."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

from connector.pisim.brands import brand_domain, brand_row, iso
from connector.pisim.job_timeline import BRAND, Job

# Org ids are derived from the key so every key is its own tenant, stable across restarts.
_ORG_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "pisim.pi-connector")


def org_id_for(token: str) -> str:
    """Return the org id of an API key."""
    return str(uuid.uuid5(_ORG_NAMESPACE, token))


class JobStore:
    """Jobs, brands and idempotency records; a Condition wakes long-polls on forced ends."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._seq = itertools.count()
        self.reset()

    def reset(self) -> None:
        """Forget every job, brand and idempotency record."""
        with self.cond:
            self.jobs: dict[str, Job] = {}
            self._pending: list[Job] = []
            self.brands: dict[str, dict[str, Any]] = {}
            self._brand_order: dict[str, int] = {}
            self._brand_job: dict[str, str] = {}
            self._brand_keys: dict[tuple[str, str], str] = {}
            self._idempotency: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
            self.cond.notify_all()

    # -- jobs -----------------------------------------------------------------------------------

    def add(self, job: Job) -> None:
        """Store a new job."""
        with self.cond:
            self.jobs[job.id] = job
            self._pending.append(job)

    def _settle(self, now: float) -> None:
        """Apply the side effects of jobs that ended by now (brand upserts), oldest first."""
        due = [job for job in self._pending if job.is_terminal(now)]
        if not due:
            return
        due.sort(key=lambda job: job.ends_at)
        for job in due:
            self._pending.remove(job)
            job.settled = True
            if job.type == BRAND and job.outcome == "completed":
                self._upsert_brand(job)

    def _upsert_brand(self, job: Job) -> None:
        """Write the brand a job extracted, keeping the id of the org's row for that domain."""
        domain = brand_domain(job.input.get("url"), job.id)
        key = (job.org_id, domain)
        brand_id = self._brand_keys.get(key)
        stamp = iso(job.ends_at)
        created = stamp
        if brand_id is None:
            brand_id = str(uuid.uuid4())
            self._brand_keys[key] = brand_id
            self._brand_order[brand_id] = next(self._seq)
        else:
            created = self.brands[brand_id]["created_at"]
        self.brands[brand_id] = brand_row(
            brand_id=brand_id,
            org_id=job.org_id,
            domain=domain,
            job_id=job.id,
            has_logo=bool(job.input.get("has_logo")),
            image_count=int(job.input.get("image_count", 0)),
            created_at=created,
            updated_at=stamp,
        )
        self._brand_job[brand_id] = job.id
        job.brand_id = brand_id

    def lookup(self, job_id: str) -> tuple[Job, dict[str, Any]] | None:
        """Return a job and its current row (any org), or None."""
        with self.cond:
            now = time.time()
            self._settle(now)
            job = self.jobs.get(job_id)
            return None if job is None else (job, job.row(now))

    def internal(self, job_id: str) -> dict[str, Any] | None:
        """Return the admin view of a job, or None."""
        with self.cond:
            now = time.time()
            self._settle(now)
            job = self.jobs.get(job_id)
            return None if job is None else job.internal(now)

    def wait_for_end(self, job_id: str, deadline: float) -> None:
        """Block until the job ends (or is forced to) or the monotonic deadline passes."""
        with self.cond:
            while True:
                job = self.jobs.get(job_id)
                if job is None:
                    return
                remaining = deadline - time.monotonic()
                until_end = job.ends_at - time.time()
                if until_end <= 0 or remaining <= 0:
                    return
                self.cond.wait(min(remaining, until_end))

    def force(self, job_id: str, outcome: str) -> tuple[bool, dict[str, Any]] | None:
        """End a job now with the outcome and wake long-polls; None if it does not exist."""
        with self.cond:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            now = time.time()
            changed = job.force(outcome, now)
            self._settle(now)
            self.cond.notify_all()
            return changed, job.internal(now)

    def all_jobs(self) -> list[dict[str, Any]]:
        """Return the admin view of every job, newest first."""
        with self.cond:
            now = time.time()
            self._settle(now)
            jobs = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            return [job.internal(now) for job in jobs]

    # -- brands ---------------------------------------------------------------------------------

    def brand(self, brand_id: str) -> dict[str, Any] | None:
        """Return a copy of a brand row (any org), or None."""
        with self.cond:
            self._settle(time.time())
            row = self.brands.get(brand_id)
            return None if row is None else dict(row)

    def latest_job(self, brand_id: str) -> dict[str, Any] | None:
        """Return a short view of the last job that wrote the brand."""
        with self.cond:
            job = self.jobs.get(self._brand_job.get(brand_id, ""))
            if job is None:
                return None
            row = job.row(time.time())
            keep = ("id", "type", "status", "created_at", "updated_at")
            return {k: row[k] for k in keep}

    def org_brands(self, org_id: str, query: str | None) -> list[dict[str, Any]]:
        """Return the org's brands, newest first, filtered by a case-insensitive name match."""
        with self.cond:
            self._settle(time.time())
            rows = [dict(r) for r in self.brands.values() if r["org_id"] == org_id]
            needle = (query or "").lower()
            if needle:
                rows = [r for r in rows if needle in r["name"].lower()]
            rows.sort(key=lambda r: self._brand_order[r["id"]], reverse=True)
            return rows

    # -- idempotency ----------------------------------------------------------------------------

    def idempotent(self, key: tuple[str, str, str]) -> tuple[str, dict[str, Any]] | None:
        """Return the (fingerprint, 202 body) stored for an org/scope/key hash."""
        with self.cond:
            return self._idempotency.get(key)

    def remember(self, key: tuple[str, str, str], fingerprint: str, body: dict[str, Any]) -> None:
        """Store a 202 body under an org/scope/key hash (only after a successful create)."""
        with self.cond:
            self._idempotency[key] = (fingerprint, body)
