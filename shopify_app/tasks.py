"""RQ tasks for shops: brand extraction, webhook registration, uninstall and redaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rq import Retry
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQJobStatus
from rq.job import get_current_job

from connector.config import get_settings
from connector.delivery.delivery_log import (
    AttemptEntry,
    DeliveryState,
    get_delivery_log,
    sanitize_message,
)
from connector.errors import AccountLimited, ApiError, pi_error_to_api
from connector.jobs.account_limits import pi_cooldown_seconds, spread_delay
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_in_worker
from connector.ledger import JobKind, JobRecord, JobStatus, get_ledger
from connector.pi import PiConnectionError, PiError, PiInputError, PiRateLimited
from connector.runtime.queues import SHOPIFY, get_queue
from connector.runtime.redis_store import get_redis_store
from shopify_app import queries
from shopify_app.errors import ShopifyError, ShopNotInstalled, UserErrors
from shopify_app.graphql import AdminClient
from shopify_app.settings import ShopifySettings, get_shopify_settings
from shopify_app.shops import ShopStore, get_shops
from shopify_app.tokens import ShopTokens

log = logging.getLogger(__name__)

# app/uninstalled, then what tells us the primary domain may have moved: shop/update carries
# the new `domain`; domains/* say a domain changed, and a check reads the primary domain.
WEBHOOK_TOPICS = (
    "APP_UNINSTALLED",
    "SHOP_UPDATE",
    "DOMAINS_CREATE",
    "DOMAINS_UPDATE",
    "DOMAINS_DESTROY",
)
RETRY = Retry(max=3, interval=[10, 30, 90])


def admin_client(
    settings: ShopifySettings, shop: str, install_id: str, **options: Any
) -> AdminClient:
    """Return an Admin GraphQL client acting with the shop's offline token."""
    return AdminClient(
        settings, shop, ShopTokens(get_shops(), settings, shop, install_id), **options
    )


def enqueue(shop: str, func, *args: Any, pending: bool = True, **options: Any) -> str:
    """Put a shop task on the Shopify queue; `pending` work is dropped on uninstall."""
    queue = get_queue(get_redis_store(), SHOPIFY)
    # No results are kept: a finished job must not leave the shop's domain behind in Redis.
    options.setdefault("result_ttl", 0)
    options.setdefault("failure_ttl", 86400)
    job = queue.enqueue(func, shop, *args, **options)
    if pending:
        # Only install work is tracked: uninstall must never cancel a queued shop/redact.
        get_shops().add_rq_job(shop, job.id)
    return job.id


def _extract_lock_ttl() -> int:
    return get_settings().worker_deadline_seconds + 600


def enqueue_extraction(shop: str, install_id: str) -> bool:
    """Enqueue a brand extraction unless one is already pending for the shop; True if enqueued."""
    shops = get_shops()
    lock_key = shops.key(shop, "lock", "extract")
    # One pending extraction per shop: a double click or a re-install adds nothing.
    if not shops.redis.set(lock_key, install_id, nx=True, ex=_extract_lock_ttl()):
        return False
    try:
        shops.update_config(shop, install_id, status="queued", last_error=None)
        enqueue(
            shop,
            extract_brand_for_shop,
            install_id,
            job_timeout=_extract_lock_ttl(),
            retry=RETRY,
        )
    except BaseException:
        shops.redis.delete(lock_key)
        raise
    return True


def _failure_text(exc: BaseException) -> str:
    """Return a message safe to show a merchant (no stack, no token, no upstream body)."""
    if isinstance(exc, PiInputError):
        return f"the shop's primary domain cannot be extracted ({exc.message})"
    if isinstance(exc, PiError):
        return pi_error_to_api(exc).message
    if isinstance(exc, ApiError | ShopifyError):
        return exc.message
    return "the extraction failed unexpectedly"


@dataclass
class _Run:
    """What one extraction read: the domain change recorded before it, the primary host."""

    domain_change: str | None = None
    host: str | None = None


def extract_brand_for_shop(shop: str, install_id: str) -> str:
    """RQ task: extract the brand of the shop's primary domain and persist it (safe to re-run)."""
    shops = get_shops()
    lock_key = shops.key(shop, "lock", "extract")
    run = _Run()
    paced = False
    try:
        outcome = _extract(shop, install_id, run)
    except ShopNotInstalled:
        return "skipped"
    except (AccountLimited, PiRateLimited) as exc:
        # Every shop submits with the app's one Pi key: a wave of installs is paced by that
        # account's limits, never refused. The shop stays queued (its extraction lock too).
        paced = _pace(shop, install_id, exc)
        return "paced"
    except (PiError, PiInputError, ApiError, ShopifyError) as exc:
        shops.update_config(shop, install_id, status="failed", last_error=_failure_text(exc))
        log.warning("brand extraction for %s failed: %s", shop, type(exc).__name__)
        if getattr(exc, "retryable", False) or _pi_transient(exc):
            raise
        outcome = "failed"
    finally:
        # Free the slot only if it is still ours (a re-install may have taken it).
        if not paced and shops.redis.get(lock_key) == install_id.encode():
            shops.redis.delete(lock_key)
    if outcome != "skipped" and run.host:
        _follow_domain_change(shop, install_id, run)
    return outcome


