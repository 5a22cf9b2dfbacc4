"""Brands: upsert on (org, domain), ISO timestamps, listing rules."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.connector.pisim.helpers import assert_error


@pytest.fixture(autouse=True)
def _quick_jobs(pisim):
    pisim.configure(job_seconds=0.1)


def _brand_id(pi, url: str) -> str:
    return pi.wait(pi.extract(url))["payload"]["brand_id"]


def test_same_domain_same_org_gives_the_same_brand_id(pi):
    first = _brand_id(pi, "https://acme.com")
    again = _brand_id(pi, "https://WWW.acme.com/shop?x=1")
    assert first == again
    page = pi.get("/brands").json()["data"]
    assert page["total_count"] == 1


def test_other_org_gets_its_own_brand_for_the_same_domain(pi, other_pi):
    assert _brand_id(pi, "https://acme.com") != _brand_id(other_pi, "https://acme.com")


def test_extraction_without_url_makes_a_new_brand_each_time(pi):
    ids = {
        pi.wait(pi.create("/brands/extract", {"logoBase64": "aGk="}))["payload"]["brand_id"]
        for _ in range(2)
    }
    assert len(ids) == 2


def test_brand_row_has_iso_timestamps_and_derived_fields(pi):
    brand_id = _brand_id(pi, "https://acme.com")
    body = pi.get(f"/brands/{brand_id}").json()
    assert body["object"] == "brand" and body["status"] == "completed"
    brand = body["data"]
    for key in ("created_at", "updated_at"):
        assert isinstance(brand[key], str)
        datetime.fromisoformat(brand[key])
    assert brand["name"] == "Acme"
    assert brand["primary_hex"] == brand["brand_dna"]["primary_background_hex"]
    assert brand["secondary_hex"] == brand["brand_dna"]["primary_accent_hex"]
    assert len(brand["brand_dna"]["color_palette"]) == 4
    assert set(brand["layout_rules"]) == {
        "typography_rules",
        "core_slogan",
        "imagen_style_conditioning",
    }
    assert brand["logo_url"] is None


def test_brand_of_other_org_and_missing_brand_are_404(pi, other_pi):
    brand_id = _brand_id(pi, "https://acme.com")
    assert_error(other_pi.get(f"/brands/{brand_id}"), 404, "brand_not_found")
    assert_error(pi.get(f"/brands/{uuid.uuid4()}"), 404, "brand_not_found")
    assert_error(pi.get("/brands/nope"), 400, "invalid_brand_id")
    assert_error(
        pi.get(f"/brands/{brand_id}", params={"fields": "id,name"}), 404, "brand_not_found"
    )


def test_list_is_newest_first_with_query_limit_and_offset(pi, other_pi):
    for url in ("https://alpha.com", "https://beta.com", "https://alphabet.io"):
        _brand_id(pi, url)
    _brand_id(other_pi, "https://alpha.com")
    page = pi.get("/brands").json()
    assert page["object"] == "list"
    names = [b["name"] for b in page["data"]["data"]]
    assert names == ["Alphabet", "Beta", "Alpha"]
    found = pi.get("/brands", params={"query": "ALPHA"}).json()["data"]
    assert [b["name"] for b in found["data"]] == ["Alphabet", "Alpha"]
    second = pi.get("/brands", params={"limit": 1, "offset": 1}).json()["data"]
    assert [b["name"] for b in second["data"]] == ["Beta"]
    assert second["total_count"] == 3 and second["has_more"] is True


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"offset": "-1"}, {"expand": "brand"}],
)
def test_bad_list_params_are_400_invalid_query_params(pi, params):
    assert_error(pi.get("/brands", params=params), 400, "invalid_query_params")


def test_latest_job_expansion_names_the_job(pi):
    job_id = pi.extract("https://acme.com")
    pi.wait(job_id)
    brand = pi.get("/brands", params={"expand": "latest_job"}).json()["data"]["data"][0]
    assert brand["latest_job"]["id"] == job_id
