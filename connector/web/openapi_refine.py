"""What JSON Schema can say about inputs that the schemas check with code (patterns, rules).

The marshmallow schemas validate some fields with functions (URLs, UUIDs, ManyChat ids), and
ManyChat and Zapier count blank values and unfilled `{{...}}` merge fields as absent. apispec
cannot see either, so the spec builder lays these refinements over the generated components.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from connector.pi import validation

# Exactly the characters Python's str.strip() removes (ECMA's \s is a different set).
_SPACE = "".join(
    re.escape(c) if c.isascii() else f"\\u{ord(c):04x}"
    for c in map(chr, range(sys.maxunicode + 1))
    if c.isspace()
)
WS = f"[{_SPACE}]"

UUID_PATTERN = validation.UUID_RE.pattern
_NOT_WS = f"[^{_SPACE}]"
# outbound refuses a target URL with a space or a control character anywhere.
_TARGET_CHAR = f"[^{_SPACE}\\x00-\\x20\\x7f]"
# What connector.pi.validation accepts as a brand URL: http(s), a host, a port Python can read.
_HOST = f"([^/?#@{_SPACE}]*@)?" + r"[A-Za-z0-9._~!$&'()*+,;=%-]+(:[0-9]{0,4})?"
HTTP_URL = f"^{WS}*[hH][tT][tT][pP][sS]?://{_HOST}([/?#]{_NOT_WS}*)?{WS}*$"
# ... and the bare domain ManyChat and Zapier users type ("acme.com" reads as https://acme.com).
BARE_DOMAIN = r"^[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,}" + f"([/?#]{_NOT_WS}*)?$"
WEBSITE = {"type": "string", "maxLength": validation.MAX_URL_CHARS, "pattern": HTTP_URL}
PLATFORM_WEBSITE = {
    "type": "string",
    "anyOf": [
        WEBSITE,
        {"pattern": BARE_DOMAIN, "maxLength": validation.MAX_URL_CHARS - len("https://")},
    ],
}
# A target we POST to: https and a host name (the server refuses private addresses; a name
# ending in a letter-only label is no IP literal).
HTTPS_TARGET_PATTERN = (
    r"^[hH][tT][tT][pP][sS]://([A-Za-z0-9-]+\.)+[A-Za-z]{2,}[A-Za-z0-9._~!$&'()*+,;=%-]*"
    + f"(:[0-9]{{0,4}})?([/?#]{_TARGET_CHAR}*)?$"
)
# A /v1 callback URL as marshmallow's Url field reads it; the last label holds a letter, so no
# IP literal (the server refuses private addresses).
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
CALLBACK_PATTERN = (
    f"^[hH][tT][tT][pP][sS]?://({_LABEL}\\.)*[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]"
    + f"(:[0-9]{{1,4}})?([/?]{_TARGET_CHAR}*)?$"
)
NON_BLANK = {"type": "string", "pattern": _NOT_WS}
# A reference image that both we and Pi accept: an https URL with a host, a data:image/ URL,
# or base64 text.
REFERENCE_IMAGE = {
    "type": "string",
    "allOf": [
        {"pattern": _NOT_WS},
        {
            "anyOf": [
                {"pattern": r"^https://[A-Za-z0-9][A-Za-z0-9.\-]*([/?#][^\[\]]*)?$"},
                {"pattern": r"^data:image/[\s\S]*,"},
                {"pattern": f"^[A-Za-z0-9+/_\\-{_SPACE}]+={{0,2}}{WS}*$"},
            ]
        },
    ],
}
_SCHEME = "([hH][tT][tT][pP][sS]?://)?"
_SHOP_NAME = "[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]"
_MYSHOPIFY = r"\.[mM][yY][sS][hH][oO][pP][iI][fF][yY]\.[cC][oO][mM]"
# What ShopifyAPI's sanitize_shop_domain accepts: a shop name, or its myshopify.com domain.
SHOP_PATTERN = f"^{WS}*{_SCHEME}({_SHOP_NAME}|{_SHOP_NAME}{_MYSHOPIFY}([/?#][^{_SPACE}]*)?){WS}*$"
UNFILLED = r"\{\{[^{}]*\}\}"
# connector.web.bodies.PLACEHOLDER: a value that is nothing but one merge field.
ZAPIER_PLACEHOLDER = f"^{WS}*\\{{\\{{[^\\n]*\\}}\\}}{WS}*$"

# Values ManyChat sends for a field nobody mapped: null, blank, or an unfilled merge field.
MANYCHAT_ABSENT: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {"type": "string", "pattern": f"^{WS}*$"},
        {"type": "string", "pattern": UNFILLED},
    ]
}


def _filled(pattern: str) -> dict[str, Any]:
    """A ManyChat text value: the pattern after trimming, and no unfilled merge field in it."""
    return {
        "type": "string",
        "pattern": f"^{WS}*{pattern}{WS}*$",
        "not": {"pattern": UNFILLED},
    }


MANYCHAT_SUBSCRIBER = {
    "anyOf": [
        _filled("[0-9]{1,24}"),
        # ManyChat may send a number field as a JSON number: read as its decimal text.
        {"type": "integer", "minimum": 0, "maximum": 10**24 - 1},
    ]
}
MANYCHAT_KEY = _filled(r"[\x21-\x7e]{8,512}")
MANYCHAT_FLOW = _filled(r"[A-Za-z0-9_\-:.]{1,200}")


def _either(filled: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [filled, MANYCHAT_ABSENT]}


def _filled_field(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


def manychat_extract(component: dict[str, Any]) -> None:
    """Describe ManyChat's absent values and the push fields that go together."""
    props = component["properties"]
    props["url"] = PLATFORM_WEBSITE
    props["subscriber_id"] = _either(MANYCHAT_SUBSCRIBER)
    props["manychat_api_key"] = _either(MANYCHAT_KEY)
    props["flow_ns"] = _either(MANYCHAT_FLOW)
    key = _filled_field("manychat_api_key", MANYCHAT_KEY)
    sub = _filled_field("subscriber_id", MANYCHAT_SUBSCRIBER)
    flow = _filled_field("flow_ns", MANYCHAT_FLOW)
    component["allOf"] = [
        {"if": key, "then": sub},
        {"if": sub, "then": key},
        {"if": flow, "then": {"allOf": [key, sub]}},
    ]
    component["description"] = (
        "Null, blank and unfilled '{{...}}' values count as absent. manychat_api_key and "
        "subscriber_id go together (push on completion); flow_ns needs both."
    )


