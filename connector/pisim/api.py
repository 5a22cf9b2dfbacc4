"""Handlers of Pi's /api/v1 routes: creates, job reads with long-poll, brands."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from connector.pisim.controls import Controls
from connector.pisim.envelopes import Reply, accepted, error, success
from connector.pisim.job_timeline import (
    AD,
    BRAND,
    CAMPAIGN,
    TERMINAL,
    Job,
    Magic,
    brand_magic,
    prompt_magic,
)
from connector.pisim.state import JobStore
from connector.pisim.zod_checks import (
    UUID_RE,
    parse_brand_fields,
    parse_brand_list_query,
    parse_job_query,
    validate_brand_body,
    validate_generation_body,
)

if TYPE_CHECKING:
    from email.message import Message

_BRAND_RESULT_RE = re.compile(r"^brands/([0-9a-fA-F-]{36})$")
POLL_INTERVAL = 1.0  # Pi's long-poll re-reads the job every 1000 ms


class SimulatedPi(Protocol):
    """What a handler reads from the simulator (app.PiSim): its tables and its controls."""

    store: JobStore
    controls: Controls


@dataclass
class Request:
    """What a handler needs from one HTTP request."""

    method: str
    path: str
    headers: Message
    body: bytes = b""
    query: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    # Sleep up to N seconds; False means the client went away meanwhile.
    sleep: Callable[[float], bool] = lambda seconds: time.sleep(seconds) is None


def _json_body(req: Request) -> tuple[Any, Reply | None]:
    """Return the parsed body, or a 400 invalid_json_body reply."""
    try:
        return json.loads(req.body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError):
        return None, error(400, "invalid_json_body")


def _new_job(
    sim: SimulatedPi,
    org_id: str,
    job_type: str,
    magic: Magic,
    default_seconds: float,
    trigger_fail: bool,
    job_input: dict[str, Any],
) -> Job:
    """Store and count a new job whose timing and fate come from its magic words."""
    seconds = magic.seconds if magic.seconds is not None else default_seconds
    job = Job(
        id=str(uuid.uuid4()),
        org_id=org_id,
        type=job_type,
        created=time.time(),
        duration=0.0 if trigger_fail else seconds,
        will_fail=magic.fail or trigger_fail,
        hang=magic.hang,
        trigger_failed=trigger_fail,
        input=job_input,
        image_base_url=sim.controls.config.image_base_url,
    )
    sim.store.add(job)
    sim.controls.count_job()
    return job


def create_brand(
    sim: SimulatedPi, req: Request, org_id: str, *, trigger_fail: bool = False
) -> Reply:
    """POST /brands/extract: validate, queue a brand_extraction job (no Idempotency-Key)."""
    body, bad = _json_body(req)
    if bad:
        return bad
    clean, message = validate_brand_body(body)
    if clean is None:
        # v-old sends only the first issue's message: no param, no issues.
        return error(400, "invalid_request_body", message)
    url = clean.get("url")
    job = _new_job(
        sim,
        org_id,
        BRAND,
        brand_magic(url),
        sim.controls.config.job_seconds,
        trigger_fail,
        {
            "url": url,
            "has_logo": bool(clean.get("logoBase64")),
            "image_count": len(clean.get("imagesBase64") or []),
            "location": clean.get("location"),
        },
    )
    if trigger_fail:
        # The row exists and is failed, but its id is not returned: an orphan, as on Pi.
        return error(502, "job_trigger_failed")
    return accepted(job.id)


def _generation_input(clean: dict[str, Any]) -> dict[str, Any]:
    """Return the queued payload's input summary."""
    summary: dict[str, Any] = {
        "prompt": clean["prompt"],
        "reference_image_count": len(clean.get("reference_images") or []),
        "has_brand_id": "brand_id" in clean,
        "has_brand_identity_json": "brand_identity_json" in clean,
        "output": clean.get("output") or {},
        "client_reference_id": clean.get("client_reference_id"),
        "metadata": clean.get("metadata"),
    }
    if "brand_id" in clean:
        summary["brand_id"] = clean["brand_id"]
    return summary


