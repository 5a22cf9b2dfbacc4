"""The endpoints ManyChat External Requests call (`/manychat/v1`): extract a brand, read a job."""

from __future__ import annotations

from flask import Blueprint, request

from connector.auth import current_account
from connector.config import get_settings
from connector.errors import BadRequest, NotFound
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_short
from connector.ledger import JobKind, get_ledger
from connector.pi import validation
from connector.web.bodies import json_object, load
from connector.web.budget import Budget, request_budget
from manychat_app.deliveries import push_subscriber
from manychat_app.replies import reply, reply_format
from manychat_app.schemas import ExtractInput, is_unfilled

bp = Blueprint("manychat", __name__, url_prefix="/manychat/v1")

# Seconds kept from the wait budget for the answer's way out: under a burst (500 requests on 2
# cores, bench/bench_web_concurrency.py) a request starts up to ~0.7 s after it arrived.
ANSWER_MARGIN = 0.75


def _budget() -> Budget:
    # Stop waiting a little early: ManyChat's clock runs until the answer's last byte.
    return request_budget(get_settings().manychat_wait_seconds, margin=ANSWER_MARGIN)


@bp.post("/brands/extract")
def extract_brand():
    """Submit a brand extraction once, wait up to the ManyChat budget, answer the flat object."""
    budget = _budget()
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
        JobKind.BRAND_EXTRACTION,
        {"url": body["url"]},
        origin="manychat",
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        subscribers=subscribers,
        # A hanging Pi must not hold the answer past ManyChat's budget (PI_TIMEOUT is longer).
        deadline=budget.create_deadline,
    )
    record = wait_short(account.api_key, submission.record, deadline=budget.deadline)
    return reply(record, wanted)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """Answer a job's flat object (404 for unknown or another account's job), waiting briefly."""
    budget = _budget()
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
    record = wait_short(account.api_key, record, deadline=budget.deadline)
    return reply(record, wanted)
