"""Change an existing test app's settings (for tests that reuse a fixture's app)."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask

from connector.config import get_settings


def replace_settings(app: Flask, **changes: Any) -> None:
    """Replace some settings of the app, by attribute name (e.g. zapier_wait_seconds=0)."""
    dataclasses.replace(get_settings(app), **changes).init_app(app)
