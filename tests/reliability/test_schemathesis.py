"""Property-based API tests: schemathesis drives every operation of /openapi.json in-process.

Every built-in check is on (server errors, status codes, content types, headers and bodies
against the spec, positive data accepted, negative data rejected, missing headers, auth
enforced, unsupported methods). The app runs on a private Redis with the Pi simulator as Pi,
the Shopify app configured against a closed loopback port, and zero wait budgets so each
request answers at once.

What the test adds to schemathesis, each on purpose:
- It sends a valid `Bearer pi_test_...` key on piApiKey operations (not on cases that test
  missing or invalid headers) and makes every drawn Idempotency-Key unique (a key names one
  request; a reused key with another body is a correct 422).
- Two rules span two parameters, which OpenAPI cannot say; the test asserts them itself: a
  brand search needs brand_id or domain (400), a signed install link needs a timestamp.
- Every check runs on every operation, `ignored_auth` included: even the Zapier endpoints that
  answer from the ledger ask Pi whether a key is valid (remembered for a few minutes).

Each operation runs PIC_SCHEMATHESIS_EXAMPLES generated examples (default 10, derandomized so
CI is deterministic); set it higher for a longer, randomized run, e.g.
`PIC_SCHEMATHESIS_EXAMPLES=200 pytest tests/reliability/test_schemathesis.py`.
"""

from __future__ import annotations

import collections
import os
import re
import uuid
from collections.abc import MutableMapping

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from connector.auth import account_from_header
from connector.errors import BadRequest, Unauthorized
from connector.web.bodies import PLACEHOLDER
from shopify_app.verify import require_shop
from tests.shopify_app.helpers import API_KEY, PI_KEY, SECRET
from tests.support.constants import NO_ACCOUNT_LIMITS
from tests.support.openapi import served_spec
from tests.support.procs import free_port

_LONG_RUN = os.environ.get("PIC_SCHEMATHESIS_EXAMPLES")
EXAMPLES = int(_LONG_RUN or 10)
AUTH = {"Authorization": "Bearer pi_test_schemathesis_account"}

schema = schemathesis.openapi.from_dict(served_spec())
TALLY: collections.Counter[str] = collections.Counter()


@pytest.fixture
def api_app(app_config: dict, pisim):
    """Return the app on the private Redis, the simulator as Pi, Shopify configured."""
    from connector import create_app

    closed = free_port()  # nothing listens: a Shopify call fails fast instead of leaving
    return create_app(
        {
            **app_config,
            "PI_BASE_URL": pisim.base_url,
            "PI_API_KEY": PI_KEY,
            "PI_MAX_RETRIES": 0,
            # Thousands of examples from one account: its limits would answer most with 429.
            **NO_ACCOUNT_LIMITS,
            "CONNECTOR_ALLOW_PRIVATE_TARGETS": False,
            "CONNECTOR_ZAPIER_WAIT_SECONDS": 0,
            "CONNECTOR_MANYCHAT_WAIT_SECONDS": 0,
            "SHOPIFY_API_KEY": API_KEY,
            "SHOPIFY_API_SECRET": SECRET,
            "SHOPIFY_ADMIN_URL_TEMPLATE": f"http://127.0.0.1:{closed}",
            "CONNECTOR_PUBLIC_URL": "https://connector.test",
        }
    )


@pytest.fixture(scope="module", autouse=True)
def report(request):
    """Print how many examples ran and what they found (the figures of the closing note)."""
    yield
    line = (
        f"schemathesis: {TALLY['examples']} examples over {TALLY['operations']} operations, "
        f"{TALLY['server_errors']} server errors, {TALLY['violations']} spec violations"
    )
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + line)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=not _LONG_RUN,
    deadline=None,  # a shared 2-core machine: timing is no property of the API
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_spec(case, api_app):
    TALLY["examples"] += 1
    if TALLY[case.operation.label] == 0:
        TALLY["operations"] += 1
    TALLY[case.operation.label] += 1
    # The app is per test (fresh Redis and simulator); the probes of the auth checks use it too.
    case.operation.app = case.operation.schema.app = api_app
    headers = AUTH if _uses_pi_key(case) and not _drops_headers(case) else None
    if isinstance(case.headers, MutableMapping) and "Idempotency-Key" in case.headers:
        # A key names one request: drawn keys repeat across examples (a 422 is then right).
        case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key']}-{uuid.uuid4()}"
    expected = _cross_parameter_status(case, headers)
    if expected is not None:
        # A rule across two parameters, which OpenAPI cannot say: assert it here.
        response = case.call(headers=headers)
        assert response.status_code == expected, response.text
        return
    try:
        response = case.call_and_validate(headers=headers)
    except BaseException as exc:
        failures = getattr(exc, "exceptions", [exc])
        TALLY["violations"] += 1
        TALLY["server_errors"] += any(type(f).__name__ == "ServerError" for f in failures)
        raise
    if response.status_code >= 500:
        TALLY["server_errors"] += 1


def _uses_pi_key(case) -> bool:
    security = case.operation.definition.raw.get("security") or []
    return any("piApiKey" in item for item in security)


def _drops_headers(case) -> bool:
    """Return True when the case tests invalid headers (our key would undo that)."""
    return case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)


def _given(query: dict, name: str) -> bool:
    """Return True when a query value reaches the server as a real value (not blank)."""
    value = query.get(name)
    if isinstance(value, list):
        value = value[0] if value else None  # the server reads the first value
    if value is None:
        return False
    text = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
    return str(text) != "" and not PLACEHOLDER.match(str(text))


def _cross_parameter_status(case, headers: dict | None) -> int | None:
    """Return the status a rule across parameters dictates for the case, if one applies."""
    if case.method.upper() != case.operation.method.upper():
        return None  # a probe of another method
    query = case.query if isinstance(case.query, dict) else {}
    path = case.operation.path
    if path == "/zapier/v1/searches/brand" and not any(
        _given(query, name) for name in ("brand_id", "domain")
    ):
        try:
            account_from_header((headers or case.headers or {}).get("Authorization"))
        except Unauthorized:
            return 401
        return 400  # give brand_id or domain
    if path == "/shopify/install" and "hmac" in query:
        # A signed install link is checked like the OAuth callback: shop, hmac, then time.
        try:
            require_shop(query.get("shop"))
        except BadRequest:
            return 400
        if not query["hmac"]:
            return 401
        if not re.fullmatch(r"-?[0-9]+", str(query.get("timestamp", "")).strip()):
            return 400
    return None
