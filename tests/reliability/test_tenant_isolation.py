"""Tenant isolation: account B never reads, deletes or lists account A's jobs, brands or hooks.

Every route of the app whose URL carries an id is listed in PATH_ID_ROUTES and checked here;
`test_every_route_with_an_id_in_its_path_is_covered` fails when a new one appears. Ids passed
in the query string (the Zapier searches) are listed in QUERY_ID_ROUTES.
"""

from __future__ import annotations

import re

import pytest

from connector.auth import account_id_for
from connector.ledger import get_ledger
from tests.zapier_app.helpers import KEY_A, KEY_B, add_job, auth

# endpoint -> (method, path, which of A's ids it takes, the error code B gets with a 404)
PATH_ID_ROUTES = {
    "api_v1.get_job": ("GET", "/v1/jobs/{id}", "job", "job_not_found"),
    "api_v1.job_deliveries": ("GET", "/v1/jobs/{id}/deliveries", "job", "job_not_found"),
    "api_v1.redeliver_one": (
        "POST",
        "/v1/jobs/{id}/deliveries/dlv_0123456789ab/redeliver",
        "job",
        "job_not_found",
    ),
    "manychat.get_job": ("GET", "/manychat/v1/jobs/{id}", "job", "job_not_found"),
    "manychat.get_brand": ("GET", "/manychat/v1/brands/{id}", "brand", "brand_not_found"),
    "zapier.unsubscribe": ("DELETE", "/zapier/v1/hooks/{id}", "hook", "hook_not_found"),
}
JOBS = ("brand", "failed", "image", "pending")
QUERY_ID_ROUTES = {
    "zapier.search_job": "[]",
    "zapier.search_brand": "[]",
    "zapier.trigger_brands": "B's own entries only",
    "zapier.trigger_jobs": "B's own entries only",
}
_ID_LIKE = re.compile(r"(^|_)(id|uuid|key|token)$")
# The operator console works across accounts by design; it answers only to a signed-in
# operator (tests/connector/web/test_console.py checks its sign-in, CSRF and rate limit).
OPERATOR_ROUTES = {"console.job", "console.redeliver_one"}


@pytest.fixture
def app_config(app_config):
    """Answer ManyChat reads at once: Pi (unreachable here) is not what is under test."""
    return {**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 0}


@pytest.fixture
def accounts(app):
    """Give A a completed brand, a failed job, an image and a hook; give B a brand of its own."""
    with app.app_context():
        ledger = get_ledger()
        a = {
            "brand": add_job(ledger, KEY_A, domain="acme.example"),
            "failed": add_job(ledger, KEY_A, status="failed", error="site unreachable"),
            "image": add_job(
                ledger, KEY_A, kind="image_generation", image_url="https://cdn.example/a.png"
            ),
            "pending": add_job(ledger, KEY_A, status="processing", domain="pending.example"),
        }
        # B extracted the same domain: Pi keys brands per org, so B has its own brand id.
        b = {"brand": add_job(ledger, KEY_B, domain="acme.example")}
    hook = app.test_client().post(
        "/zapier/v1/hooks",
        json={"target_url": "https://93.184.216.34/a-hook", "event": "job.completed"},
        headers=auth(KEY_A),
    )
    assert hook.status_code == 201
    a["hook_id"] = hook.get_json()["id"]
    return a, b


def _a_ids(a) -> set[str]:
    return {a[name].job_id for name in JOBS} | {a["brand"].brand_id, a["hook_id"]}


def _leaks(text: str, a) -> set[str]:
    return {value for value in _a_ids(a) if value in text}


def test_every_route_with_an_id_in_its_path_is_covered(app):
    with_ids = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if any(_ID_LIKE.search(arg) for arg in rule.arguments)
    }
    assert with_ids, "the app has no id routes: the check itself is broken"
    uncovered = with_ids - set(PATH_ID_ROUTES) - OPERATOR_ROUTES
    assert not uncovered, f"not covered: {uncovered}"
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(QUERY_ID_ROUTES) <= endpoints


