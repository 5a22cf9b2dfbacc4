"""Find the caller's brands (by id, by domain) and check one before an image is made for it."""

from __future__ import annotations

from connector.auth import Account
from connector.errors import NotFound
from connector.jobs.pi_clients import pi_client
from connector.ledger import JobRecord, bare_host, get_ledger
from connector.pi import PiConnectionError, PiNotFound, PiRateLimited, PiServerError
from connector.web.budget import Budget

# At most this long for Pi's word on a brand the ledger does not know, so the create still fits.
BRAND_CHECK_SECONDS = 3.0
MIN_CHECK_SECONDS = 0.5  # one round trip to Pi, however little of the budget is left
NO_BRAND = "no brand with this brand_id for this Pi API key: extract the brand first"


def brand_by_id(account: Account, brand_id: str) -> JobRecord:
    """Return the account's latest extraction of a brand, or raise a 404."""
    record = get_ledger().find_brand(account.account_id, brand_id)
    if record is None:
        raise NotFound(NO_BRAND, code="brand_not_found")
    return record


def brand_by_domain(account: Account, website: str) -> JobRecord:
    """Return the account's latest extraction for a website's domain, or raise a 404."""
    record = get_ledger().find_brand_by_domain(account.account_id, bare_host(website) or "")
    if record is None:
        raise NotFound(
            "no brand extracted from this domain for this Pi API key: extract it first",
            code="brand_not_found",
        )
    return record


def require_brand(account: Account, brand_id: str, budget: Budget) -> None:
    """Refuse (404) a brand_id that is not one of the account's brands, before Pi makes anything."""
    if get_ledger().find_brand(account.account_id, brand_id) is not None:
        return
    # Extracted outside the connector, or longer ago than the ledger keeps: Pi knows.
    seconds = max(MIN_CHECK_SECONDS, min(BRAND_CHECK_SECONDS, budget.left()))
    client = pi_client(account.api_key, timeout=seconds, max_retries=0)
    try:
        client.get_brand(brand_id)
    except PiNotFound:
        raise NotFound(NO_BRAND, code="brand_not_found", details={"brand_id": [NO_BRAND]}) from None
    except (PiConnectionError, PiServerError, PiRateLimited):
        return  # no verdict in time: the create itself tells what Pi thinks
    finally:
        client.close()
