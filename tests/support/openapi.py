"""The docs create_app registers, to build the served document without an app."""

from __future__ import annotations

from typing import Any

from connector.web import spec as core_spec
from connector.web.openapi import build_spec
from manychat_app import spec as manychat_spec
from shopify_app import spec as shopify_spec
from zapier_app import spec as zapier_spec

# In create_app's order; tests/connector/web/test_openapi.py checks that it is what it registers.
EVERY_API_DOC = (
    core_spec.API_DOC,
    manychat_spec.API_DOC,
    zapier_spec.API_DOC,
    shopify_spec.API_DOC,
)


def served_spec(server_url: str | None = None) -> dict[str, Any]:
    """Return the document an app built by create_app serves."""
    return build_spec(EVERY_API_DOC, server_url)
