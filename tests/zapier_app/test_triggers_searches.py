"""Polling triggers and searches: dedupe keys, order, limits, and account isolation."""

from __future__ import annotations

import time
import uuid

import pytest

from connector.ledger import get_ledger
from tests.zapier_app.helpers import KEY_A, KEY_B, add_job, auth, connector_keys


@pytest.fixture
def ledger(app):
    with app.app_context():
        yield get_ledger()


def test_brands_trigger_lists_newest_first_with_brand_id_as_id(client, ledger):
    base = time.time() - 100
    old = add_job(ledger, domain="old.example", finished_at=base)
    new = add_job(ledger, domain="new.example", finished_at=base + 10)

    items = client.get("/zapier/v1/triggers/brands", headers=auth()).get_json()

    assert [i["id"] for i in items] == [new.brand_id, old.brand_id]
    assert items[0]["brand_id"] == items[0]["id"]
    assert items[0]["domain"] == "new.example"


def test_brands_trigger_ids_are_stable_across_polls_and_unique_per_brand(client, ledger):
    base = time.time() - 100
    brand_id = str(uuid.uuid4())
    add_job(ledger, domain="acme.example", brand_id=brand_id, finished_at=base)
    add_job(ledger, domain="other.example", finished_at=base + 1)
    first = client.get("/zapier/v1/triggers/brands", headers=auth()).get_json()

    # Re-extracting the same brand gives the same id: Zapier must not see a new item.
    latest = add_job(ledger, domain="acme.example", brand_id=brand_id, finished_at=base + 2)
    second = client.get("/zapier/v1/triggers/brands", headers=auth()).get_json()

    ids = [i["id"] for i in second]
    assert len(ids) == len(set(ids)) == 2
    assert set(ids) == {i["id"] for i in first}
    assert second[0]["id"] == brand_id
    assert second[0]["job_id"] == latest.job_id  # the latest extraction's data


def test_brands_trigger_skips_failed_and_non_brand_jobs(client, ledger):
    add_job(ledger, domain="fail.example", status="failed", error="site unreachable")
    add_job(ledger, kind="image_generation", image_url="https://cdn.example.com/i.png")
    add_job(ledger, status="processing", domain="running.example")
    assert client.get("/zapier/v1/triggers/brands", headers=auth()).get_json() == []


def test_brands_trigger_honours_limit_and_defaults_to_50(client, ledger):
    base = time.time() - 1000
    for n in range(60):
        add_job(ledger, domain=f"b{n}.example", finished_at=base + n)

    assert len(client.get("/zapier/v1/triggers/brands", headers=auth()).get_json()) == 50
    three = client.get("/zapier/v1/triggers/brands?limit=3", headers=auth()).get_json()
    assert [i["domain"] for i in three] == ["b59.example", "b58.example", "b57.example"]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_brands_trigger_rejects_a_bad_limit_naming_it(client, limit):
    response = client.get(f"/zapier/v1/triggers/brands?limit={limit}", headers=auth())
    assert response.status_code == 400
    assert "limit" in response.get_json()["error"]["details"]


def test_another_account_sees_nothing(client, ledger):
    job = add_job(ledger, KEY_A, domain="mine.example")
    assert client.get("/zapier/v1/triggers/brands", headers=auth(KEY_B)).get_json() == []
    assert client.get("/zapier/v1/triggers/jobs", headers=auth(KEY_B)).get_json() == []
    assert (
        client.get(f"/zapier/v1/searches/job?job_id={job.job_id}", headers=auth(KEY_B)).get_json()
        == []
    )
    assert (
        client.get(
            f"/zapier/v1/searches/brand?brand_id={job.brand_id}", headers=auth(KEY_B)
        ).get_json()
        == []
    )
    assert (
        client.get("/zapier/v1/searches/brand?domain=mine.example", headers=auth(KEY_B)).get_json()
        == []
    )
    # ...while the owner sees it everywhere.
    assert client.get("/zapier/v1/triggers/brands", headers=auth(KEY_A)).get_json()


def test_jobs_trigger_lists_finished_jobs_newest_first_with_job_id_as_id(client, ledger):
    base = time.time() - 100
    a = add_job(ledger, domain="a.example", finished_at=base)
    b = add_job(
        ledger,
        kind="image_generation",
        image_url="https://cdn.example.com/b.png",
        finished_at=base + 1,
    )
    c = add_job(ledger, status="failed", domain="fail.example", error="boom", finished_at=base + 2)
    add_job(ledger, status="processing", domain="running.example")

    items = client.get("/zapier/v1/triggers/jobs", headers=auth()).get_json()

    assert [i["id"] for i in items] == [c.job_id, b.job_id, a.job_id]
    assert [i["event"] for i in items] == ["job.failed", "job.completed", "job.completed"]
    assert items[0]["error"] == "boom"
    assert items[1]["image_url"] == "https://cdn.example.com/b.png"
    again = client.get("/zapier/v1/triggers/jobs", headers=auth()).get_json()
    assert [i["id"] for i in again] == [i["id"] for i in items]