def _not_null(schema: dict[str, Any]) -> None:
    """Drop "null" from a generated type list (a query value or a JSON field we refuse null)."""
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    if "enum" in schema:
        schema["enum"] = [v for v in schema["enum"] if v is not None]
    if schema.get("default", 0) is None:
        del schema["default"]


# Values a Zapier field holds when the user mapped nothing: null, empty, a merge field, or a
# list of nothing but those.
_ZAPIER_NOTHING: list[dict[str, Any]] = [
    {"type": "null"},
    {"type": "string", "maxLength": 0},
    {"type": "string", "pattern": ZAPIER_PLACEHOLDER},
]
ZAPIER_ABSENT: dict[str, Any] = {
    "anyOf": [*_ZAPIER_NOTHING, {"type": "array", "items": {"anyOf": _ZAPIER_NOTHING}}]
}


def _zapier_optional(component: dict[str, Any]) -> None:
    """Let every optional field of a Zapier body also be absent in Zapier's ways."""
    required = set(component.get("required", ()))
    for name, schema in list(component["properties"].items()):
        if name in required:
            continue
        _not_null(schema)
        if schema.get("type") == "array":
            schema["items"] = {"anyOf": [schema["items"], *_ZAPIER_NOTHING]}
        component["properties"][name] = {"anyOf": [schema, ZAPIER_ABSENT]}


