"""The theme app extension keeps to what Shopify CLI and the theme editor document and accept.

Key sets come from Shopify's references, read when this was written:
- shopify.extension.toml: the CLI's extension base schema (name, type, handle, uid, ...), its
  handle and uid rules, and its theme checks (folders, file types, size limits);
- block `{% schema %}`: the theme app extension schema attributes (name, target, stylesheet, ...);
- settings: the input and sidebar setting types with their attributes (theme-liquid-docs).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.shopify_app.theme_liquid import BLOCK, EXTENSION, block_schema

# shopify.extension.toml -------------------------------------------------------------------
TOML_KEYS = {
    "name",
    "type",
    "handle",
    "uid",
    "description",
    "api_version",
    "extension_points",
    "capabilities",
    "supported_features",
    "settings",
}
TOML_REQUIRED = {"name", "type"}
HANDLE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,48}[a-zA-Z0-9])?$")
UID = re.compile(r"^[a-zA-Z0-9${}.()_`](?:[a-zA-Z0-9${}.()_`-]{0,248}[a-zA-Z0-9${}.()_`])?$")
# Shopify maps the deployed extension by this id: changing it would orphan every placed block.
DEPLOYED_UID = "850ad576-b0a3-ce7c-1e89-e42039946bdf7f990a93"
DROP = object()

FOLDERS = {
    "assets": (".jpg", ".jpeg", ".json", ".js", ".css", ".png", ".svg", ".wasm"),
    "blocks": (".liquid",),
    "locales": (".json",),
    "snippets": (".liquid",),
}
BUNDLE_LIMIT = 10 * 1024 * 1024
LIQUID_LIMIT = 500 * 1024

# Block schema -----------------------------------------------------------------------------
SCHEMA_KEYS = {
    "name",
    "target",
    "javascript",
    "stylesheet",
    "tag",
    "class",
    "settings",
    "available_if",
    "enabled_on",
    "disabled_on",
}
SCHEMA_REQUIRED = {"name", "target"}
TARGETS = {"section", "head", "body", "compliance_head"}
# Tags theme app extension blocks may not use (rejected when the extension is released).
FORBIDDEN_TAGS = ("javascript", "stylesheet", "include", "layout", "section")

INPUT = {"type", "id", "label", "default", "info", "visible_if"}
SETTING_TYPES: dict[str, tuple[set[str], set[str]]] = {
    # type: (allowed keys, required keys)
    "checkbox": (INPUT, {"type", "id", "label"}),
    "number": (INPUT | {"placeholder", "min", "max", "step"}, {"type", "id", "label"}),
    "radio": (INPUT | {"options"}, {"type", "id", "label", "options"}),
    "range": (
        INPUT | {"min", "max", "step", "unit"},
        {"type", "id", "label", "min", "max", "default"},
    ),
    "select": (INPUT | {"options"}, {"type", "id", "label", "options"}),
    "text": (INPUT | {"placeholder"}, {"type", "id", "label"}),
    "textarea": (INPUT | {"placeholder"}, {"type", "id", "label"}),
    "color": (INPUT | {"alpha", "placeholder"}, {"type", "id", "label"}),
    "image_picker": (INPUT, {"type", "id", "label"}),
    "url": (INPUT, {"type", "id", "label"}),
    "richtext": (INPUT, {"type", "id", "label"}),
    "inline_richtext": (INPUT, {"type", "id", "label"}),
    "header": ({"type", "content", "info", "visible_if"}, {"type", "content"}),
    "paragraph": ({"type", "content", "visible_if"}, {"type", "content"}),
}


def toml_problems(config: dict[str, Any]) -> list[str]:
    """Return what the CLI would refuse in a theme extension's shopify.extension.toml."""
    problems = [f"unknown key {k!r}" for k in sorted(set(config) - TOML_KEYS)]
    problems += [f"missing key {k!r}" for k in sorted(TOML_REQUIRED - set(config))]
    if config.get("type") != "theme":
        problems.append("type must be 'theme'")
    if "handle" in config and not HANDLE.fullmatch(str(config["handle"])):
        problems.append("handle: letters, digits and inner hyphens, 50 characters at most")
    if "uid" in config and not UID.fullmatch(str(config["uid"])):
        problems.append("uid: 250 characters of the CLI's set at most, no outer hyphens")
    return problems


def setting_problems(setting: dict[str, Any]) -> list[str]:
    """Return what the theme editor would refuse in one block setting."""
    kind = setting.get("type")
    if kind not in SETTING_TYPES:
        return [f"setting type {kind!r} is not one app blocks may use"]
    allowed, required = SETTING_TYPES[kind]
    name = setting.get("id", kind)
    problems = [f"{name}: unknown attribute {k!r}" for k in sorted(set(setting) - allowed)]
    problems += [f"{name}: missing attribute {k!r}" for k in sorted(required - set(setting))]
    if kind == "checkbox" and not isinstance(setting.get("default", False), bool):
        problems.append(f"{name}: a checkbox default is true or false")
    if kind == "range" and not problems:
        low, high, step = setting["min"], setting["max"], setting.get("step", 1)
        if (high - low) / step > 101:
            problems.append(f"{name}: a range has at most 101 steps")
        default = setting["default"]
        if not low <= default <= high or (default - low) % step:
            problems.append(f"{name}: the default must be a step between min and max")
    return problems