def test_jobs_trigger_filters_by_event(client, ledger):
    base = time.time() - 100
    brand = add_job(ledger, domain="a.example", finished_at=base)
    image = add_job(ledger, kind="image_generation", finished_at=base + 1)
    failed = add_job(ledger, status="failed", domain="f.example", finished_at=base + 2)

    def ids(event: str) -> list[str]:
        items = client.get(f"/zapier/v1/triggers/jobs?event={event}", headers=auth()).get_json()
        assert {i["event"] for i in items} <= {event}
        return [i["id"] for i in items]

    assert ids("job.failed") == [failed.job_id]
    assert ids("job.completed") == [image.job_id, brand.job_id]
    assert ids("brand.extracted") == [brand.job_id]
    bad = client.get("/zapier/v1/triggers/jobs?event=job.started", headers=auth())
    assert bad.status_code == 400 and "event" in bad.get_json()["error"]["details"]


def test_every_object_has_exactly_the_generated_output_fields(client, ledger):
    job = add_job(ledger, domain="acme.example")
    for path, name in (
        ("/zapier/v1/triggers/brands", "brand"),
        (f"/zapier/v1/searches/job?job_id={job.job_id}", "object"),
        (f"/zapier/v1/searches/brand?brand_id={job.brand_id}", "brand"),
        ("/zapier/v1/triggers/jobs", "event"),
    ):
        [item] = client.get(path, headers=auth()).get_json()
        assert list(item) == connector_keys(name), path


def test_job_search_returns_one_element_or_empty(client, ledger):
    job = add_job(ledger, domain="acme.example")
    [found] = client.get(f"/zapier/v1/searches/job?job_id={job.job_id}", headers=auth()).get_json()
    assert found["id"] == found["job_id"] == job.job_id
    assert found["brand_id"] == job.brand_id and found["status"] == "completed"
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        response = client.get(f"/zapier/v1/searches/job?job_id={unknown}", headers=auth())
        assert response.status_code == 200 and response.get_json() == []


def test_job_search_requires_job_id(client):
    response = client.get("/zapier/v1/searches/job", headers=auth())
    assert response.status_code == 400
    assert "job_id" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "query", ["domain=acme.example", "domain=https://www.acme.example/about", "domain=ACME.example"]
)
def test_brand_search_by_domain_finds_the_latest_extraction(client, ledger, query):
    add_job(ledger, domain="other.example")
    brand = add_job(ledger, domain="acme.example")
    [found] = client.get(f"/zapier/v1/searches/brand?{query}", headers=auth()).get_json()
    assert found["id"] == found["brand_id"] == brand.brand_id


def test_brand_search_by_id_and_unknown_ids(client, ledger):
    brand = add_job(ledger, domain="acme.example")
    [found] = client.get(
        f"/zapier/v1/searches/brand?brand_id={brand.brand_id}", headers=auth()
    ).get_json()
    assert found["domain"] == "acme.example"
    for query in (f"brand_id={uuid.uuid4()}", "brand_id=nope", "domain=unknown.example"):
        assert client.get(f"/zapier/v1/searches/brand?{query}", headers=auth()).get_json() == []


def test_brand_search_needs_an_id_or_a_domain(client):
    response = client.get("/zapier/v1/searches/brand", headers=auth())
    assert response.status_code == 400
    assert "brand_id" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "path",
    [
        "/zapier/v1/triggers/brands",
        "/zapier/v1/triggers/jobs",
        "/zapier/v1/searches/job?job_id=x",
        "/zapier/v1/searches/brand?domain=a.example",
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer short", "Bearer bad key!"])
def test_missing_or_garbled_key_is_401(client, path, header):
    headers = {"Authorization": header} if header else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "path",
    [
        "/zapier/v1/triggers/brands/",
        "/zapier/v1/triggers/jobs/",
        "/zapier/v1/searches/job/?job_id=x",
    ],
)
def test_trailing_slashes_never_redirect(client, path):
    response = client.get(path, headers=auth())
    assert response.status_code not in (301, 302, 307, 308)
    assert "Location" not in response.headers
