"""The Brand colours app block rendered with python-liquid from the metafield the app writes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from shopify_app.queries import brand_metafields
from tests.shopify_app.theme_liquid import (
    BLOCK,
    EXTENSION,
    block_schema,
    locale,
    lookup,
    render_block,
)

FIELDS = {
    "brand_id": "6c2e7b68-0000-4000-8000-000000000002",
    "brand_name": "Acme & Sons",
    "domain": "acme.example",
    "primary_hex": "#1A2B3C",
    "secondary_hex": "#F5F5F0",
    "logo_url": "https://cdn.acme.example/logo.png",
}


class Elements(HTMLParser):
    """Collect start tags with their attributes and the text of the whole fragment."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and (cls is None or cls in (a.get("class") or "").split())
        ]


def _brand(**changes) -> dict:
    """Return `app.metafields.pi.brand.value` as the install task's metafieldsSet writes it."""
    inputs = brand_metafields("gid://shopify/AppInstallation/1", FIELDS)
    (brand,) = [m for m in inputs if m["key"] == "brand" and m["type"] == "json"]
    return {**json.loads(brand["value"]), **changes}


def test_a_completed_brand_shows_logo_name_and_both_colours():
    html = render_block(_brand())
    page = Elements(html)
    (root,) = page.find("div", "pi-brand")
    assert root["style"] == "--pi-brand-swatch-size: 48px;"  # the schema's default size
    (logo,) = page.find("img")
    assert logo["src"] == FIELDS["logo_url"]
    assert logo["alt"] == "Acme & Sons logo"  # escaped in the HTML, read back unescaped
    assert "Acme &amp; Sons" in html and "Acme & Sons<" not in html
    (name,) = page.find("p", "pi-brand__name")
    chips = page.find("span", "pi-brand__chip")
    assert [c["style"] for c in chips] == [
        "background-color: #1a2b3c;",
        "background-color: #f5f5f0;",
    ]
    assert all(c["aria-hidden"] == "true" for c in chips)  # the label says it in text
    assert page.text == [
        "Acme & Sons",
        "Primary colour",
        "#1A2B3C",
        "Secondary colour",
        "#F5F5F0",
    ]
    (swatches,) = page.find("ul", "pi-brand__swatches")
    assert swatches["aria-label"] == "Brand colours"
    # Styles come from the extension's asset, never inline blocks.
    assert "<style" not in html and "<script" not in html


def test_a_brand_without_logo_shows_no_image_and_no_empty_alt():
    for logo in (None, "", "  "):
        page = Elements(render_block(_brand(logo_url=logo)))
        assert page.find("img") == []
        assert page.text[0] == "Acme & Sons"
        assert len(page.find("li", "pi-brand__swatch")) == 2


def test_a_logo_without_a_brand_name_gets_a_generic_alt_text():
    page = Elements(render_block(_brand(brand_name=None)))
    (logo,) = page.find("img")
    assert logo["alt"] == "Brand logo"
    assert page.find("p", "pi-brand__name") == []


@pytest.mark.parametrize(
    "brand",
    [None, {}, {"brand_name": "Acme", "primary_hex": "#123456"}],
    ids=["no-metafield", "empty-json", "no-brand-id"],
)
def test_no_brand_yet_renders_nothing(brand):
    assert render_block(brand).strip() == ""


def test_nothing_is_rendered_when_no_chosen_part_has_a_value():
    bare = _brand(logo_url=None, primary_hex=None, secondary_hex="not a colour")
    assert render_block(bare, show_name=False).strip() == ""
    assert render_block(_brand(), show_logo=False, show_name=False, show_colours=False) == "\n"


def test_settings_choose_what_the_block_shows():
    page = Elements(render_block(_brand(), show_logo=False))
    assert page.find("img") == [] and page.find("p", "pi-brand__name")
    page = Elements(render_block(_brand(), show_name=False))
    assert page.find("p", "pi-brand__name") == [] and page.find("img")
    page = Elements(render_block(_brand(), show_colours=False))
    assert page.find("ul") == [] and page.find("span", "pi-brand__chip") == []


@pytest.mark.parametrize(("size", "css"), [(80, "80px"), (500, "96px"), (0, "16px"), ("x", "16px")])
def test_swatch_size_is_a_clamped_number_of_pixels(size, css):
    (root,) = Elements(render_block(_brand(), swatch_size=size)).find("div", "pi-brand")
    assert root["style"] == f"--pi-brand-swatch-size: {css};"


@pytest.mark.parametrize(
    "value",
    ["red", "#12345g", "#1234", "1a2b3c", "#1a2b3c;}</style><script>", "#fff; background: url(x)"],
)
def test_only_hex_colours_reach_the_style_attribute(value):
    html = render_block(_brand(primary_hex=value, secondary_hex=value))
    page = Elements(html)
    assert page.find("ul") == []  # no swatch list when no colour is valid
    assert "<script" not in html and "url(" not in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:image/png;base64,AAAA", "/logo.png"])
def test_only_web_addresses_become_the_logo_source(url):
    assert Elements(render_block(_brand(logo_url=url))).find("img") == []


def test_every_storefront_text_comes_from_the_default_locale():
    strings = locale()
    sources = [BLOCK, *sorted((EXTENSION / "snippets").glob("*.liquid"))]
    keys = {k for path in sources for k in re.findall(r"'([\w.]+)'\s*\|\s*t\b", path.read_text())}
    assert keys == {
        "pi_brand.colours",
        "pi_brand.primary",
        "pi_brand.secondary",
        "pi_brand.logo_alt",
        "pi_brand.logo_alt_unnamed",
    }
    for key in keys:
        assert isinstance(lookup(strings, key), str), key


def test_every_editor_text_of_the_schema_is_translated():
    strings = locale("en.default.schema.json")
    text = json.dumps(block_schema())
    keys = re.findall(r'"t:([\w.]+)"', text)
    assert keys, "the schema names and labels come from the schema locale"
    for key in keys:
        assert isinstance(lookup(strings, key), str), key


def test_every_setting_the_block_reads_is_declared_in_its_schema():
    declared = {s["id"] for s in block_schema()["settings"] if "id" in s}
    used = set(re.findall(r"block\.settings\.(\w+)", BLOCK.read_text()))
    assert used and used <= declared, used - declared