def _extract(shop: str, install_id: str, run: _Run) -> str:
    """Read the primary domain, run the Pi job, store what it found; return the outcome."""
    settings, shops = get_shopify_settings(), get_shops()
    record = shops.installed(shop)
    if record is None or record.install_id != install_id:
        return "skipped"
    # Read before Shopify is asked: a change recorded after this may not be in what it answers.
    run.domain_change = shops.config(shop)["domain_change"]
    shops.update_config(shop, install_id, status="running", last_error=None)
    client = admin_client(settings, shop, install_id)
    info = queries.shop_info(client)
    run.host = info.primary_host
    shops.update_config(shop, install_id, extract_domain=info.primary_host)
    shops.set_installation_gid(shop, install_id, info.installation_gid)
    account = settings.pi_account()
    submission = submit_job(
        account,
        JobKind.BRAND_EXTRACTION,
        {"url": info.primary_url},
        origin="shopify",
        origin_ref=shop,
    )
    job_id = submission.record.job_id
    shops.update_config(shop, install_id, job_id=job_id)
    job = wait_in_worker(account.account_id, job_id)
    if job.status == JobStatus.COMPLETED and not job.brand_id:
        job.status, job.error = JobStatus.FAILED, "Pi finished the job without a brand"
    if job.status != JobStatus.COMPLETED:
        shops.update_config(
            shop,
            install_id,
            status="failed",
            job_id=job_id,
            last_error=job.error or "the Pi job failed",
        )
        return "failed"
    return _write_brand(shop, install_id, job, client, info)


def _pace(shop: str, install_id: str, exc: AccountLimited | PiRateLimited) -> bool:
    """Run the extraction again once the app's account may submit; True when rescheduled."""
    shops = get_shops()
    if isinstance(exc, AccountLimited):
        wait = float(exc.retry_after)
    else:  # Pi's own 429 on the create: its cooldown is set, honour Pi's word
        wait = pi_cooldown_seconds(exc.retry_after)
    delay = spread_delay(wait)
    shops.update_config(shop, install_id, status="queued", last_error=None)
    queue = get_queue(get_redis_store(), SHOPIFY)
    job = queue.enqueue_in(
        timedelta(seconds=delay),
        extract_brand_for_shop,
        shop,
        install_id,
        job_timeout=_extract_lock_ttl(),
        retry=RETRY,
        result_ttl=0,
        failure_ttl=86400,
    )
    shops.add_rq_job(shop, job.id)  # an uninstall meanwhile drops it
    # The lock outlives the wait: a click on "re-extract" meanwhile adds nothing.
    shops.redis.expire(shops.key(shop, "lock", "extract"), _extract_lock_ttl())
    log.info("brand extraction for %s paced by the account's limits: again in %.1fs", shop, delay)
    return True


def _follow_domain_change(shop: str, install_id: str, run: _Run) -> None:
    """Clear a domain change this run covered; extract again for one that came in meanwhile."""
    shops = get_shops()
    change = shops.config(shop)["domain_change"]
    if not change:
        return
    # Recorded before Shopify was asked, or what Shopify answered: this run covered it. Only a
    # change that arrived later, for another domain, needs a run of its own (one, not a loop).
    if change in (run.domain_change, run.host):
        shops.settle_domain_change(shop, install_id, change)
    else:
        enqueue_extraction(shop, install_id)


CONFIG_KIND, METAFIELDS_KIND = "shopify_shop_config", "shopify_metafields"


def _log_write(
    job: JobRecord,
    shop: str,
    kind: str,
    state: DeliveryState,
    started: float,
    exc: ShopifyError | None = None,
) -> None:
    """Log one write of the brand to the shop through the delivery log (never a token)."""
    now = time.time()
    entry = AttemptEntry(
        at=now,
        result=state.value,
        host=shop,
        status=getattr(exc, "status", None) if exc else 200,
        error=type(exc).__name__ if exc else None,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        message=sanitize_message(exc.message) if exc else None,
    )
    ref = f"shopify:{kind}:{shop}"  # not a DeliveryRef: the install task writes, not dispatch
    get_delivery_log().record(job.account_id, job.job_id, ref, kind, entry, state)


