"""The one blueprint every Shopify endpoint hangs on (mounted at /shopify)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "shopify",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
