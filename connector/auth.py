"""Caller identity: one Pi API key is one account, known to us only by its hash."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from flask import request

from connector.errors import Unauthorized

_TOKEN = re.compile(r"[A-Za-z0-9_\-\.]{8,256}")


@dataclass(frozen=True)
class Account:
    """The caller: the account id we store, and the key we pass through to Pi."""

    account_id: str
    api_key: str = field(repr=False)


def account_id_for(api_key: str) -> str:
    """Return the stable, non-reversible account id of an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def account_from_header(header: str | None) -> Account:
    """Parse `Authorization: Bearer <key>` or raise Unauthorized naming the problem."""
    if not header:
        raise Unauthorized(
            "missing Authorization header; send 'Authorization: Bearer <Pi API key>'",
            code="missing_api_key",
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Authorization must use the Bearer scheme", code="invalid_auth_scheme")
    token = token.strip()
    if not _TOKEN.fullmatch(token):
        raise Unauthorized("the Bearer token is not a valid Pi API key", code="invalid_api_key")
    return Account(account_id_for(token), token)


def current_account() -> Account:
    """Return the account of the current request."""
    return account_from_header(request.headers.get("Authorization"))
