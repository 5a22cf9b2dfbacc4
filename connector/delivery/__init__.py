"""Deliver finished jobs: subscriptions and hooks, dispatch with retries, outbound HTTP."""

from __future__ import annotations


def deliver(
    account_id: str, job_id: str, ref_text: str, attempt: int = 1, force: bool = False
) -> str:
    """Run a delivery queued under this older task path (RQ stores the function's dotted name)."""
    # Retries queued before an upgrade still name connector.delivery.deliver; importing the
    # dispatcher here, not at the top, keeps `from connector.delivery import outbound` light.
    from connector.delivery.dispatch import deliver as run

    return run(account_id, job_id, ref_text, attempt, force)
