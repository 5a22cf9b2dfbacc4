"""GET /jobs/:id: envelopes, query rules, traps, phases and results."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.connector.pisim.helpers import assert_error


def test_top_level_status_is_completed_while_the_job_is_processing(pi, pisim):
    pisim.configure(job_seconds=5)
    job_id = pi.extract()
    time.sleep(0.7)
    body = pi.job(job_id).json()
    assert body["status"] == "completed"
    assert body["object"] == "job"
    assert body["data"]["status"] == "processing"
    assert body["data"]["payload"] == {"phase": "phase_a_normalization"}


def test_job_is_queued_first_then_processing(pi, pisim):
    pisim.configure(job_seconds=10)
    job_id = pi.extract()
    first = pi.job(job_id).json()["data"]
    assert first["status"] == "queued"
    assert first["payload"]["phase"] == "queued"
    pisim.complete(job_id)
    assert pi.job(job_id).json()["data"]["status"] == "completed"


@pytest.mark.parametrize("value", ["0", "31", "2.5", "abc", "", "-1"])
def test_bad_timeout_seconds_is_400_invalid_expand_param(pi, value):
    response = pi.job(pi.extract(), wait_for_completion="true", timeout_seconds=value)
    error = assert_error(response, 400, "invalid_expand_param")
    assert "expand" in error["message"].lower()


@pytest.mark.parametrize(
    "params",
    [{"expand": "brand,ad"}, {"include": "latest_job"}, {"expand": ""}, {"fields": ""}],
)
def test_bad_query_is_400_invalid_expand_param(pi, params):
    assert_error(pi.job(pi.extract(), **params), 400, "invalid_expand_param")


@pytest.mark.parametrize("value", ["True", "1", "", "yes"])
def test_only_the_exact_string_true_waits(pi, pisim, value):
    pisim.configure(job_seconds=5)
    job_id = pi.extract()
    started = time.monotonic()
    body = pi.job(job_id, wait_for_completion=value, timeout_seconds=3).json()
    assert time.monotonic() - started < 0.5
    assert body["data"]["status"] in ("queued", "processing")


def test_non_uuid_job_id_is_400(pi):
    assert_error(pi.job("not-a-uuid"), 400, "invalid_job_id")


def test_missing_job_and_other_orgs_job_get_the_same_404(pi, other_pi):
    job_id = pi.extract()
    assert_error(other_pi.job(job_id), 404, "job_not_found")
    assert_error(pi.job(str(uuid.uuid4())), 404, "job_not_found")


def test_a_404_returns_at_once_even_when_waiting(pi):
    started = time.monotonic()
    response = pi.job(str(uuid.uuid4()), wait_for_completion="true", timeout_seconds=5)
    assert response.status_code == 404
    assert time.monotonic() - started < 0.5


def test_fields_without_org_id_is_404(pi):
    job_id = pi.extract()
    assert_error(pi.job(job_id, fields="id,status,result_url"), 404, "job_not_found")


def test_fields_with_org_id_projects_and_fills_timestamps_with_now(pi, pisim):
    job_id = pi.extract()
    pisim.complete(job_id)
    data = pi.job(job_id, fields="id,org_id,status,bogus").json()["data"]
    assert set(data) == {"id", "org_id", "status", "created_at", "updated_at"}
    assert abs(data["created_at"] - time.time()) < 2
    assert pi.job(job_id, fields="bogus").json()["data"]["payload"]["phase"] == "completed"


def test_brand_job_runs_every_phase_then_completes_with_a_brand(pi, pisim):
    pisim.configure(job_seconds=2.5)
    job_id = pi.extract("https://www.Acme.com/about")
    phases = []
    while True:
        data = pi.job(job_id).json()["data"]
        if not phases or phases[-1] != data["payload"]["phase"]:
            phases.append(data["payload"]["phase"])
        if data["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    assert phases == [
        "queued",
        "phase_a_normalization",
        "phase_b_gemini_manifesto",
        "phase_c_gemini_structuring",
        "phase_d_database_mutation",
        "completed",
    ]
    brand_id = data["payload"]["brand_id"]
    assert data["payload"] == {"phase": "completed", "brand_id": brand_id, "asset_count": 0}
    assert data["result_url"] == f"brands/{brand_id}"
    assert data["job_result"] == {"type": "brand", "id": brand_id, "url": f"brands/{brand_id}"}
    assert isinstance(data["created_at"], int) and isinstance(data["updated_at"], int)
    assert data["updated_at"] >= data["created_at"]


def test_expand_brand_adds_the_brand_row(pi):
    data = pi.wait(pi.extract("https://acme.com"), expand="brand")
    brand = data["expanded"]["brand"]
    assert brand["id"] == data["job_result"]["id"]
    assert data["job_result"]["brand"] == brand
    assert brand["domain"] == "acme.com" and brand["name"] == "Acme"
    assert "expanded" not in pi.job(data["id"]).json()["data"]


def test_failed_brand_job_has_iso_failed_at_and_a_js_stack(pi):
    data = pi.wait(pi.extract("https://fail.example.com"))
    assert data["status"] == "failed"
    assert data["payload"]["phase"] == "failed"
    assert data["payload"]["failed_at"].endswith("+00:00")
    assert "\n    at " in data["error_log"]
    assert "Error: " in data["error_log"]
    assert data["result_url"] is None
    assert "job_result" not in data


def test_campaign_job_resolves_image_and_hides_diagnostics_unless_asked(pi):
    job_id = pi.create("/campaigns/generate", {"prompt": "shoe", "metadata": {"a": "b"}})
    data = pi.wait(job_id)
    image_url = data["payload"]["image_url"]
    assert data["payload"] == {"phase": "completed", "image_url": image_url}
    assert data["result_url"] == image_url
    assert data["job_result"] == {"type": "ad", "id": job_id, "image_url": image_url}
    assert "diagnostics" in pi.job(job_id, expand="diagnostics").json()["data"]["payload"]
    assert pi.job(job_id, expand="ad").json()["data"]["ad"] == {"image_url": image_url}


def test_campaign_payload_loses_reference_and_metadata_while_processing(pi, pisim):
    pisim.configure(image_seconds=5)
    job_id = pi.create("/campaigns/generate", {"prompt": "shoe", "client_reference_id": "r1"})
    time.sleep(0.7)
    payload = pi.job(job_id).json()["data"]["payload"]
    assert payload["phase"] == "mastra_workflow_start"
    assert set(payload["input"]) == {"prompt", "reference_image_count", "output"}


def test_ad_job_completes_with_payload_image_url(pi):
    data = pi.wait(pi.create("/images/generations", {"prompt": "shoe"}))
    assert data["payload"] == {"phase": "completed", "image_url": data["payload"]["image_url"]}
    assert data["job_result"]["type"] == "ad"


def test_failed_prompt_job_has_failure_code_and_message_only(pi):
    data = pi.wait(pi.create("/images/campaigns", {"prompt": "shoe [fail]"}))
    assert data["status"] == "failed"
    assert data["payload"] == {"phase": "failed", "failure_code": "internal_step_failed"}
    assert "\n" not in data["error_log"]


def test_secs_magic_sets_the_duration(pi, pisim):
    job_id = pi.extract("https://secs7.example.com")
    view = pisim.job(job_id)
    assert view["duration"] == 7
    assert view["ends_at"] == pytest.approx(view["created"] + 7)
    assert pisim.job(pi.extract("https://slow.example.com"))["duration"] == 60


def test_hang_magic_stalls_get_job_until_the_client_gives_up(pi, pisim):
    pisim.configure(hang_seconds=30)
    job_id = pi.create("/images/generations", {"prompt": "[hang] shoe"})
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        pi.get(f"/jobs/{job_id}", timeout=0.5)
    assert "timed out" in str(caught.value).lower()
    assert time.monotonic() - started < 2
    pisim.configure(hang_seconds=0.5)
    started = time.monotonic()
    assert pi.get(f"/jobs/{job_id}", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.5


def test_forced_fail_and_complete_change_the_outcome(pi, pisim):
    pisim.configure(job_seconds=30)
    a, b = pi.extract("https://a.example"), pi.extract("https://b.example")
    assert pisim.fail(a)["changed"] is True
    assert pisim.complete(b)["job"]["status"] == "completed"
    assert pisim.complete(a)["changed"] is False
    assert pi.job(a).json()["data"]["status"] == "failed"
    assert pi.job(b).json()["data"]["payload"]["brand_id"]
