"""The body rules ManyChat and Zapier share, and how each platform reads absent values."""

from __future__ import annotations

import pytest

from connector.web.bodies import drop_unmapped, is_placeholder, with_scheme
from manychat_app.schemas import ExtractInput, is_unfilled
from zapier_app.schemas import ExtractBrandInput, GenerationInput, is_unmapped


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme.com", "https://acme.com"),
        (" acme.com/about?x=1 ", "https://acme.com/about?x=1"),
        ("https://acme.com", "https://acme.com"),
        ("acme", "acme"),
        ("acme.com/x://y", "acme.com/x://y"),
        (42, 42),
    ],
)
def test_with_scheme_reads_a_bare_domain_as_https(value, expected):
    assert with_scheme(value) == expected


def test_drop_unmapped_cleans_lists_only_when_asked():
    data = {"a": None, "b": ["x", None], "c": [None], "d": "y"}
    assert drop_unmapped(data, lambda v: v is None) == {"b": ["x", None], "c": [None], "d": "y"}
    assert drop_unmapped(data, lambda v: v is None, in_lists=True) == {"b": ["x"], "d": "y"}


def test_manychat_counts_a_merge_field_anywhere_as_unfilled_and_zapier_only_a_whole_one():
    for value in ("{{cuf_1}}", " {{name}} ", "x{{name}}y", "   ", None):
        assert is_unfilled(value), value
    for value in ("{{cuf_1}}", " {{name}} ", "", None):
        assert is_unmapped(value), value
    assert not is_unmapped("x{{name}}y")
    assert not is_unmapped("   ")
    assert not is_placeholder("x{{name}}y")


def test_manychat_reads_numbers_as_text_and_trims():
    body = ExtractInput().load(
        {
            "url": " acme.com ",
            "subscriber_id": 12345.0,
            "manychat_api_key": " key-12345 ",
            "flow_ns": "x{{flow}}",
        }
    )
    assert body == {
        "url": "https://acme.com",
        "subscriber_id": "12345",
        "manychat_api_key": "key-12345",
        "flow_ns": None,
    }


def test_zapier_cleans_lists_and_reads_a_bare_domain():
    body = GenerationInput().load(
        {"prompt": "a sale", "reference_images": ["{{img}}", "", "QUJD"], "brand_id": "{{b}}"}
    )
    assert body["reference_images"] == ["QUJD"]
    assert body["brand_id"] is None
    assert ExtractBrandInput().load({"url": " acme.com "})["url"] == "https://acme.com"
