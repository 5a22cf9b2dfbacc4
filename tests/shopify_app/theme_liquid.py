"""Render the theme app extension's blocks with python-liquid, shaped like a Shopify storefront.

Shopify renders app blocks with its own Liquid; here python-liquid stands in, with what the
storefront adds that plain Liquid lacks: a `{% schema %}` tag that outputs nothing, the `t`
filter reading the extension's storefront locale, and `render` finding the extension's snippets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from liquid import Environment, FileSystemLoader, ast
from liquid.exceptions import LiquidSyntaxError
from liquid.tag import Tag
from liquid.token import TOKEN_EOF, TOKEN_TAG

EXTENSION = Path(__file__).resolve().parents[2] / "shopify_app" / "extensions" / "pi-brand"
BLOCK = EXTENSION / "blocks" / "brand-colours.liquid"
SCHEMA_RE = re.compile(r"\{%-?\s*schema\s*-?%\}(.*?)\{%-?\s*endschema\s*-?%\}", re.DOTALL)
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class SchemaNode(ast.Node):
    """The block's settings schema: read by the theme editor, never rendered."""

    __slots__ = ("text",)

    def __init__(self, token, text: str) -> None:
        super().__init__(token)
        self.text = text

    def render_to_output(self, context, buffer) -> int:  # noqa: ARG002 - outputs nothing
        return 0


class SchemaTag(Tag):
    """`{% schema %}…{% endschema %}`: keep the JSON, output nothing (as Shopify does)."""

    name = "schema"
    end = "endschema"
    block = True

    def parse(self, stream) -> SchemaNode:
        token = stream.eat(TOKEN_TAG)
        text: list[str] = []
        while not (stream.current.kind == TOKEN_TAG and stream.current.value == self.end):
            if stream.current.kind == TOKEN_EOF:
                raise LiquidSyntaxError("schema tag was never closed", token=token)
            text.append(stream.current.value)
            next(stream)
        return SchemaNode(token, "".join(text))


def locale(name: str = "en.default.json") -> dict[str, Any]:
    """Return one of the extension's locale files."""
    return json.loads((EXTENSION / "locales" / name).read_text())


def lookup(strings: dict[str, Any], key: str) -> Any:
    """Return the value at a dotted key of a locale (KeyError when missing)."""
    value: Any = strings
    for part in key.split("."):
        value = value[part]
    return value


def translate(key: str, **values: Any) -> str:
    """Shopify's `t` filter on the storefront locale, with `{{ name }}` interpolation."""
    text = lookup(locale(), str(key))
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), text)


def environment() -> Environment:
    """Return a Liquid environment with the storefront's extras for app blocks."""
    env = Environment(loader=FileSystemLoader(EXTENSION / "snippets", ext=".liquid"))
    env.add_tag(SchemaTag)
    env.add_filter("t", translate)
    return env


def block_schema(path: Path = BLOCK) -> dict[str, Any]:
    """Return the parsed `{% schema %}` JSON of a block file."""
    (text,) = SCHEMA_RE.findall(path.read_text())
    return json.loads(text)


def default_settings(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `block.settings` as a freshly added block has them: the schema's defaults."""
    settings = {}
    for setting in schema.get("settings", []):
        if "id" in setting:
            # A checkbox without a default starts unchecked; other inputs start empty.
            fallback = False if setting["type"] == "checkbox" else None
            settings[setting["id"]] = setting.get("default", fallback)
    return settings


def render_block(brand: dict[str, Any] | None, **settings: Any) -> str:
    """Render the Brand colours block as the storefront would for a shop with `brand`."""
    metafields: dict[str, Any] = {}
    if brand is not None:
        # A json metafield: `.value` is the parsed object (Shopify parses it for Liquid).
        metafields["brand"] = {"type": "json", "value": brand}
    block = {
        "id": "AbCdEf123",
        "settings": {**default_settings(block_schema()), **settings},
    }
    template = environment().from_string(BLOCK.read_text())
    return template.render(app={"metafields": {"pi": metafields}}, block=block)