def create_generation(
    sim: SimulatedPi,
    req: Request,
    org_id: str,
    *,
    job_type: str,
    scope: str,
    trigger_fail: bool = False,
) -> Reply:
    """POST an image or campaign job, honouring Idempotency-Key per org and scope."""
    body, bad = _json_body(req)
    if bad:
        return bad
    clean, issues = validate_generation_body(body)
    if clean is None:
        first = issues[0]
        param = ".".join(str(p) for p in first["path"]) or None
        return error(400, "invalid_request_body", first["message"], param=param, issues=issues)
    key = (req.headers.get("Idempotency-Key") or "").strip()
    record_key = fingerprint = None
    if key:
        record_key = (org_id, scope, hashlib.sha256(key.encode()).hexdigest())
        canonical = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
        stored = sim.store.idempotent(record_key)
        if stored is not None:
            if stored[0] != fingerprint:
                return error(409, "idempotency_key_mismatch", param="Idempotency-Key")
            # The old body (and its id) comes back; only the X-Request-Id header is new.
            return Reply(202, stored[1], headers={"X-Idempotency-Replayed": "true"})
    job = _new_job(
        sim,
        org_id,
        job_type,
        prompt_magic(clean["prompt"]),
        sim.controls.config.image_seconds,
        trigger_fail,
        _generation_input(clean),
    )
    if trigger_fail:
        # No idempotency record after a 502: the same key creates a new job next time.
        return error(502, "job_trigger_failed")
    reply = accepted(job.id)
    if record_key is not None and fingerprint is not None:
        sim.store.remember(record_key, fingerprint, reply.body or {})
    return reply


def create_ad(sim: SimulatedPi, req: Request, org_id: str, **kwargs: Any) -> Reply:
    """POST /images/generations and /ads/generate."""
    return create_generation(sim, req, org_id, job_type=AD, scope="ads_generate", **kwargs)


def create_campaign(sim: SimulatedPi, req: Request, org_id: str, **kwargs: Any) -> Reply:
    """POST /campaigns/generate and /images/campaigns."""
    return create_generation(
        sim, req, org_id, job_type=CAMPAIGN, scope="campaigns_generate", **kwargs
    )


