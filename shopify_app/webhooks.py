"""POST /shopify/webhooks: verify, dedupe, record or enqueue, answer 200 fast."""

from __future__ import annotations

import json
import re
from datetime import datetime

from flask import jsonify, request

from connector.errors import BadRequest, Unauthorized
from connector.runtime.redis_store import get_redis_store
from shopify_app import domains, tasks
from shopify_app.blueprint import bp
from shopify_app.settings import get_shopify_settings
from shopify_app.shops import get_shops
from shopify_app.verify import require_shop, webhook_hmac_valid

DEDUPE_TTL = 7 * 86400  # longer than Shopify's retry window (8 tries over 4 hours)
COMPLIANCE = ("customers/data_request", "customers/redact")
TOPICS = ("app/uninstalled", "shop/redact", *COMPLIANCE, *domains.TOPICS)
WEBHOOK_ID = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")


def parse_triggered_at(value: str | None) -> float | None:
    """Return X-Shopify-Triggered-At as epoch seconds (Shopify sends up to nanoseconds)."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Python reads at most microseconds: cut longer fractions.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _dedupe_key(webhook_id: str) -> str:
    # Keyed by the delivery id only, so no key names the shop once it is erased.
    return get_redis_store().key("shopify", "webhook", webhook_id)


@bp.post("/webhooks")
def receive_webhook():
    """Handle one webhook delivery from Shopify."""
    topic, webhook_id, shop, payload = _read_delivery()
    if topic not in TOPICS:
        return jsonify({"status": "ignored", "topic": topic})
    signal = None
    if topic in domains.TOPICS:
        signal = _domain_signal(topic, shop, payload)
        if signal is None:  # not installed: there is no brand to keep fresh
            return jsonify({"status": "ignored", "topic": topic})

    redis = get_redis_store().redis
    key = _dedupe_key(webhook_id)
    if not redis.set(key, "1", nx=True, ex=DEDUPE_TTL):
        return jsonify({"status": "duplicate"})
    try:
        if signal is not None:
            refresh = domains.on_webhook(shop, signal[0], topic, signal[1])
            return jsonify({"status": "accepted", "refresh": refresh})
        _dispatch(topic, shop, payload)
    except BaseException:
        redis.delete(key)  # let Shopify's retry try again
        raise
    return jsonify({"status": "accepted"})


def _read_delivery() -> tuple[str, str, str, dict]:
    """Verify a delivery and return its topic, id, shop and JSON object (401/400 otherwise)."""
    settings = get_shopify_settings()
    body = request.get_data(cache=False)
    if not webhook_hmac_valid(body, request.headers.get("X-Shopify-Hmac-SHA256"), settings.secrets):
        raise Unauthorized("the webhook HMAC does not match", code="invalid_hmac")
    topic = (request.headers.get("X-Shopify-Topic") or "").strip()
    webhook_id = (request.headers.get("X-Shopify-Webhook-Id") or "").strip()
    if not topic or not WEBHOOK_ID.fullmatch(webhook_id):
        raise BadRequest(
            "X-Shopify-Topic and X-Shopify-Webhook-Id are required", code="missing_webhook_headers"
        )
    shop = require_shop(request.headers.get("X-Shopify-Shop-Domain"))
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest("the webhook body is not a JSON object", code="invalid_json")
    return topic, webhook_id, shop, payload


def _domain_signal(topic: str, shop: str, payload: dict) -> tuple[str, str] | None:
    """Return (install id, domain) of a shop/update or domains/* delivery; None if not installed."""
    host = domains.payload_host(topic, payload)  # a 400 before anything is stored
    record = get_shops().installed(shop)
    return (record.install_id, host) if record is not None else None


def _dispatch(topic: str, shop: str, payload: dict) -> None:
    """Record compliance requests here; queue everything that touches the shop's data."""
    if topic == "app/uninstalled":
        triggered_at = parse_triggered_at(request.headers.get("X-Shopify-Triggered-At"))
        tasks.enqueue(shop, tasks.handle_uninstalled, triggered_at, pending=False)
    elif topic == "shop/redact":
        tasks.enqueue(shop, tasks.redact_shop, pending=False)
    else:
        # The app keeps no customer data: there is nothing to export or erase, only to log.
        request_info = payload.get("data_request")
        ref = request_info.get("id") if isinstance(request_info, dict) else None
        webhook_id = request.headers.get("X-Shopify-Webhook-Id", "")
        get_shops().record_compliance(
            shop, topic, webhook_id, str(ref) if ref is not None else None
        )
