"""Call ManyChat's API for one page key, and read its answers as delivery outcomes."""

from __future__ import annotations

import json
import re
from typing import Any

from connector.config import get_settings
from connector.delivery import outbound
from connector.delivery.delivery_log import host_of
from connector.delivery.outcomes import (
    DELIVERED,
    FAILED,
    RETRY,
    Outcome,
    answered,
    outcome_for_status,
    unanswered,
)

SET_FIELDS_PATH = "/fb/subscriber/setCustomFields"
SEND_FLOW_PATH = "/fb/sending/sendFlow"
SEND_CONTENT_PATH = "/fb/sending/sendContent"
MAX_FIELDS = 20  # ManyChat's cap per setCustomFields call
MAX_DETAIL = 200
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]+")  # one space per run: a one-line record


def sanitize(text: str, secret: str | None) -> str:
    """Return text fit for the delivery record: no secret, no control characters, short."""
    if secret:
        text = text.replace(secret, "[redacted]")
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _error_message(body: Any) -> str:
    """Return ManyChat's error message (and the first detail, when it gives one)."""
    if not isinstance(body, dict):
        return "no JSON error body"
    message = str(body.get("message") or "unspecified error")
    details = body.get("details")
    if details:
        message += f" ({json.dumps(details, separators=(',', ':'), default=str)[:120]})"
    return message


def classify(step: str, status: int, headers: dict[str, str], text: str, secret: str) -> Outcome:
    """Classify ManyChat's answer: success, a transient failure to retry, or a final error."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if 200 <= status < 300:
        if isinstance(body, dict) and body.get("status") == "success":
            return Outcome(DELIVERED, f"{step}: ok")
        if isinstance(body, dict) and body.get("status") == "error":
            return Outcome(FAILED, sanitize(f"{step}: {_error_message(body)}", secret))
        # Not ManyChat's envelope (a proxy or maintenance page): try again later.
        return Outcome(RETRY, f"{step}: HTTP {status} without a ManyChat status")
    http = outcome_for_status(status, headers)
    if http.result == RETRY:
        return Outcome(RETRY, f"{step}: HTTP {status}", http.retry_after)
    # 400/401/403/404/410...: ManyChat refused the key, contact or field; retrying won't help.
    return Outcome(FAILED, sanitize(f"{step}: HTTP {status} {_error_message(body)}", secret))


class ManyChatClient:
    """Call ManyChat's API with one page key through the SSRF-guarded outbound client."""

    def __init__(
        self, api_key: str, *, base_url: str, timeout: float, allow_private: bool = False
    ) -> None:
        if not api_key:
            raise ValueError("a ManyChat API key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.allow_private = allow_private

    def __repr__(self) -> str:
        return f"ManyChatClient(base_url={self.base_url!r})"  # never the key

    def _post(self, step: str, path: str, body: dict[str, Any]) -> Outcome:
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        host = host_of(self.base_url)
        try:
            response = outbound.post_json(
                self.base_url + path,
                body,
                headers=headers,
                timeout=self.timeout,
                allow_private=self.allow_private,
            )
        except outbound.OutboundError as exc:
            return unanswered(
                exc, host, step=step, scrub=lambda text: sanitize(text, self._api_key)
            )
        outcome = classify(step, response.status, response.headers, response.text, self._api_key)
        # ManyChat's own words are in the detail (sanitized): the delivery log shows them.
        message = outcome.detail if outcome.result != DELIVERED else None
        return answered(outcome, response, host, message)

    def set_custom_fields(self, subscriber_id: str, fields: list[dict[str, Any]]) -> Outcome:
        """Set several custom fields of one contact in one call."""
        body = {"subscriber_id": _contact_id(subscriber_id), "fields": fields[:MAX_FIELDS]}
        return self._post("setCustomFields", SET_FIELDS_PATH, body)

    def send_content(self, subscriber_id: str, content: dict[str, Any]) -> Outcome:
        """Send one contact a Dynamic Block v2 (`{"version": "v2", "content": ...}`)."""
        body = {"subscriber_id": _contact_id(subscriber_id), "data": content}
        return self._post("sendContent", SEND_CONTENT_PATH, body)

    def send_flow(self, subscriber_id: str, flow_ns: str) -> Outcome:
        """Send a flow to one contact."""
        body = {"subscriber_id": _contact_id(subscriber_id), "flow_ns": flow_ns}
        return self._post("sendFlow", SEND_FLOW_PATH, body)


def _contact_id(subscriber_id: str) -> int | str:
    # ManyChat documents subscriber_id as an integer.
    return int(subscriber_id) if str(subscriber_id).isdigit() else subscriber_id


def client_from_settings(api_key: str) -> ManyChatClient:
    """Return a client configured from the current app's settings."""
    settings = get_settings()
    return ManyChatClient(
        api_key,
        base_url=settings.manychat_api_url,
        timeout=settings.delivery_timeout_seconds,
        allow_private=settings.allow_private_targets,
    )
