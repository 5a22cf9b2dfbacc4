"""The Brand dropdown's pages and labels, the Job Finished kind filter, and their bad input."""

from __future__ import annotations

import time
import uuid

import pytest
import responses

from connector.ledger import JobRecord, get_ledger
from tests.zapier_app.helpers import (
    KEY_A,
    KEY_B,
    add_job,
    auth,
    brand_summary,
    connector_keys,
)
from zapier_app.generate import build
from zapier_app.objects import brand_object
from zapier_app.schemas import MAX_PAGE


@pytest.fixture
def ledger(app):
    with app.app_context():
        yield get_ledger()


@pytest.fixture
def pi():
    """Fake Pi at the transport: an unregistered call fails, and every call is recorded."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _brands(client, query: str = "", key: str = KEY_A) -> list[dict]:
    response = client.get(f"/zapier/v1/triggers/brands{query}", headers=auth(key))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_brand_pages_cover_every_brand_once_newest_first(client, ledger):
    base = time.time() - 100
    made = [add_job(ledger, domain=f"b{n}.example", finished_at=base + n) for n in range(5)]
    newest_first = [r.brand_id for r in reversed(made)]

    pages = [[i["id"] for i in _brands(client, f"?limit=2&page={p}")] for p in range(4)]

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5], []]
    assert _brands(client, "?limit=2") == _brands(client, "?limit=2&page=0")


def test_the_default_page_size_is_the_documented_one(client, ledger):
    base = time.time() - 1000
    for n in range(build()["brandPages"]["size"] + 3):
        add_job(ledger, domain=f"p{n}.example", finished_at=base + n)
    size = build()["brandPages"]["size"]
    assert len(_brands(client, "?page=0")) == size
    assert [i["domain"] for i in _brands(client, "?page=1")] == [
        "p2.example",
        "p1.example",
        "p0.example",
    ]


def test_brands_are_labelled_with_name_and_domain(client, ledger):
    job = add_job(ledger, domain="acme.example")
    [item] = _brands(client)
    assert item["label"] == "Acme (acme.example)"
    assert item["id"] == item["brand_id"] == job.brand_id
    [found] = client.get("/zapier/v1/searches/brand?domain=acme.example", headers=auth()).get_json()
    assert found == item
    assert list(item) == [f["key"] for f in build()["outputFields"]["brand"]]


@pytest.mark.parametrize(
    ("name", "domain", "label"),
    [("Acme", "acme.example", "Acme (acme.example)"), (None, "acme.example", "acme.example")],
)
def test_a_label_uses_what_is_known_of_the_brand(name, domain, label):
    record = JobRecord(
        job_id=str(uuid.uuid4()),
        account_id="a",
        kind="brand_extraction",
        input={"url": f"https://{domain}"},
        origin="zapier",
        status="completed",
        brand_id=str(uuid.uuid4()),
    )
    record.brand = {**brand_summary(record.brand_id, domain), "brand_name": name}
    assert brand_object(record)["label"] == label
    record.brand, record.input = {"brand_id": record.brand_id}, {}
    assert brand_object(record)["label"] == record.brand_id


def test_another_accounts_brands_are_on_no_page(client, ledger):
    add_job(ledger, KEY_A, domain="mine.example")
    for page in range(3):
        assert _brands(client, f"?page={page}", key=KEY_B) == []


@pytest.mark.parametrize("page", ["", "{{bundle.meta.page}}"])
def test_an_unmapped_page_is_the_first_page(client, ledger, page):
    add_job(ledger, domain="acme.example")
    assert _brands(client, f"?page={page}") == _brands(client)


def _jobs(client, query: str) -> list[dict]:
    response = client.get(f"/zapier/v1/triggers/jobs{query}", headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_jobs_trigger_filters_by_kind(client, ledger):
    base = time.time() - 100
    brand = add_job(ledger, domain="a.example", finished_at=base)
    image = add_job(ledger, kind="image_generation", image_url="https://c.example/i.png")
    campaign = add_job(ledger, kind="campaign_render", finished_at=base + 2)
    failed = add_job(ledger, kind="campaign_render", status="failed", finished_at=base + 3)

    def ids(query: str) -> list[str]:
        return [i["id"] for i in _jobs(client, query)]

    assert ids("?kind=brand_extraction") == [brand.job_id]
    assert ids("?kind=image_generation") == [image.job_id]
    assert ids("?kind=campaign_render") == [failed.job_id, campaign.job_id]
    assert ids("?kind=campaign_render&event=job.completed") == [campaign.job_id]
    assert ids("?kind=campaign_render&event=job.failed") == [failed.job_id]
    assert ids("?kind=image_generation&event=brand.extracted") == []
    assert ids("?kind=brand_extraction&event=brand.extracted") == [brand.job_id]
    assert set(ids("?kind=")) == {brand.job_id, image.job_id, campaign.job_id, failed.job_id}
    [item] = _jobs(client, "?kind=image_generation")
    assert item["event"] == "job.completed" and item["kind"] == "image_generation"
    assert list(item) == connector_keys("event")


def test_the_kind_filter_honours_the_limit(client, ledger):
    base = time.time() - 100
    for n in range(5):
        add_job(ledger, kind="image_generation", finished_at=base + n)
        add_job(ledger, domain=f"k{n}.example", finished_at=base + n + 0.5)
    items = _jobs(client, "?kind=image_generation&limit=3")
    assert len(items) == 3 and {i["kind"] for i in items} == {"image_generation"}


BAD_QUERIES = [
    *(
        ("/zapier/v1/triggers/brands", "page", page)
        for page in ("-1", "abc", "1.5", str(MAX_PAGE + 1), str(10**30), "NaN", "1e3", "0x10")
    ),
    *(
        ("/zapier/v1/triggers/jobs", "kind", kind)
        for kind in ("video", "BRAND_EXTRACTION", "brand.extracted", "1", "[]")
    ),
]


@pytest.mark.parametrize(("path", "name", "value"), BAD_QUERIES)
def test_a_bad_page_or_kind_is_400_naming_it_and_never_reaches_pi(client, pi, path, name, value):
    response = client.get(path, query_string={name: value}, headers=auth())
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert name in error["details"] and name in error["message"]
    assert not [c for c in pi.calls if c.request.method == "POST"]


@pytest.mark.parametrize(
    "path",
    [
        "/zapier/v1/triggers/brands?page=1",
        "/zapier/v1/triggers/jobs?kind=image_generation",
        "/zapier/v1/searches/brand?domain=acme.example",
    ],
)
def test_the_new_queries_still_need_a_key(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "query",
    ["domain=", "domain=%20", "domain=not%20a%20domain", "domain=" + "a" * 5000, "brand_id=x"],
)
def test_the_brand_search_never_fails_on_odd_domains(client, pi, query):
    response = client.get(f"/zapier/v1/searches/brand?{query}", headers=auth())
    assert response.status_code in (200, 400), response.get_json()
    body = response.get_json()
    assert body == [] or body["error"]["code"]
    assert not [c for c in pi.calls if c.request.method == "POST"]
