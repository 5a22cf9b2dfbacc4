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


def add_record(app, key: str = KEY_A, *, status: str = "completed", error: str | None = None):
    """Write a finished ManyChat job straight into the ledger."""
    record = JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account_id_for(key),
        kind="brand_extraction",
        input={"url": "https://acme.com"},
        origin="manychat",
    )
    with app.app_context():
        ledger = get_ledger()
        ledger.create(record)
        if status != "queued":
            record.status, record.error = status, error
            if status == "completed":
                record.brand_id = str(uuid.uuid4())
                record.brand = {**BRAND, "brand_id": record.brand_id}
            ledger.finish(record)
    return record
