"""Tests for reading job envelopes and resolving results per job type."""

from __future__ import annotations

import pytest

from connector.pi.exceptions import PiJobFailed, PiServerError
from connector.pi.results import (
    KIND_TO_PI_TYPE,
    PI_TYPE_TO_KIND,
    BrandPage,
    Job,
    resolve_brand_id,
    resolve_image_url,
    sanitize_error_log,
)

JOB_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
BRAND_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
IMAGE = "https://cdn.example.com/out.png"


def envelope(**data) -> dict:
    """Return a GET /jobs envelope; the top-level status is always "completed", like Pi's."""
    base = {
        "id": JOB_ID,
        "org_id": "org",
        "type": "brand_extraction",
        "status": "processing",
        "payload": {"phase": "queued"},
        "result_url": None,
        "error_log": None,
        "created_at": 1,
        "updated_at": 8,
    }
    return {
        "id": "req_pi_1",
        "object": "job",
        "status": "completed",
        "created_at": 9,
        "data": {**base, **data},
    }


def test_kind_maps_are_inverse():
    assert KIND_TO_PI_TYPE["image_generation"] == "ad_generation"
    assert KIND_TO_PI_TYPE["campaign_render"] == "campaign_ad_generation"
    assert {v: k for k, v in KIND_TO_PI_TYPE.items()} == PI_TYPE_TO_KIND


def test_status_comes_from_data_not_the_envelope():
    job = Job.from_response(envelope(status="processing"), "req_h")
    assert job.status == "processing"
    assert not job.is_terminal and not job.succeeded and not job.failed


@pytest.mark.parametrize(
    ("status", "terminal", "succeeded", "failed"),
    [
        ("queued", False, False, False),
        ("completed", True, True, False),
        ("failed", True, False, True),
    ],
)
def test_terminal_states(status, terminal, succeeded, failed):
    job = Job.from_response(envelope(status=status), None)
    assert (job.is_terminal, job.succeeded, job.failed) == (terminal, succeeded, failed)


def test_reads_job_fields():
    job = Job.from_response(envelope(payload={"phase": "phase_b_gemini_manifesto"}), "req_h")
    assert job.job_id == JOB_ID
    assert job.type == "brand_extraction"
    assert job.kind == "brand_extraction"
    assert (job.created_at, job.updated_at) == (1, 8)
    assert job.phase == "phase_b_gemini_manifesto"
    assert job.request_id == "req_h"
    assert job.brand is None


def test_brand_id_from_job_result():
    data = envelope(
        status="completed",
        payload={"phase": "completed", "brand_id": "other"},
        result_url=f"brands/{BRAND_ID}",
        job_result={"type": "brand", "id": BRAND_ID, "url": f"brands/{BRAND_ID}"},
    )
    assert Job.from_response(data, None).brand_id == BRAND_ID


def test_brand_id_from_payload_without_job_result():
    data = envelope(status="completed", payload={"phase": "completed", "brand_id": BRAND_ID})
    assert Job.from_response(data, None).brand_id == BRAND_ID


def test_brand_id_from_result_url_alone():
    data = envelope(
        status="completed", payload={"phase": "completed"}, result_url=f"brands/{BRAND_ID}"
    )
    assert Job.from_response(data, None).brand_id == BRAND_ID


def test_no_brand_id_while_running_or_for_other_result_urls():
    assert resolve_brand_id({"payload": {"phase": "queued"}}) is None
    assert resolve_brand_id({"result_url": "avatars/x"}) is None
    assert resolve_brand_id({"result_url": f"brands/{BRAND_ID}/extra"}) is None
    assert resolve_brand_id({"job_result": {"type": "ad", "id": JOB_ID}}) is None


def test_expanded_brand_is_exposed():
    brand = {"id": BRAND_ID, "name": "Acme", "domain": "acme.com"}
    data = envelope(
        status="completed",
        result_url=f"brands/{BRAND_ID}",
        expanded={"brand": brand},
        job_result={"type": "brand", "id": BRAND_ID, "brand": brand},
    )
    job = Job.from_response(data, None)
    assert job.brand == brand
    assert job.brand_id == BRAND_ID


def test_image_url_from_payload_for_ad_generation():
    data = envelope(
        type="ad_generation", status="completed", payload={"phase": "completed", "image_url": IMAGE}
    )
    job = Job.from_response(data, None)
    assert job.image_url == IMAGE
    assert job.kind == "image_generation"
    assert job.brand_id is None