@pytest.mark.parametrize("endpoint", sorted(PATH_ID_ROUTES))
def test_another_accounts_id_is_404_on_every_route_with_an_id(app, client, accounts, endpoint):
    a, _ = accounts
    method, template, what, code = PATH_ID_ROUTES[endpoint]
    ids = {
        "job": [a[name].job_id for name in JOBS],
        "brand": [a["brand"].brand_id],
        "hook": [a["hook_id"]],
    }[what]
    adapter = app.url_map.bind("localhost")
    for value in ids:
        path = template.format(id=value)
        assert adapter.match(path, method)[0] == endpoint  # the table names the right route
        theirs = client.open(path, method=method, headers=auth(KEY_B))
        assert theirs.status_code == 404
        assert theirs.get_json()["error"]["code"] == code
        assert _leaks(theirs.get_data(as_text=True), a) == set()
        if method == "GET":  # the control: the id is real and A reads it
            mine = client.get(path, headers=auth(KEY_A))
            assert mine.status_code == 200 and mine.get_json()[f"{what}_id"] == value
    # B's DELETE removed nothing of A's.
    hooks = app.extensions["subscriptions"].list_hooks(account_id_for(KEY_A))
    assert [h.id for h in hooks] == [a["hook_id"]]


def test_another_accounts_job_is_an_empty_search(client, accounts):
    a, _ = accounts
    for name in JOBS:
        query = {"job_id": a[name].job_id}
        assert len(client.get("/zapier/v1/searches/job", query_string=query, headers=auth()).json)
        theirs = client.get("/zapier/v1/searches/job", query_string=query, headers=auth(KEY_B))
        assert theirs.status_code == 200 and theirs.get_json() == []


def test_another_accounts_brand_is_an_empty_search_by_id(client, accounts):
    a, _ = accounts
    query = {"brand_id": a["brand"].brand_id}
    [mine] = client.get("/zapier/v1/searches/brand", query_string=query, headers=auth()).json
    assert mine["brand_id"] == a["brand"].brand_id
    theirs = client.get("/zapier/v1/searches/brand", query_string=query, headers=auth(KEY_B))
    assert theirs.status_code == 200 and theirs.get_json() == []


@pytest.mark.parametrize(
    "domain", ["acme.example", "https://acme.example/about", "pending.example"]
)
def test_search_by_domain_finds_only_the_callers_brand(client, accounts, domain):
    a, b = accounts
    found = client.get(
        "/zapier/v1/searches/brand", query_string={"domain": domain}, headers=auth(KEY_B)
    )
    assert found.status_code == 200
    assert _leaks(found.get_data(as_text=True), a) == set()
    if "acme" in domain:
        assert [item["brand_id"] for item in found.get_json()] == [b["brand"].brand_id]
    else:
        assert found.get_json() == []


@pytest.mark.parametrize(
    "query",
    [
        "/zapier/v1/triggers/brands",
        "/zapier/v1/triggers/jobs",
        "/zapier/v1/triggers/jobs?event=job.completed",
        "/zapier/v1/triggers/jobs?event=job.failed",
        "/zapier/v1/triggers/jobs?event=brand.extracted",
    ],
)
def test_trigger_lists_hold_only_the_callers_entries(client, accounts, query):
    a, b = accounts
    mine = client.get(query, headers=auth(KEY_A)).get_json()
    theirs = client.get(query, headers=auth(KEY_B))
    assert theirs.status_code == 200
    assert _leaks(theirs.get_data(as_text=True), a) == set()
    assert {item["job_id"] for item in theirs.get_json()} <= {b["brand"].job_id}
    assert mine, "A's own list is empty: the check would prove nothing"
    assert b["brand"].job_id not in {item["job_id"] for item in mine}


def test_finished_job_fans_out_only_to_its_own_accounts_hooks(app, client, accounts):
    a, b = accounts
    b_hook = client.post(
        "/zapier/v1/hooks",
        json={"target_url": "https://93.184.216.34/b-hook", "event": "job.completed"},
        headers=auth(KEY_B),
    ).get_json()["id"]
    subs = app.extensions["subscriptions"]
    with app.app_context():
        record_a = get_ledger().get(a["brand"].account_id, a["brand"].job_id)
        record_b = get_ledger().get(b["brand"].account_id, b["brand"].job_id)
        refs_a = [str(r) for r in subs.targets(record_a)]
        refs_b = [str(r) for r in subs.targets(record_b)]
    assert refs_a == [f"hook:{a['hook_id']}:job.completed"]
    assert refs_b == [f"hook:{b_hook}:job.completed"]
