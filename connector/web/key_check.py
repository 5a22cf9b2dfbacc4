"""Check a caller's Pi key with Pi on endpoints that would otherwise never ask Pi."""

from __future__ import annotations

from connector.auth import Account, current_account
from connector.jobs.pi_clients import pi_client
from connector.ledger import get_ledger
from connector.pi import PiConnectionError, PiRateLimited, PiServerError

KEY_CHECK_SECONDS = 300  # how long Pi's "yes" to a key is trusted by endpoints that skip Pi
KEY_CHECK_TIMEOUT = 5.0


def checked_account() -> Account:
    """Return the caller's account once Pi has accepted its key (remembered for a few minutes)."""
    account = current_account()
    ledger = get_ledger()
    marker = ledger.account_key(account.account_id, "key-ok")
    if ledger.redis.exists(marker):
        return account
    client = pi_client(account.api_key, timeout=KEY_CHECK_TIMEOUT, max_retries=0)
    try:
        client.list_brands(limit=1)  # Pi's 401/403 propagates: our 401, Zapier asks to reconnect
    except (PiConnectionError, PiServerError, PiRateLimited):
        # Pi is down or busy: the ledger can still answer; the key is checked on a later call.
        return account
    finally:
        client.close()
    ledger.redis.set(marker, "1", ex=KEY_CHECK_SECONDS)
    return account
