"""Build a request's submission intent the way submit_job does, for tests of intents."""

from __future__ import annotations

import time

from connector.jobs.intents import Intent, new_intent_id


def claimed_intent(app, account_id: str, url: str, subscribers=(), *, request_id: str) -> Intent:
    """Claim a brand extraction's key and build its (unwritten) intent."""
    body = {"url": url}
    claim = app.extensions["idempotency"].claim(
        account_id, "brand_extraction", body, explicit=None, basis=url
    )
    assert claim.outcome == "claimed"
    return Intent(
        intent_id=new_intent_id(),
        account_id=account_id,
        kind="brand_extraction",
        payload=body,
        input=body,
        origin="manychat",
        origin_ref=None,
        request_id=request_id,
        created_at=time.time(),
        claim=claim,
        subscribers=list(subscribers),
    )
