"""The one create call per job kind: which input fields Pi takes, and sending them in a slot."""

from __future__ import annotations

import time
from typing import Any

from connector.jobs.pi_clients import get_pi_clients
from connector.ledger import JobKind
from connector.pi import PiTimeout

# The input fields each kind of job takes (what Pi's create endpoint for it accepts).
BRAND_INPUT_FIELDS = ("url", "logo_base64", "images_base64", "location")
GENERATION_INPUT_FIELDS = (
    "prompt",
    "reference_images",
    "brand_id",
    "brand_identity_json",
    "aspect_ratio",
    "resolution",
    "thinking_intensity",
    "client_reference_id",
    "metadata",
)


class NoCreateSlot(PiTimeout):
    """No create slot came free in time: nothing was sent to Pi."""


def create_fields(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload's fields Pi's create for this kind takes (None values dropped)."""
    names = BRAND_INPUT_FIELDS if kind == JobKind.BRAND_EXTRACTION else GENERATION_INPUT_FIELDS
    return {k: payload[k] for k in names if payload.get(k) is not None}


def create_on_pi(
    account_id: str,
    api_key: str,
    kind: str,
    payload: dict[str, Any],
    pi_key: str,
    deadline: float,
    *,
    timeout: float | None = None,
) -> str:
    """Send the one create call to Pi, within the deadline, and return its job id.

    `timeout` (default: the deadline, within PI_TIMEOUT) is the HTTP read timeout of the call.
    """
    pi = get_pi_clients()
    entered = False
    try:
        with pi.create_slot(account_id, deadline):
            entered = True
            left = max(0.001, deadline - time.monotonic())
            if timeout is None:
                client = pi.client(api_key, timeout=left)
            else:
                # A queued create may outlast PI_TIMEOUT: its lease, not a budget, bounds it.
                client = pi.client(api_key, timeout=min(timeout, left), beyond_pi_timeout=True)
            try:
                fields = create_fields(kind, payload)
                if kind == JobKind.BRAND_EXTRACTION:
                    return client.extract_brand(**fields, deadline=deadline)
                # A per-claim key lets the client retry the POST safely without replaying a
                # failed job.
                images = kind == JobKind.IMAGE_GENERATION
                create = client.generate_image if images else client.render_campaign
                return create(**fields, idempotency_key=pi_key, deadline=deadline)
            finally:
                client.close()
    except PiTimeout as exc:
        if not entered:
            raise NoCreateSlot(str(exc)) from None
        raise
