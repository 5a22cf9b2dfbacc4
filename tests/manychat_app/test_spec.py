"""ManyChat's OpenAPI additions: the documented bodies and replies are what the code handles."""

from __future__ import annotations

import uuid

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from connector.pi import validation
from connector.web.bodies import BLANK, UNFILLED
from manychat_app import dynamic_block
from manychat_app.replies import brand_block, image_block
from manychat_app.schemas import GenerateInput
from tests.support.openapi import served_spec
from tests.support.properties import PATTERN_EXAMPLES

SPEC = served_spec()
COMPONENTS = SPEC["components"]["schemas"]
KEY = "1234567:mc_spec_key_0123456789"


def _validator(name: str):
    """Return a validator of one component, its $refs resolved against the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


GENERATE = _validator("ManyChatGenerateInput")
DYNAMIC_BLOCK = _validator("DynamicBlock")
ABSENT = st.sampled_from([None, "", "  ", "{{cuf_1}}", "x {{first_name}} y"])
# For each field: values the validators take, and values they refuse, side by side.
VALUES = {
    "prompt": st.one_of(
        st.text(min_size=1, max_size=30),
        st.sampled_from(["a cat", " a cat ", "x" * 5000, "x" * 5001, "\u3000", "{{p}}", 7]),
        ABSENT,
    ),
    "brand_id": st.one_of(
        st.just(str(uuid.UUID(int=1))),
        st.sampled_from([f"{uuid.UUID(int=2)}\n", f" {uuid.UUID(int=3)}", "nope", 5]),
        ABSENT,
    ),
    "aspect_ratio": st.one_of(
        st.sampled_from(validation.ASPECT_RATIOS), st.sampled_from(["7:3", 1, "AUTO"]), ABSENT
    ),
    "resolution": st.one_of(
        st.sampled_from(validation.RESOLUTIONS),
        st.sampled_from([512, 512.0, 1024, "512 ", True, 2.5]),
        ABSENT,
    ),
    "send_image": st.one_of(
        st.sampled_from([True, False, "true", "yes", "0", "no", 1, 0, 1.0]),
        st.sampled_from(["maybe", 2, "TRUE ", [], {}]),
        ABSENT,
    ),
    "subscriber_id": st.one_of(
        st.sampled_from(["42", " 42 ", 42, 0, "4.2", -1, "abc", 4.5]), ABSENT
    ),
    "manychat_api_key": st.one_of(st.sampled_from([KEY, f" {KEY} ", "short", "a b c d e"]), ABSENT),
    "flow_ns": st.one_of(st.sampled_from(["content2026_1", "a b", "x" * 201]), ABSENT),
}


def _loads(body: dict) -> bool:
    try:
        GenerateInput().load(body)
    except ValidationError:
        return False
    return True


@PATTERN_EXAMPLES
@given(st.fixed_dictionaries({}, optional=VALUES))
def test_the_documented_generation_body_is_the_one_the_schema_takes(body):
    assert GENERATE.is_valid(body) == _loads(body), body


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "a"},
        {"prompt": "a", "send_image": True, "subscriber_id": 1, "manychat_api_key": KEY},
        {"prompt": "a", "send_image": "yes"},
        {"prompt": "a", "resolution": 512},
        {"prompt": "a", "brand_id": "{{cuf_2}}"},
    ],
)
def test_the_examples_agree(body):
    assert GENERATE.is_valid(body) == _loads(body)


def test_the_generation_body_quotes_the_validators_regexes():
    props = COMPONENTS["ManyChatGenerateInput"]["properties"]
    assert props["prompt"]["pattern"] == validation.VISIBLE_RE.pattern
    assert props["prompt"]["not"]["pattern"] == UNFILLED.pattern
    assert props["prompt"]["maxLength"] == validation.MAX_PROMPT_CHARS
    assert props["brand_id"]["anyOf"][0]["pattern"] == validation.UUID_RE.pattern
    assert props["brand_id"]["anyOf"][1]["anyOf"][1]["pattern"] == BLANK.pattern
    path = SPEC["paths"]["/manychat/v1/brands/{brand_id}"]["get"]["parameters"][0]
    assert path["schema"]["pattern"] == validation.UUID_RE.pattern


FLAT = {
    "status": "completed",
    "job_id": "j1",
    "brand_id": "b1",
    "brand_name": "Acme",
    "domain": "acme.com",
    "primary_hex": "#112233",
    "secondary_hex": None,
    "logo_url": None,
    "error": "e" * 900,
    "image_url": "https://cdn.example.com/x.png",
}


@pytest.mark.parametrize("channel", dynamic_block.CHANNELS)
@pytest.mark.parametrize("status", ["queued", "processing", "completed", "failed"])
def test_every_dynamic_block_the_replies_build_is_documented(channel, status):
    flat = {**FLAT, "status": status}
    for built in (
        brand_block(flat, channel),
        image_block(flat, "image_generation", channel),
        image_block(flat, "campaign_render", channel),
    ):
        assert DYNAMIC_BLOCK.is_valid(built), built


def test_caps_hold_however_much_is_asked():
    messages = [dynamic_block.text_message("x" * 1000)] * 12
    actions = dynamic_block.set_field_actions(
        {f"f{i}": "v" for i in range(8)}, [f"f{i}" for i in range(8)]
    )
    built = dynamic_block.block(messages, actions, "messenger")
    content = built["content"]
    assert len(content["messages"]) == dynamic_block.MAX_MESSAGES
    assert len(content["actions"]) == dynamic_block.MAX_ACTIONS
    assert all(len(m["text"]) <= dynamic_block.MAX_TEXT for m in content["messages"])
    assert not DYNAMIC_BLOCK.is_valid({**built, "content": {**content, "actions": actions}})
