"""Helpers for the Zapier tests: keys, auth headers, and ledger records written directly."""

from __future__ import annotations

import time
import uuid
from typing import Any

from connector.auth import account_id_for
from connector.ledger import JobRecord
from zapier_app.generate import build

KEY_A = "pi_test_zapier_account_a_123"
KEY_B = "pi_test_zapier_account_b_456"
PI = "http://pi.test/api/v1"


def auth(key: str = KEY_A) -> dict[str, str]:
    """Return the Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


def add_job(
    ledger,
    key: str = KEY_A,
    *,
    kind: str = "brand_extraction",
    status: str = "completed",
    brand_id: str | None = None,
    domain: str | None = None,
    finished_at: float | None = None,
    error: str | None = None,
    image_url: str | None = None,
) -> JobRecord:
    """Write a job to the ledger the way submission and tracking do, and return it."""
    now = time.time()
    record = JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account_id_for(key),
        kind=kind,
        input={"url": f"https://{domain}"} if domain else {"prompt": "a cat"},
        origin="zapier",
        created_at=(finished_at or now) - 5,
    )
    ledger.create(record)
    if status in ("completed", "failed"):
        record.status = status
        record.finished_at = finished_at or now
        record.error = error
        record.image_url = image_url
        if kind == "brand_extraction" and status == "completed":
            record.brand_id = brand_id or str(uuid.uuid4())
            record.brand = brand_summary(record.brand_id, domain)
        ledger.finish(record)
    return record


def brand_summary(brand_id: str, domain: str | None) -> dict[str, Any]:
    """Return the flattened brand fields the tracker stores."""
    return {
        "brand_id": brand_id,
        "brand_name": (domain or "brand").split(".")[0].title(),
        "domain": domain,
        "primary_hex": "#112233",
        "secondary_hex": "#445566",
        "logo_url": f"https://cdn.example.com/{brand_id}.png",
    }


def pi_job(
    job_id: str,
    status: str,
    *,
    kind: str = "brand_extraction",
    brand_id: str | None = None,
    image_url: str | None = None,
    error_log: str | None = None,
) -> dict[str, Any]:
    """Return Pi's GET /jobs/<id> envelope for a job."""
    pi_type = {
        "brand_extraction": "brand_extraction",
        "image_generation": "ad_generation",
        "campaign_render": "campaign_ad_generation",
    }[kind]
    payload: dict[str, Any] = {"phase": status}
    data: dict[str, Any] = {
        "id": job_id,
        "org_id": str(uuid.uuid4()),
        "type": pi_type,
        "status": status,
        "payload": payload,
        "result_url": None,
        "error_log": error_log,
        "created_at": 1,
        "updated_at": 2,
    }
    if brand_id:
        payload["brand_id"] = brand_id
        data["result_url"] = f"brands/{brand_id}"
        data["job_result"] = {
            "type": "brand",
            "id": brand_id,
            "url": f"brands/{brand_id}",
            "brand": {
                "id": brand_id,
                "name": "Acme",
                "domain": "acme.com",
                "primary_hex": "#000000",
                "secondary_hex": "#ffffff",
                "logo_url": "https://cdn.example.com/acme.png",
            },
        }
    if image_url:
        payload["image_url"] = image_url
        data["result_url"] = image_url
    return {"id": "req_pi_1", "object": "job", "status": "completed", "created_at": 3, "data": data}


def connector_keys(outputs: str) -> list[str]:
    """Return the keys the connector sends for an output set (the integration adds image_file)."""
    return [f["key"] for f in build()["outputFields"][outputs] if f["key"] != "image_file"]
