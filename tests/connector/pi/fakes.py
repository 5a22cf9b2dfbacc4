"""Constants, a fake clock and Pi response builders for the PiClient tests."""

from __future__ import annotations

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

API_KEY = "sk_test_very_secret_0123456789"
BASE = "http://pi.test"
JOB_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
BRAND_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
JOB_URL = f"{BASE}/api/v1/jobs/{JOB_ID}"
EXTRACT_URL = f"{BASE}/api/v1/brands/extract"
IMAGES_URL = f"{BASE}/api/v1/images/generations"
CAMPAIGNS_URL = f"{BASE}/api/v1/campaigns/generate"
IMAGE = "https://cdn.example.com/out.png"


class FakeTime:
    """A monotonic clock that only moves when the client sleeps (or a test advances it)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def created(job_id: str = JOB_ID) -> dict:
    return {
        "id": "req_pi_c",
        "object": "job",
        "status": "queued",
        "created_at": 1,
        "data": {"job_id": job_id},
    }


def job_body(status: str = "processing", **data) -> dict:
    base = {
        "id": JOB_ID,
        "org_id": "o",
        "type": "brand_extraction",
        "status": status,
        "payload": {"phase": "queued"},
        "result_url": None,
        "error_log": None,
        "created_at": 1,
        "updated_at": 2,
    }
    return {
        "id": "req_pi_g",
        "object": "job",
        "status": "completed",
        "created_at": 3,
        "data": {**base, **data},
    }


def completed_brand() -> dict:
    return job_body(
        "completed",
        payload={"phase": "completed", "brand_id": BRAND_ID},
        result_url=f"brands/{BRAND_ID}",
        job_result={"type": "brand", "id": BRAND_ID, "url": f"brands/{BRAND_ID}"},
    )


def error_body(code: str, type_: str = "api_error") -> dict:
    return {
        "error": {
            "type": type_,
            "code": code,
            "message": f"{code} happened",
            "request_id": "req_pi_e",
        }
    }


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason=reason))


def timeout_of(call) -> tuple[float, float]:
    return call.request.req_kwargs["timeout"]
