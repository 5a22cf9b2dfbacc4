"""The operator console's pages: sign-in, figures, find a job, its timeline, failed deliveries."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from markupsafe import Markup

from connector.delivery.delivery_log import get_delivery_log, public_view
from connector.delivery.dispatch import Redelivery, redeliver
from connector.errors import NotFound
from connector.jobs import lookup
from connector.jobs.gauges import RedisCollector
from connector.ledger import RESULT_BUCKETS, get_ledger, iso
from connector.runtime.queues import ALL_QUEUES
from connector.web.console import login
from connector.web.console.charts import bar_chart

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

FAILED_PAGE = 100
NOTES = {
    Redelivery.QUEUED: "Redelivery queued.",
    Redelivery.IN_FLIGHT: "An attempt is already queued or running.",
    Redelivery.NOT_REDELIVERABLE: "This delivery is written by its platform's task.",
    Redelivery.UNKNOWN: "No such delivery.",
}


@bp.before_request
def _gate():
    """Answer 404 while the console is off; send strangers to the sign-in form."""
    if not login.enabled():
        abort(404)
    if request.endpoint not in ("console.sign_in", "console.sign_in_form"):
        if not login.signed_in():
            return redirect(url_for("console.sign_in_form"))
        if request.method == "POST":
            login.check_csrf()
    return None


@bp.after_request
def _save(response):
    return login.save(response) if login.enabled() else response


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": login.csrf_token, "iso": iso, "CSRF_FIELD": login.CSRF_FIELD}


@bp.get("/login")
def sign_in_form():
    """Show the sign-in form."""
    return render_template("console/login.html", error=None)


@bp.post("/login")
def sign_in():
    """Check the token (CSRF first, then the rate limit) and sign the operator in."""
    login.check_csrf()
    if not login.check_token(request.form.get("token", "")):
        return render_template("console/login.html", error="That token is not right."), 401
    login.sign_in()
    return redirect(url_for("console.home"))


@bp.post("/logout")
def sign_out():
    """Sign the operator out."""
    login.sign_out()
    return redirect(url_for("console.sign_in_form"))


@bp.get("/")
def home():
    """Show the live figures and the search form."""
    ledger, log = get_ledger(), get_delivery_log()
    gauges = RedisCollector(ledger, ALL_QUEUES).snapshot()
    outcomes = log.outcomes_last_hour()
    counts = ledger.redis.hgetall(ledger.result_times_key())
    labels = [*(str(b) for b in RESULT_BUCKETS), "inf"]
    bars = [(_bucket_label(b), int(counts.get(b.encode(), 0))) for b in labels]
    queues = {name: gauges.get(f"pic_queue_depth{{queue={name}}}", 0) for name in ALL_QUEUES}
    return render_template(
        "console/home.html",
        in_flight=int(gauges.get("pic_jobs_in_flight", 0)),
        leases=int(gauges.get("pic_tracker_leases", 0)),
        queues=queues,
        outcomes=outcomes,
        histogram=Markup(bar_chart(bars, "Time to result (jobs per bucket)")),  # noqa: S704
    )


@bp.get("/find")
def find():
    """Find jobs by job id, request id, brand_id or domain, across accounts."""
    query = request.args.get("q", "")[:300]
    ledger = get_ledger()
    found = lookup.records(ledger, lookup.find_jobs(ledger, query)) if query else []
    if len(found) == 1:
        only = found[0]
        return redirect(url_for("console.job", account_id=only.account_id, job_id=only.job_id))
    return render_template("console/find.html", query=query, jobs=found)


@bp.get("/jobs/<account_id>/<job_id>")
def job(account_id: str, job_id: str):
    """Show a job's timeline and its deliveries, each with a Redeliver button."""
    ledger = get_ledger()
    record = ledger.get(account_id, job_id)
    if record is None:
        raise NotFound("no such job", code="job_not_found")
    events, deliveries = lookup.timeline(ledger, get_delivery_log(), record)
    return render_template(
        "console/job.html",
        record=record,
        events=events,
        deliveries=[public_view(d) for d in deliveries],
        note=NOTES.get(request.args.get("note", "")),
    )


@bp.post("/jobs/<account_id>/<job_id>/deliveries/<delivery_id>/redeliver")
def redeliver_one(account_id: str, job_id: str, delivery_id: str):
    """Queue a fresh attempt of one delivery, then show the job again."""
    result = redeliver(account_id, job_id, delivery_id)
    current_app.logger.info("console redelivery %s of job %s: %s", delivery_id, job_id, result)
    target = url_for("console.job", account_id=account_id, job_id=job_id, note=result.value)
    return redirect(target)


@bp.get("/failed")
def failed():
    """List failed deliveries of every account, newest first."""
    since = parse_since(request.args.get("since", ""))
    items = [public_view(d) | _owner(d) for d in get_delivery_log().failed(FAILED_PAGE, since)]
    note = request.args.get("note")
    return render_template("console/failed.html", deliveries=items, note=note)


@bp.post("/failed/redeliver")
def redeliver_failed():
    """Queue a fresh attempt of every ticked failed delivery."""
    tally: dict[str, int] = {}
    for value in request.form.getlist("delivery")[:FAILED_PAGE]:
        account_id, _, rest = value.partition("|")
        job_id, _, delivery_id = rest.partition("|")
        result = redeliver(account_id, job_id, delivery_id)
        tally[result.value] = tally.get(result.value, 0) + 1
    note = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in sorted(tally.items()))
    return redirect(url_for("console.failed", note=note or "nothing selected"))


def _owner(item: dict) -> dict:
    return {"account_id": item["account_id"], "job_id": item["job_id"]}


def parse_since(text: str) -> float:
    """Read a window such as 30m, 1h or 2d as the epoch it starts at (0: no limit)."""
    units = {"m": 60, "h": 3600, "d": 86400}
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in units:
        return time.time() - int(text[:-1]) * units[text[-1]]
    return 0.0


def _bucket_label(bound: str) -> str:
    if bound == "inf":
        return f">{RESULT_BUCKETS[-1] // 60}m"
    seconds = int(bound)
    return f"≤{seconds}s" if seconds < 60 else f"≤{seconds // 60}m"
