"""Constants and fake Pi answers / ledger records for the ManyChat endpoint tests."""

from __future__ import annotations

import uuid
from typing import Any

from responses import matchers

from connector.auth import account_id_for
from connector.ledger import JobRecord, get_ledger

PI = "http://pi.test/api/v1"
KEY_A = "pi_test_manychat_account_a_1"
KEY_B = "pi_test_manychat_account_b_2"
MC_KEY = "1234567:mc_unit_key_abcdef0123456789"
EXTRACT = "/manychat/v1/brands/extract"
GENERATE = "/manychat/v1/images/generate"
RENDER = "/manychat/v1/campaigns/render"
# Our endpoint, Pi's create path and Pi's job type, per generation kind.
GENERATION_ROUTES = {
    "image_generation": (GENERATE, "/images/generations", "ad_generation"),
    "campaign_render": (RENDER, "/campaigns/generate", "campaign_ad_generation"),
}
IMAGE_URL = "https://cdn.example.com/images/result.png"
BRAND = {
    "brand_id": None,
    "brand_name": "Acme",
    "domain": "acme.com",
    "primary_hex": "#112233",
    "secondary_hex": "#445566",
    "logo_url": "https://cdn.example.com/acme.png",
}


def auth(key: str = KEY_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def envelope(data: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {"id": "req_pi_1", "object": "job", "status": status, "created_at": 1, "data": data}


def pi_created(pi, job_id: str, url: str | None = None) -> None:
    match = [matchers.json_params_matcher({"url": url})] if url else []
    pi.post(
        f"{PI}/brands/extract",
        status=202,
        match=match,
        json=envelope({"job_id": job_id}, "queued"),
    )


def pi_job(pi, job_id: str, status: str, *, brand_id: str | None = None, error: str | None = None):
    data: dict[str, Any] = {
        "id": job_id,
        "org_id": str(uuid.uuid4()),
        "type": "brand_extraction",
        "status": status,
        "payload": {"phase": status},
        "result_url": None,
        "error_log": error,
        "created_at": 1,
        "updated_at": 2,
    }
    if brand_id:
        data["payload"]["brand_id"] = brand_id
        data["result_url"] = f"brands/{brand_id}"
        brand = {k: v for k, v in BRAND.items() if k != "brand_id"}
        brand["name"] = brand.pop("brand_name")
        data["job_result"] = {
            "type": "brand",
            "id": brand_id,
            "url": f"brands/{brand_id}",
            "brand": {"id": brand_id, **brand},
        }
    pi.get(f"{PI}/jobs/{job_id}", json=envelope(data))


def pi_generation_created(pi, kind: str, job_id: str, body: dict | None = None) -> None:
    """Answer Pi's create of an image or campaign job (matching its body when given)."""
    match = [matchers.json_params_matcher(body)] if body is not None else []
    pi.post(
        PI + GENERATION_ROUTES[kind][1],
        status=202,
        match=match,
        json=envelope({"job_id": job_id}, "queued"),
    )


def pi_generation_job(
    pi, kind: str, job_id: str, status: str, *, image_url: str | None = None, error=None
) -> None:
    """Answer Pi's GET of an image or campaign job."""
    payload: dict[str, Any] = {"phase": status}
    if image_url:
        payload["image_url"] = image_url
    data = {
        "id": job_id,
        "org_id": str(uuid.uuid4()),
        "type": GENERATION_ROUTES[kind][2],
        "status": status,
        "payload": payload,
        "result_url": image_url if kind == "campaign_render" else None,
        "error_log": error,
        "created_at": 1,
        "updated_at": 2,
    }
    pi.get(f"{PI}/jobs/{job_id}", json=envelope(data))


def pi_brand(pi, brand_id: str, *, found: bool = True) -> None:
    """Answer Pi's GET of a brand: the brand, or Pi's 404."""
    if found:
        pi.get(f"{PI}/brands/{brand_id}", json={"object": "brand", "data": {"id": brand_id}})
    else:
        pi.get(
            f"{PI}/brands/{brand_id}",
            status=404,
            json={"error": {"type": "invalid_request_error", "code": "brand_not_found"}},
        )


def add_record(
    app,
    key: str = KEY_A,
    *,
    status: str = "completed",
    error: str | None = None,
    kind: str = "brand_extraction",
    domain: str = "acme.com",
    brand_id: str | None = None,
):
    """Write a ManyChat job straight into the ledger (finished unless queued)."""
    generation = kind != "brand_extraction"
    record = JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account_id_for(key),
        kind=kind,
        input={"prompt": "a red bicycle", **({"brand_id": brand_id} if brand_id else {})}
        if generation
        else {"url": f"https://{domain}"},
        origin="manychat",
    )
    with app.app_context():
        ledger = get_ledger()
        ledger.create(record)
        if status != "queued":
            record.status, record.error = status, error
            if status == "completed" and generation:
                record.image_url = IMAGE_URL
            elif status == "completed":
                record.brand_id = brand_id or str(uuid.uuid4())
                record.brand = {**BRAND, "domain": domain, "brand_id": record.brand_id}
            ledger.finish(record)
    return record