def test_image_url_from_job_result_or_expanded_ad():
    assert resolve_image_url({"job_result": {"type": "ad", "image_url": IMAGE}}) == IMAGE
    assert resolve_image_url({"ad": {"image_url": IMAGE}}) == IMAGE


def test_image_url_from_campaign_result_url():
    data = envelope(
        type="campaign_ad_generation",
        status="completed",
        payload={"phase": "completed", "diagnostics": {}},
        result_url=IMAGE,
    )
    job = Job.from_response(data, None)
    assert job.image_url == IMAGE
    assert job.kind == "campaign_render"


def test_no_image_url_from_relative_result_urls():
    assert resolve_image_url({"result_url": f"brands/{BRAND_ID}"}) is None
    assert resolve_image_url({"result_url": "avatars/x"}) is None
    assert resolve_image_url({}) is None


def test_failed_job_has_sanitized_error_and_raises():
    log = (
        "Error: Failed to fetch https://acme.com/home\n"
        "    at fetchSite (/app/src/jobs/brand-extractor.ts:88:11)\n"
        "    at async run (/app/node_modules/@trigger.dev/sdk/dist/index.js:1:2)"
    )
    job = Job.from_response(
        envelope(status="failed", error_log=log, payload={"phase": "failed", "failed_at": "2024"}),
        "r",
    )
    assert job.error_log == "Error: Failed to fetch https://acme.com/home"
    with pytest.raises(PiJobFailed) as info:
        job.raise_if_failed()
    assert info.value.job is job
    assert info.value.message == job.error_log


def test_campaign_failure_code_becomes_the_error_code():
    job = Job.from_response(
        envelope(
            type="campaign_ad_generation",
            status="failed",
            error_log="step failed",
            payload={"phase": "failed", "failure_code": "internal_step_failed"},
        ),
        None,
    )
    with pytest.raises(PiJobFailed) as info:
        job.raise_if_failed()
    assert info.value.code == "internal_step_failed"


def test_raise_if_failed_returns_other_jobs():
    job = Job.from_response(envelope(status="completed"), None)
    assert job.raise_if_failed() is job


def test_rejects_envelopes_without_a_job():
    with pytest.raises(PiServerError):
        Job.from_response({"status": "completed"}, "r")
    with pytest.raises(PiServerError):
        Job.from_response({"data": {"status": "completed"}}, "r")


def test_tolerates_odd_timestamps_and_payloads():
    job = Job.from_response(
        envelope(created_at="2024-01-01T00:00:00Z", updated_at=None, payload=None), None
    )
    assert job.created_at == 1704067200
    assert job.updated_at == 0
    assert job.payload == {}
    assert job.phase is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("Simple message", "Simple message"),
        ("Error: boom\n    at fn (/app/x.js:1:2)\n    at next (/app/y.js:3:4)", "Error: boom"),
        ("Error: boom at fn (/app/src/x.ts:10:5)", "Error: boom"),
        (
            'Traceback (most recent call last):\n  File "/app/x.py", line 1, in f\nValueError: bad',
            "ValueError: bad",
        ),
        ("Error: cannot open /srv/app/data/brand.json", "Error: cannot open"),
        ("Error: cannot open 'C:\\app\\data\\x.json'", "Error: cannot open"),
        ("  many   \n\n spaces\t here  ", "many spaces here"),
        ("    at fn (/app/x.js:1:2)", None),
    ],
)
def test_sanitize_error_log(raw, expected):
    assert sanitize_error_log(raw) == expected


def test_sanitize_keeps_urls_and_caps_length():
    assert sanitize_error_log("Failed https://acme.com/a/b/c") == "Failed https://acme.com/a/b/c"
    long = sanitize_error_log("x" * 1000)
    assert len(long) == 300


def test_sanitize_never_returns_a_stack_frame():
    text = "TypeError: x is undefined\n    at Object.<anonymous> (/app/a.js:1:1)\n" * 3
    cleaned = sanitize_error_log(text)
    assert " at " not in cleaned
    assert "/app" not in cleaned


def test_brand_page_reads_the_list_envelope():
    page = BrandPage.from_response(
        {
            "object": "list",
            "data": {"data": [{"id": BRAND_ID}], "total_count": 41, "has_more": True},
        }
    )
    assert page == BrandPage(brands=[{"id": BRAND_ID}], total_count=41, has_more=True)
