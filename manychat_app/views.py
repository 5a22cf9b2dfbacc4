"""The endpoints ManyChat External Requests call (`/manychat/v1`): make, read and find things."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from werkzeug.routing import BaseConverter

from connector.auth import Account, current_account
from connector.config import get_settings
from connector.delivery.subscriptions import Subscriber
from connector.errors import NotFound
from connector.jobs.queued_jobs import resolve_job
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_short
from connector.ledger import JobKind, is_queued_id
from connector.pi import validation
from connector.web.bodies import json_object, load
from connector.web.budget import Budget, request_budget
from manychat_app import brands
from manychat_app.deliveries import push_subscriber
from manychat_app.replies import ReplyFormat, reply, reply_format
from manychat_app.schemas import (
    DomainQuery,
    ExtractInput,
    GenerateInput,
    path_uuid,
    refuse_unfilled,
)

bp = Blueprint("manychat", __name__, url_prefix="/manychat/v1")

# Seconds kept from the wait budget for the answer's way out: under a burst (500 requests on 2
# cores, bench/bench_web_concurrency.py) a request starts up to ~0.7 s after it arrived.
ANSWER_MARGIN = 0.75


class BrandIdConverter(BaseConverter):
    """Match one path segment other than `extract` (the view checks that it is a UUID)."""

    # Without it, /brands/extract would also be a brand lookup: Allow would list GET there.
    regex = r"(?!extract$)[^/]+"


CONVERTERS = {"brand_id": BrandIdConverter}


def _budget() -> Budget:
    # Stop waiting a little early: ManyChat's clock runs until the answer's last byte.
    return request_budget(get_settings().manychat_wait_seconds, margin=ANSWER_MARGIN)


def _pushes(body: dict[str, Any], channel: str) -> list[Subscriber]:
    """Return the push subscriber a body asks for (none without a ManyChat key)."""
    if not body["manychat_api_key"]:
        return []
    return [
        push_subscriber(
            body["subscriber_id"],
            body["manychat_api_key"],
            body["flow_ns"],
            send_image=body.get("send_image", False),
            channel=channel,
        )
    ]


def _submit_and_answer(
    account: Account,
    kind: JobKind,
    payload: dict[str, Any],
    subscribers: list[Subscriber],
    budget: Budget,
    wanted: ReplyFormat,
):
    """Submit the job once, wait up to the ManyChat budget, answer in the wanted format."""
    submission = submit_job(
        account,
        kind,
        payload,
        origin="manychat",
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        subscribers=subscribers,
        # A hanging Pi must not hold the answer past ManyChat's budget (PI_TIMEOUT is longer).
        deadline=budget.create_deadline,
    )
    record = wait_short(account.api_key, submission.record, deadline=budget.deadline)
    return reply(record, wanted)


@bp.post("/brands/extract")
def extract_brand():
    """Submit a brand extraction once, wait up to the ManyChat budget, answer the flat object."""
    budget = _budget()
    account = current_account()
    wanted = reply_format()
    body = load(ExtractInput(), json_object())
    pushes = _pushes(body, wanted.channel)
    payload = {"url": body["url"]}
    return _submit_and_answer(account, JobKind.BRAND_EXTRACTION, payload, pushes, budget, wanted)


def _generate(kind: JobKind):
    """Submit an image or campaign job once (for the caller's brand, if any); answer as extract."""
    budget = _budget()
    account = current_account()
    wanted = reply_format()
    schema = GenerateInput()
    body = load(schema, json_object())
    if body["brand_id"]:
        brands.require_brand(account, body["brand_id"], budget)
    pushes = _pushes(body, wanted.channel)
    return _submit_and_answer(account, kind, schema.payload(body), pushes, budget, wanted)


@bp.post("/images/generate")
def generate_image():
    """Generate an image once, wait up to the ManyChat budget, answer with its image_url."""
    return _generate(JobKind.IMAGE_GENERATION)


@bp.post("/campaigns/render")
def render_campaign():
    """Render a campaign visual once, wait up to the ManyChat budget, answer with its image_url."""
    return _generate(JobKind.CAMPAIGN_RENDER)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """Answer a job's flat object (404 for unknown or another account's job), waiting briefly."""
    budget = _budget()
    account = current_account()
    wanted = reply_format()
    refuse_unfilled("job_id", job_id)
    record = None
    if validation.UUID_RE.match(job_id) or is_queued_id(job_id):
        # A queued id answers `queued` until Pi's job id is known, then that job.
        record = resolve_job(account.account_id, job_id, deadline=budget.deadline)
    if record is None:
        raise NotFound("no such job", code="job_not_found")
    record = wait_short(account.api_key, record, deadline=budget.deadline)
    return reply(record, wanted)


@bp.get("/brands/<brand_id:brand_id>")
def get_brand(brand_id: str):
    """Answer a brand of the caller's by id (404 for unknown or another account's brand)."""
    account = current_account()
    wanted = reply_format()
    record = brands.brand_by_id(account, path_uuid("brand_id", brand_id))
    return reply(record, wanted)


@bp.get("/brands")
def find_brand():
    """Answer the caller's brand for ?domain= (a bare domain or a website address), or 404."""
    account = current_account()
    wanted = reply_format()
    query = load(DomainQuery(), request.args.to_dict())
    return reply(brands.brand_by_domain(account, query["domain"]), wanted)
