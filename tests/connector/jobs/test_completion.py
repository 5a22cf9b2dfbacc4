"""What a job's end writes: the brand summary with a bare-host domain."""

from __future__ import annotations

from connector.jobs.completion import brand_summary

PI_BRAND = {
    "id": "0b9f8f5e-8e0e-4b5a-9d7a-1f2e3d4c5b6a",
    "name": "Acme",
    "primary_hex": "#112233",
    "secondary_hex": "#445566",
    "logo_url": "https://cdn.example.com/acme.png",
}


def test_the_domain_falls_back_to_the_bare_host_of_the_submitted_url():
    summary = brand_summary(PI_BRAND, "https://www.Acme.com/about?x=1")
    assert summary["domain"] == "acme.com"


def test_pi_s_own_domain_is_kept_as_a_bare_host():
    assert (
        brand_summary({**PI_BRAND, "domain": "acme.com"}, "https://other.example")["domain"]
        == "acme.com"
    )
    assert brand_summary({**PI_BRAND, "domain": "https://www.acme.com/"}, None)["domain"] == (
        "acme.com"
    )


def test_no_domain_at_all_stays_null():
    assert brand_summary(PI_BRAND, None)["domain"] is None
    assert brand_summary(None, "https://acme.com") is None


def test_the_summary_carries_the_brand_fields():
    summary = brand_summary(PI_BRAND, "https://acme.com")
    assert summary == {
        "brand_id": PI_BRAND["id"],
        "brand_name": "Acme",
        "domain": "acme.com",
        "primary_hex": "#112233",
        "secondary_hex": "#445566",
        "logo_url": "https://cdn.example.com/acme.png",
    }