def _write_brand(
    shop: str, install_id: str, job: JobRecord, client: AdminClient, info: queries.ShopInfo
) -> str:
    """Store the brand in the shop config, then in the installation's metafields."""
    shops = get_shops()
    fields = job.brand_fields()
    started = time.perf_counter()
    if not shops.persist_brand(shop, install_id, job.job_id, fields, info.primary_host):
        _log_write(job, shop, CONFIG_KIND, DeliveryState.SKIPPED, started)
        return "skipped"  # uninstalled while we waited: store nothing
    _log_write(job, shop, CONFIG_KIND, DeliveryState.DELIVERED, started)
    started = time.perf_counter()
    try:
        queries.set_brand_metafields(client, info.installation_gid, fields)
        shops.update_config(shop, install_id, metafield_error=None)
    except (UserErrors, ShopifyError) as exc:
        if isinstance(exc, ShopNotInstalled):
            _log_write(job, shop, METAFIELDS_KIND, DeliveryState.SKIPPED, started, exc)
            return "skipped"
        shops.update_config(shop, install_id, metafield_error=_failure_text(exc))
        state = DeliveryState.RETRYING if exc.retryable else DeliveryState.FAILED
        _log_write(job, shop, METAFIELDS_KIND, state, started, exc)
        if exc.retryable:
            raise
    else:
        _log_write(job, shop, METAFIELDS_KIND, DeliveryState.DELIVERED, started)
    return "completed"


def _pi_transient(exc: BaseException) -> bool:
    """Return True for Pi failures worth another try by RQ (connection, 5xx, rate limits)."""
    status = getattr(exc, "status", None)
    return isinstance(exc, PiConnectionError | PiRateLimited) or (
        isinstance(exc, PiError) and isinstance(status, int) and status >= 500
    )


def register_webhooks(shop: str, install_id: str, *, max_attempts: int = 6) -> str:
    """RQ task (and install step): subscribe the shop's webhook topics through Admin GraphQL."""
    settings, shops = get_shopify_settings(), get_shops()
    record = shops.installed(shop)
    if record is None or record.install_id != install_id:
        return "skipped"
    client = admin_client(settings, shop, install_id, max_attempts=max_attempts)
    uri = settings.public("/shopify/webhooks")
    # app/uninstalled first: the rest only keep the brand fresh, this one stops work for a shop.
    for topic in WEBHOOK_TOPICS:
        queries.register_webhook(client, topic, uri)
    return "registered"


def drop_pending_work(shop: str, shops: ShopStore) -> int:
    """Cancel the shop's queued RQ jobs and stop its running ones; return how many were touched."""
    store = get_redis_store()
    current = get_current_job()
    count = 0
    for job_id in shops.rq_jobs(shop):
        if current is not None and job_id == current.id:
            continue
        try:
            job = RQJob.fetch(job_id, connection=store.redis)
        except NoSuchJobError:
            continue
        status = job.get_status(refresh=False)
        try:
            if status == RQJobStatus.STARTED:
                send_stop_job_command(store.redis, job_id)
            else:
                job.delete(remove_from_queue=True)
            count += 1
        except (InvalidJobOperation, NoSuchJobError):
            continue
    return count


def handle_uninstalled(shop: str, triggered_at: float | None = None) -> str:
    """RQ task for app/uninstalled: drop tokens, config and pending work (ledger: redact)."""
    shops = get_shops()
    record = shops.get(shop)
    if record is not None and triggered_at and record.installed_at > triggered_at:
        return "stale"  # a redelivery from before the current install must not remove it
    drop_pending_work(shop, shops)
    shops.drop_install(shop)
    return "uninstalled"


def redact_shop(shop: str) -> str:
    """RQ task for shop/redact: erase every key of the shop, its ledger entries included."""
    settings, shops = get_shopify_settings(), get_shops()
    drop_pending_work(shop, shops)
    erased = shops.erase(shop)
    entries = get_ledger().erase_origin(settings.pi_account().account_id, "shopify", shop)
    log.info("redacted %s: %d keys, %d ledger entries", shop, erased, entries)
    return "redacted"


def register_uninstall_webhook(shop: str, install_id: str, *, max_attempts: int = 6) -> str:
    """Run a webhook registration queued under this older task name (RQ stores the name)."""
    # Installs queued before an upgrade still name this task; it now registers every topic.
    return register_webhooks(shop, install_id, max_attempts=max_attempts)