def schema_problems(schema: dict[str, Any], assets: set[str]) -> list[str]:
    """Return what Shopify would refuse in an app block's `{% schema %}`."""
    problems = [f"unknown attribute {k!r}" for k in sorted(set(schema) - SCHEMA_KEYS)]
    problems += [f"missing attribute {k!r}" for k in sorted(SCHEMA_REQUIRED - set(schema))]
    if schema.get("target") not in TARGETS:
        problems.append(f"target must be one of {sorted(TARGETS)}")
    if "enabled_on" in schema and "disabled_on" in schema:
        problems.append("use enabled_on or disabled_on, not both")
    for key in ("stylesheet", "javascript"):
        if key in schema and schema[key] not in assets:
            problems.append(f"{key} {schema[key]!r} is not in assets/")
    ids = [s.get("id") for s in schema.get("settings", []) if "id" in s]
    if len(ids) != len(set(ids)):
        problems.append("setting ids must be unique")
    for setting in schema.get("settings", []):
        problems += setting_problems(setting)
    return problems


def _files() -> list[Path]:
    return sorted(p for p in EXTENSION.rglob("*") if p.is_file())


def test_extension_toml_has_only_documented_keys_and_a_stable_uid():
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    assert toml_problems(config) == []
    assert config["uid"] == DEPLOYED_UID
    assert config["name"] and len(config["name"]) <= 30


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"name": "x", "type": "theme", "templates": []}, "unknown key 'templates'"),
        ({"name": "x"}, "missing key 'type'"),
        ({"name": "x", "type": "ui_extension"}, "type must be 'theme'"),
        ({"name": "x", "type": "theme", "handle": "-pi"}, "handle: letters"),
        ({"name": "x", "type": "theme", "uid": "a b"}, "uid: 250"),
    ],
)
def test_the_toml_check_refuses_what_the_cli_refuses(config, problem):
    assert any(p.startswith(problem) for p in toml_problems(config))


def test_extension_files_sit_in_the_folders_the_cli_accepts_within_its_size_limits():
    files = _files()
    liquid = 0
    for path in files:
        rel = path.relative_to(EXTENSION)
        if rel.parts == ("shopify.extension.toml",):
            continue
        assert len(rel.parts) == 2, f"{rel}: no sub-folders inside the extension's folders"
        assert rel.parts[0] in FOLDERS, f"{rel}: not a theme extension folder"
        assert path.suffix in FOLDERS[rel.parts[0]], f"{rel}: file type not accepted there"
        if rel.parts[0] in ("blocks", "snippets"):
            liquid += path.stat().st_size
    assert sum(p.stat().st_size for p in files) < BUNDLE_LIMIT
    assert liquid < LIQUID_LIMIT
    locales = {p.name for p in (EXTENSION / "locales").iterdir()}
    assert "en.default.json" in locales
    assert [n for n in locales if n.endswith(".default.json")] == ["en.default.json"]


def test_the_block_schema_has_only_documented_attributes_and_setting_types():
    assets = {p.name for p in (EXTENSION / "assets").iterdir()}
    schema = block_schema()
    assert schema_problems(schema, assets) == []
    assert schema["target"] == "section"  # an app block, placed inside a theme section


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"templates": ["product"]}, "unknown attribute 'templates'"),
        ({"target": DROP}, "missing attribute 'target'"),
        ({"stylesheet": "missing.css"}, "stylesheet 'missing.css'"),
        ({"settings": [{"type": "liquid", "id": "x", "label": "X"}]}, "setting type 'liquid'"),
        ({"settings": [{"type": "checkbox", "id": "x"}]}, "x: missing attribute 'label'"),
        ({"settings": [{"type": "checkbox", "id": "x", "label": "X", "size": 1}]}, "x: unknown"),
        (
            {"settings": [{"type": "range", "id": "r", "label": "R", "min": 0, "max": 500}]},
            "r: missing attribute 'default'",
        ),
        (
            {
                "settings": [
                    {"type": "range", "id": "r", "label": "R", "min": 0, "max": 500, "default": 1}
                ]
            },
            "r: a range has at most 101 steps",
        ),
    ],
)
def test_the_schema_check_refuses_what_the_theme_editor_refuses(change, problem):
    schema = block_schema()
    for key, value in change.items():
        if value is DROP:
            del schema[key]
        else:
            schema[key] = value
    problems = schema_problems(schema, {"pi-brand.css"})
    assert any(p.startswith(problem) for p in problems), problems


def test_blocks_use_no_tag_that_app_blocks_may_not_use():
    for path in [BLOCK, *(EXTENSION / "snippets").glob("*.liquid")]:
        text = path.read_text()
        for tag in FORBIDDEN_TAGS:
            assert not re.search(r"\{%-?\s*" + tag + r"\b", text), f"{path.name}: {tag}"
        assert ("{% schema %}" in text) == (path.parent.name == "blocks")
