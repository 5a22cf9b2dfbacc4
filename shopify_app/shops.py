"""Shops in Redis: the installation (tokens encrypted), one-time OAuth states, the shop config."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from connector.runtime.redis_store import RedisStore
from connector.runtime.secrets import SecretBox, remember_encrypted_field

STATE_TTL = 600  # the merchant has ten minutes to approve the install
COMPLIANCE_KEEP = 100
TOKEN_FIELDS = ("access_token", "refresh_token")

# Write fields to KEYS[2] only while KEYS[1] still belongs to the install ARGV[1].
_IF_INSTALL_LUA = """
if redis.call('HGET', KEYS[1], 'install_id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
"""

# Record ARGV[2] as the shop's new primary domain in the config KEYS[2] unless the latest
# extraction already read it or it is already recorded: 1 when recorded (start one extraction).
_CLAIM_DOMAIN_LUA = """
if redis.call('HGET', KEYS[1], 'install_id') ~= ARGV[1] then return 0 end
local known = redis.call('HGET', KEYS[2], 'extract_domain')
if not known or known == '' then known = redis.call('HGET', KEYS[2], 'source_domain') end
local pending = redis.call('HGET', KEYS[2], 'domain_change')
if known == ARGV[2] then
  if pending and pending ~= '' then
    redis.call('HSET', KEYS[2], 'domain_change', '', 'updated_at', ARGV[3])
  end
  return 0
end
if pending == ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'domain_change', ARGV[2], 'updated_at', ARGV[3])
return 1
"""

# Clear the recorded domain change ARGV[2], only if it is still the one recorded.
_SETTLE_DOMAIN_LUA = """
if redis.call('HGET', KEYS[1], 'install_id') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[2], 'domain_change') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'domain_change', '', 'updated_at', ARGV[3])
return 1
"""


@dataclass
class TokenSet:
    """An offline access token and, for expiring tokens, its refresh token and expiry times."""

    access_token: str = field(repr=False)
    scopes: str = ""
    refresh_token: str | None = field(default=None, repr=False)
    access_expires_at: float | None = None
    refresh_expires_at: float | None = None

    def fresh(self, margin: float = 0.0, now: float | None = None) -> bool:
        """Return True when the access token stays valid for at least `margin` seconds."""
        if self.access_expires_at is None:
            return True  # a non-expiring token
        return (time.time() if now is None else now) + margin < self.access_expires_at


@dataclass
class ShopRecord:
    """A shop's installation as stored (tokens not decrypted)."""

    shop: str
    install_id: str
    installed_at: float
    scopes: str
    has_tokens: bool
    installation_gid: str | None = None