def zapier_inputs(components: dict[str, dict[str, Any]]) -> None:
    """Give the Zapier request bodies the formats their validators enforce."""
    extract = components["ZapierExtractBrandInput"]["properties"]
    extract["url"] = PLATFORM_WEBSITE
    for name in ("ZapierExtractBrandInput", "ZapierGenerationInput"):
        callback = components[name]["properties"]["callback_url"]
        callback.update(pattern=HTTPS_TARGET_PATTERN)
        callback.pop("maxLength", None)
    generation = components["ZapierGenerationInput"]["properties"]
    generation["brand_id"].update(pattern=UUID_PATTERN)
    # One visible character, and not just a merge field.
    generation["prompt"].update(pattern=_NOT_WS, **{"not": {"pattern": ZAPIER_PLACEHOLDER}})
    generation["reference_images"]["items"] = REFERENCE_IMAGE
    hook = components["ZapierHookInput"]["properties"]
    hook["target_url"] = {"type": "string", "pattern": HTTPS_TARGET_PATTERN}
    for name in ("ZapierExtractBrandInput", "ZapierGenerationInput", "ZapierHookInput"):
        _zapier_optional(components[name])


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def v1_inputs(components: dict[str, dict[str, Any]]) -> None:
    """Describe /v1 job inputs as connector.pi.validation checks them, tied to their kind."""
    brand = components["BrandJobInput"]
    brand.pop("additionalProperties", None)  # other keys are ignored
    components["GenerationJobInput"].pop("additionalProperties", None)
    brand["properties"] = {
        "url": _nullable(WEBSITE),
        "logo_base64": _nullable(NON_BLANK),
        "images_base64": _nullable({"type": "array", "items": NON_BLANK}),
        "location": _nullable(
            {
                "type": "object",
                "required": ["country"],
                "properties": {
                    "country": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
                    "languages": {
                        "type": "array",
                        "items": {"type": "string", "pattern": f"{_NOT_WS}.*{_NOT_WS}"},
                    },
                },
            }
        ),
    }
    brand["anyOf"] = [
        {"required": ["url"], "properties": {"url": WEBSITE}},
        {"required": ["logo_base64"], "properties": {"logo_base64": NON_BLANK}},
        {
            "required": ["images_base64"],
            "properties": {"images_base64": {"type": "array", "minItems": 1}},
        },
    ]
    generation = components["GenerationJobInput"]
    props = generation["properties"]
    props["prompt"].update(pattern=_NOT_WS, maxLength=validation.MAX_PROMPT_CHARS)
    for name in ("brand_id", "aspect_ratio", "resolution", "thinking_intensity"):
        props[name] = _nullable(props[name])
    props["brand_id"]["anyOf"][0]["pattern"] = UUID_PATTERN
    props["reference_images"] = _nullable(
        {"type": "array", "maxItems": validation.MAX_REFERENCE_IMAGES, "items": REFERENCE_IMAGE}
    )
    props["brand_identity_json"] = _nullable({"type": "object"})
    props["client_reference_id"] = _nullable(
        {**NON_BLANK, "maxLength": validation.MAX_CLIENT_REFERENCE_ID_CHARS}
    )
    props["metadata"] = _nullable(
        {
            "type": "object",
            "maxProperties": validation.MAX_METADATA_KEYS,
            "additionalProperties": {
                "type": "string",
                "maxLength": validation.MAX_METADATA_VALUE_CHARS,
            },
        }
    )
    create = components["JobCreate"]
    create["properties"]["callback_url"].update(pattern=CALLBACK_PATTERN)
    create["properties"]["input"] = {"type": "object"}
    create["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": "brand_extraction"}}},
            "then": {"properties": {"input": {"$ref": "#/components/schemas/BrandJobInput"}}},
            "else": {"properties": {"input": {"$ref": "#/components/schemas/GenerationJobInput"}}},
        }
    ]


def query_parameters(spec: dict[str, Any]) -> None:
    """A query value is text: drop the "null" that marshmallow's load_default=None adds."""
    for path, item in spec["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    _not_null(parameter["schema"])
                zapier = item is not spec["paths"].get("/zapier/v1/searches/job")
                if parameter.get("in") == "query" and path.startswith("/zapier/") and zapier:
                    # An unmapped optional field arrives empty or as its literal merge field.
                    parameter["schema"] = {
                        "anyOf": [parameter["schema"], *_ZAPIER_NOTHING[1:]],
                    }
                if parameter.get("in") == "query" and item is spec["paths"].get(
                    "/zapier/v1/searches/job"
                ):
                    # Zapier sends an unmapped field empty or as its literal merge field.
                    parameter["schema"].update(
                        minLength=1, **{"not": {"pattern": ZAPIER_PLACEHOLDER}}
                    )
