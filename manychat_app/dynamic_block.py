"""ManyChat Dynamic Block v2: messages, field actions, its caps and what each channel supports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import request

from connector.errors import BadRequest

VERSION = "v2"
# Dynamic Block v2 caps (ManyChat): 10 messages, 5 actions, 11 quick replies.
MAX_MESSAGES = 10
MAX_ACTIONS = 5
MAX_QUICK_REPLIES = 11
MAX_TEXT = 320  # short enough for every channel's text bubble (Messenger allows 640)
# Messenger is ManyChat's default channel: its content carries no `type`.
MESSENGER = "messenger"
CHANNELS = (MESSENGER, "instagram", "whatsapp", "telegram")
# Quick replies do not exist on WhatsApp and Telegram; buttons on images differ per channel, so
# they are left out where a channel's image message is not Messenger's.
NO_QUICK_REPLIES = frozenset({"whatsapp", "telegram"})
NO_IMAGE_BUTTONS = frozenset({"whatsapp", "telegram"})


def short(text: str) -> str:
    """Return text cut to MAX_TEXT characters (an ellipsis marks the cut)."""
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def text_message(text: str) -> dict[str, Any]:
    """Return a text message."""
    return {"type": "text", "text": short(text)}


def image_message(url: str, channel: str) -> dict[str, Any]:
    """Return an image message (JPG, PNG or GIF at a public URL) for the channel."""
    message: dict[str, Any] = {"type": "image", "url": url}
    if channel not in NO_IMAGE_BUTTONS:
        message["buttons"] = []
    return message


def set_field_actions(values: Mapping[str, Any], names: Iterable[str]) -> list[dict[str, Any]]:
    """Return `set_field_value` actions for the named values that are known."""
    # ManyChat cannot set a field to null; an unknown value is left out, not sent empty.
    return [
        {"action": "set_field_value", "field_name": name, "value": values[name]}
        for name in names
        if values.get(name) is not None
    ]


def block(
    messages: list[dict[str, Any]], actions: list[dict[str, Any]], channel: str
) -> dict[str, Any]:
    """Return a Dynamic Block v2 for the channel, within ManyChat's caps."""
    content: dict[str, Any] = {}
    if channel != MESSENGER:
        content["type"] = channel
    content["messages"] = messages[:MAX_MESSAGES]
    content["actions"] = actions[:MAX_ACTIONS]
    if channel not in NO_QUICK_REPLIES:
        content["quick_replies"] = []
    return {"version": VERSION, "content": content}


def reply_channel() -> str:
    """Read ?channel= (Messenger by default) or raise a 400 naming it."""
    wanted = request.args.get("channel") or MESSENGER
    if wanted not in CHANNELS:
        raise BadRequest(
            f"channel must be one of {', '.join(CHANNELS)}",
            code="invalid_query",
            details={"channel": [f"must be one of {', '.join(CHANNELS)}"]},
        )
    return wanted