def _project(row: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """Return the selected columns; unselected timestamps read as "now", as on Pi."""
    if fields is None:
        return row
    view = {name: row[name] for name in fields}
    now = int(time.time())
    view.setdefault("created_at", now)
    view.setdefault("updated_at", now)
    return view


def _read_job(sim: SimulatedPi, job_id: str, org_id: str, fields: tuple[str, ...] | None):
    """Return the (projected) row if the job exists for this org; None means 404."""
    found = sim.store.lookup(job_id)
    if found is None:
        return None
    view = _project(found[1], fields)
    # Pi checks the tenant on the projected row, so a projection without org_id is a 404.
    return view if view.get("org_id") == org_id else None


def _decorate(
    sim: SimulatedPi, view: dict[str, Any], org_id: str, expand: str | None
) -> dict[str, Any]:
    """Add job_result and expansions to a full job row."""
    data = dict(view)
    payload = dict(data.get("payload") or {})
    image_url = payload.get("image_url")
    if expand != "diagnostics":
        payload.pop("diagnostics", None)
        payload.pop("retrieval_diagnostics", None)
    data["payload"] = payload
    job_result: dict[str, Any] | None = None
    match = _BRAND_RESULT_RE.match(data.get("result_url") or "")
    if match:
        job_result = {"type": "brand", "id": match.group(1), "url": data["result_url"]}
    elif isinstance(image_url, str):
        kind = "avatar" if data.get("type") == "avatar_generation" else "ad"
        job_result = {"type": kind, "id": data["id"], "image_url": image_url}
    if job_result is not None:
        data["job_result"] = job_result
    if expand == "brand" and match:
        brand = sim.store.brand(match.group(1))
        if brand is not None and brand.get("org_id") == org_id:
            data["expanded"] = {"brand": brand}
            job_result["brand"] = brand  # type: ignore[index]
    if expand == "ad" and isinstance(image_url, str):
        data["ad"] = {"image_url": image_url}
    return data


def get_job(sim: SimulatedPi, req: Request, org_id: str) -> Reply:
    """GET /jobs/:id with Pi's query rules, traps and long-poll."""
    job_id = req.params["id"]
    if not UUID_RE.match(job_id):
        return error(400, "invalid_job_id")
    query = parse_job_query(req.query)
    if query is None:
        return error(400, "invalid_expand_param")
    view = _read_job(sim, job_id, org_id, query.fields)
    if view is None:
        return error(404, "job_not_found")
    job = sim.store.jobs.get(job_id)
    if job is not None and job.hang:
        if not req.sleep(sim.controls.config.hang_seconds):
            return Reply(0, None, drop=True)
        view = _read_job(sim, job_id, org_id, query.fields)
        if view is None:
            return error(404, "job_not_found")
    if query.wait and view.get("status") not in TERMINAL:
        view = _long_poll(sim, job_id, org_id, query.fields, query.timeout_seconds, view)
        if view is None:
            return error(404, "job_not_found")
    if query.fields is None:
        view = _decorate(sim, view, org_id, query.expand)
    return success("job", view)


def _long_poll(
    sim: SimulatedPi,
    job_id: str,
    org_id: str,
    fields: tuple[str, ...] | None,
    seconds: int,
    view: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Wait for a terminal status until the window closes; return the last row read."""
    deadline = time.monotonic() + seconds
    sim.controls.track_waiting(1)
    try:
        if sim.controls.config.long_poll == "wake":
            sim.store.wait_for_end(job_id, deadline)
            return _read_job(sim, job_id, org_id, fields)
        # Faithful mode: sleep a second between reads; at the deadline answer non-terminal.
        while view is not None and view.get("status") not in TERMINAL:
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
            view = _read_job(sim, job_id, org_id, fields)
        return view
    finally:
        sim.controls.track_waiting(-1)


_BRAND_FIELDS_OK = frozenset(
    {
        "id", "org_id", "domain", "name", "primary_hex", "secondary_hex", "logo_url",
        "font_file_url", "layout_rules", "brand_dna", "created_at", "updated_at", "latest_job",
    }
)  # fmt: skip


def _brand_view(
    sim: SimulatedPi, row: dict[str, Any], latest_job: bool, fields: tuple[str, ...] | None
) -> dict[str, Any]:
    if latest_job:
        row["latest_job"] = sim.store.latest_job(row["id"])
    if fields is not None:
        chosen = [f for f in fields if f in _BRAND_FIELDS_OK and f in row]
        if chosen:
            row = {f: row[f] for f in chosen}
    return row


def list_brands(sim: SimulatedPi, req: Request, org_id: str) -> Reply:
    """GET /brands: the org's brands, newest first, with query/limit/offset."""
    query = parse_brand_list_query(req.query)
    if query is None:
        return error(400, "invalid_query_params")
    rows = sim.store.org_brands(org_id, query.query)
    page = rows[query.offset : query.offset + query.limit]
    page = [_brand_view(sim, row, query.latest_job, query.fields) for row in page]
    data = {
        "data": page,
        "total_count": len(rows),
        "has_more": query.offset + len(page) < len(rows),
    }
    return success("list", data)


def get_brand(sim: SimulatedPi, req: Request, org_id: str) -> Reply:
    """GET /brands/:id: 404 for a missing brand and for another org's."""
    brand_id = req.params["id"]
    if not UUID_RE.match(brand_id):
        return error(400, "invalid_brand_id")
    expands = [req.query[n][0] for n in ("expand", "include") if req.query.get(n)]
    ok, fields = parse_brand_fields((req.query.get("fields") or [None])[0])
    if not ok or any(v != "latest_job" for v in expands):
        return error(400, "invalid_expand_param")
    row = sim.store.brand(brand_id)
    if row is None:
        return error(404, "brand_not_found")
    view = _brand_view(sim, row, bool(expands), fields)
    # The tenant check reads the projected row, like GET /jobs/:id (inferred on Pi).
    if view.get("org_id") != org_id:
        return error(404, "brand_not_found")
    return success("brand", view)
