"""The endpoints ManyChat External Requests call (`/manychat/v1`): extract a brand, read a job."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, request

from connector.auth import current_account
from connector.errors import BadRequest, NotFound
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_short
from connector.ledger import get_ledger
from connector.pi import validation
from connector.web.bodies import json_object, load
from manychat_app.deliveries import push_subscriber
from manychat_app.replies import reply, reply_format
from manychat_app.schemas import ExtractInput, is_unfilled

bp = Blueprint("manychat", __name__, url_prefix="/manychat/v1")

# Seconds kept from the wait budget for the answer's way out: under a burst (500 requests on 2
# cores, bench/bench_web_concurrency.py) a request starts up to ~0.7 s after it arrived.
ANSWER_MARGIN = 0.75


def _request_started() -> float:
    """Return when the request began, on the monotonic clock (the budget counts from there)."""
    now = time.monotonic()
    began = g.get("request_started")  # perf_counter() taken before any view code ran
    return now - max(0.0, time.perf_counter() - began) if began is not None else now


def _budget_deadline(started: float) -> float:
    budget = float(current_app.config["CONNECTOR_MANYCHAT_WAIT_SECONDS"])
    # Stop waiting a little early: ManyChat's clock runs until the answer's last byte.
    return started + max(0.0, budget - ANSWER_MARGIN)


@bp.post("/brands/extract")
def extract_brand():
    """Submit a brand extraction once, wait up to the ManyChat budget, answer the flat object."""
    started = _request_started()
    account = current_account()
    wanted = reply_format()
    body = load(ExtractInput(), json_object())
    subscribers = []
    if body["manychat_api_key"]:
        subscribers.append(
            push_subscriber(body["subscriber_id"], body["manychat_api_key"], body["flow_ns"])
        )
    submission = submit_job(
        account,
        "brand_extraction",
        {"url": body["url"]},
        origin="manychat",
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        subscribers=subscribers,
        # A hanging Pi must not hold the answer past ManyChat's budget (PI_TIMEOUT is longer).
        create_timeout=max(1.0, _budget_deadline(started) - time.monotonic()),
    )
    record = wait_short(account.api_key, submission.record, deadline=_budget_deadline(started))
    return reply(record, wanted)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """Answer a job's flat object (404 for unknown or another account's job), waiting briefly."""
    started = _request_started()
    account = current_account()
    wanted = reply_format()
    if is_unfilled(job_id):
        raise BadRequest(
            "job_id is an unfilled placeholder: put the custom field that holds the job_id "
            "into the request URL",
            code="invalid_input",
            details={"job_id": ["is an unfilled placeholder"]},
        )
    record = None
    if validation.UUID_RE.match(job_id):
        record = get_ledger().get(account.account_id, job_id)
    if record is None:
        raise NotFound("no such job", code="job_not_found")
    record = wait_short(account.api_key, record, deadline=_budget_deadline(started))
    return reply(record, wanted)