class ShopStore:
    """Read and write every Redis key of a shop, all under one hash-tagged prefix."""

    def __init__(self, store: RedisStore, box: SecretBox) -> None:
        self.store = store
        self.redis = store.redis
        self.box = box
        self._if_install = self.redis.register_script(_IF_INSTALL_LUA)
        self._claim_domain = self.redis.register_script(_CLAIM_DOMAIN_LUA)
        self._settle_domain = self.redis.register_script(_SETTLE_DOMAIN_LUA)

    # The shop is a hash tag, so all its keys share a cluster slot and one SCAN pattern.
    def key(self, shop: str, *parts: str) -> str:
        """Return a key of the shop's keyspace."""
        return self.store.key("shop", "{" + shop + "}", *parts)

    def pattern(self, shop: str) -> str:
        """Return the SCAN pattern matching every key of the shop."""
        return self.key(shop) + "*"

    # --- OAuth state -------------------------------------------------------------------
    def new_state(self, shop: str, ttl: int = STATE_TTL) -> str:
        """Store and return a fresh one-time OAuth state for the shop."""
        state = secrets.token_urlsafe(32)
        self.redis.set(self.key(shop, "state", state), "1", ex=ttl)
        return state

    def consume_state(self, shop: str, state: str) -> bool:
        """Return True once for a state issued for this shop and still alive; False after."""
        if not state or len(state) > 128:
            return False
        return bool(self.redis.delete(self.key(shop, "state", state)))

    # --- installation ------------------------------------------------------------------
    def get(self, shop: str) -> ShopRecord | None:
        """Return the shop's current installation, or None."""
        raw = self.redis.hgetall(self.key(shop))
        if not raw or b"install_id" not in raw:
            return None
        d = {k.decode(): v.decode() for k, v in raw.items()}
        return ShopRecord(
            shop=shop,
            install_id=d["install_id"],
            installed_at=float(d.get("installed_at", 0)),
            scopes=d.get("scopes", ""),
            has_tokens="access_token" in d,
            installation_gid=d.get("installation_gid"),
        )

    def installed(self, shop: str) -> ShopRecord | None:
        """Return the installation when it holds usable tokens, else None."""
        record = self.get(shop)
        return record if record is not None and record.has_tokens else None

    def save_install(self, shop: str, tokens: TokenSet) -> str:
        """Store a new or renewed installation with its token pair; return its install id."""
        current = self.get(shop)
        # Re-authorising a live install keeps its id, so its running tasks stay valid.
        install_id = current.install_id if current else secrets.token_hex(12)
        installed_at = current.installed_at if current else time.time()
        key = self.key(shop)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "shop": shop,
                "install_id": install_id,
                "installed_at": repr(installed_at),
                "scopes": tokens.scopes,
                **self._token_fields(tokens),
            },
        )
        for name in TOKEN_FIELDS:
            remember_encrypted_field(self.store, key, name, pipe)
        pipe.execute()
        return install_id

    def _token_fields(self, tokens: TokenSet) -> dict[str, str]:
        """Return the hash fields of a token pair, secrets encrypted."""
        fields = {
            "access_token": self.box.encrypt(tokens.access_token),
            "refresh_token": self.box.encrypt(tokens.refresh_token or ""),
            "access_expires_at": repr(tokens.access_expires_at or 0.0),
            "refresh_expires_at": repr(tokens.refresh_expires_at or 0.0),
            "token_updated_at": repr(time.time()),
        }
        if tokens.scopes:
            fields["scopes"] = tokens.scopes
        return fields

    def tokens(self, shop: str) -> TokenSet | None:
        """Return the shop's decrypted token pair, or None when it has none."""
        values = self.redis.hmget(
            self.key(shop),
            "access_token",
            "refresh_token",
            "access_expires_at",
            "refresh_expires_at",
            "scopes",
        )
        if values[0] is None:
            return None
        refresh = self.box.decrypt(values[1]) if values[1] else ""
        return TokenSet(
            access_token=self.box.decrypt(values[0]),
            refresh_token=refresh or None,
            access_expires_at=float(values[2]) or None if values[2] else None,
            refresh_expires_at=float(values[3]) or None if values[3] else None,
            scopes=values[4].decode() if values[4] else "",
        )

    def replace_tokens(self, shop: str, install_id: str, tokens: TokenSet) -> bool:
        """Store a refreshed pair in one write, only while the install is still current."""
        key = self.key(shop)
        args = [item for pair in self._token_fields(tokens).items() for item in pair]
        return bool(self._if_install(keys=[key, key], args=[install_id, *args]))

    def drop_tokens(self, shop: str) -> None:
        """Forget a dead token pair, so the next visit installs afresh instead of looping."""
        self.redis.hdel(self.key(shop), *TOKEN_FIELDS, "access_expires_at", "refresh_expires_at")

    def set_installation_gid(self, shop: str, install_id: str, gid: str) -> bool:
        """Remember the AppInstallation id that owns the brand metafields."""
        key = self.key(shop)
        return bool(self._if_install(keys=[key, key], args=[install_id, "installation_gid", gid]))

    @contextmanager
    def lock(
        self, shop: str, name: str, *, timeout: float = 30, wait: float = 15
    ) -> Iterator[bool]:
        """Hold a per-shop Redis lock (yield False when it could not be had within `wait`)."""
        lock = self.redis.lock(self.key(shop, "lock", name), timeout=timeout, blocking_timeout=wait)
        acquired = lock.acquire()
        try:
            yield acquired
        finally:
            if acquired:
                # It may have expired meanwhile: then there is nothing to release.
                with contextlib.suppress(Exception):
                    lock.release()

    # --- shop config (what the admin page shows) ----------------------------------------
    def config(self, shop: str) -> dict[str, Any]:
        """Return the shop config: brand fields, extraction status, last error, times."""
        raw = self.redis.hgetall(self.key(shop, "config"))
        d = {k.decode(): v.decode() for k, v in raw.items()}
        brand = json.loads(d["brand"]) if d.get("brand") else {}
        return {
            "status": d.get("status") or "none",
            "job_id": d.get("job_id") or None,
            "brand_id": d.get("brand_id") or None,
            "brand": brand,
            "last_error": d.get("last_error") or None,
            "metafield_error": d.get("metafield_error") or None,
            "last_extracted_at": float(d["last_extracted_at"])
            if d.get("last_extracted_at")
            else None,
            "updated_at": float(d["updated_at"]) if d.get("updated_at") else None,
            # The primary domain the current brand came from, the one the latest extraction
            # read, and a new one Shopify reported that an extraction is (re)starting for.
            "source_domain": d.get("source_domain") or None,
            "extract_domain": d.get("extract_domain") or None,
            "domain_change": d.get("domain_change") or None,
        }

    def update_config(self, shop: str, install_id: str, **fields: Any) -> bool:
        """Set config fields while the install is current (a late task cannot resurrect a shop)."""
        values = {k: "" if v is None else str(v) for k, v in fields.items()}
        values["updated_at"] = repr(time.time())
        args = [item for pair in values.items() for item in pair]
        return bool(
            self._if_install(
                keys=[self.key(shop), self.key(shop, "config")], args=[install_id, *args]
            )
        )

    def persist_brand(
        self,
        shop: str,
        install_id: str,
        job_id: str,
        fields: dict[str, Any],
        source_domain: str | None = None,
    ) -> bool:
        """Store the extracted brand in one write: brand_id, summary, its domain, status, time."""
        return self.update_config(
            shop,
            install_id,
            status="completed",
            job_id=job_id,
            brand_id=fields.get("brand_id"),
            brand=json.dumps(fields, sort_keys=True),
            source_domain=source_domain,
            last_error=None,
            last_extracted_at=repr(time.time()),
        )

    def claim_domain_change(self, shop: str, install_id: str, host: str) -> bool:
        """Record a new primary domain once; True for the one caller that should re-extract."""
        keys = [self.key(shop), self.key(shop, "config")]
        return bool(self._claim_domain(keys=keys, args=[install_id, host, repr(time.time())]))

    def settle_domain_change(self, shop: str, install_id: str, host: str) -> bool:
        """Clear the recorded domain change `host` once an extraction has covered it."""
        keys = [self.key(shop), self.key(shop, "config")]
        return bool(self._settle_domain(keys=keys, args=[install_id, host, repr(time.time())]))

    # --- pending work, compliance, erasure ----------------------------------------------
    def add_rq_job(self, shop: str, job_id: str) -> None:
        """Remember an RQ job made for the shop, so uninstall and redact can drop it."""
        key = self.key(shop, "rqjobs")
        pipe = self.redis.pipeline()
        pipe.sadd(key, job_id)
        pipe.expire(key, 7 * 86400)
        pipe.execute()

    def rq_jobs(self, shop: str) -> list[str]:
        """Return the RQ job ids made for the shop."""
        return [j.decode() for j in self.redis.smembers(self.key(shop, "rqjobs"))]

    def record_compliance(self, shop: str, topic: str, webhook_id: str, ref: str | None) -> None:
        """Log a compliance request (topic, ids and time only: never customer data)."""
        entry = json.dumps(
            {"topic": topic, "webhook_id": webhook_id, "ref": ref, "at": time.time()}
        )
        key = self.key(shop, "compliance")
        pipe = self.redis.pipeline()
        pipe.lpush(key, entry)
        pipe.ltrim(key, 0, COMPLIANCE_KEEP - 1)
        pipe.execute()

    def compliance(self, shop: str) -> list[dict[str, Any]]:
        """Return the recorded compliance requests, newest first."""
        return [json.loads(e) for e in self.redis.lrange(self.key(shop, "compliance"), 0, -1)]

    def _forget_secret_index(self, shop: str, pipe) -> None:
        index = self.store.key("secrets", "index")
        for name in TOKEN_FIELDS:
            pipe.srem(index, f"{self.key(shop)}\x1f{name}")

    def drop_install(self, shop: str) -> int:
        """Delete the installation and everything but the compliance log; return keys deleted."""
        keep = {self.key(shop, "compliance").encode()}
        return self._delete_matching(shop, keep)

    def erase(self, shop: str) -> int:
        """Delete every key of the shop; return how many were deleted."""
        return self._delete_matching(shop, set())

    def _delete_matching(self, shop: str, keep: set[bytes]) -> int:
        keys = [
            k for k in self.redis.scan_iter(match=self.pattern(shop), count=500) if k not in keep
        ]
        pipe = self.redis.pipeline(transaction=True)
        for key in keys:
            pipe.delete(key)
        self._forget_secret_index(shop, pipe)
        pipe.execute()
        return len(keys)

    def init_app(self, app: Flask) -> None:
        """Register the shop store on the app."""
        app.extensions["shopify_shops"] = self


def get_shops() -> ShopStore:
    """Return the shop store of the current app."""
    return current_app.extensions["shopify_shops"]
