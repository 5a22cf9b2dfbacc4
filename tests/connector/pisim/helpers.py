"""Helpers for black-box tests of the simulator over real HTTP."""

from __future__ import annotations

from typing import Any

import requests

API_KEY = "pi_test_alice"
OTHER_KEY = "pi_live_bob"


class PiHttp:
    """A thin requests wrapper speaking to the simulator with one API key."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url + "/api/v1"
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=kwargs.pop("timeout", 40), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base_url + path, timeout=kwargs.pop("timeout", 10), **kwargs)

    def create(self, path: str, body: dict[str, Any], **kwargs: Any) -> str:
        response = self.post(path, json=body, **kwargs)
        assert response.status_code == 202, response.text
        return response.json()["data"]["job_id"]

    def extract(self, url: str = "https://acme.com") -> str:
        return self.create("/brands/extract", {"url": url})

    def job(self, job_id: str, **params: Any) -> requests.Response:
        return self.get(f"/jobs/{job_id}", params=params)

    def wait(self, job_id: str, timeout_seconds: int = 10, **params: Any) -> dict[str, Any]:
        response = self.job(
            job_id, wait_for_completion="true", timeout_seconds=timeout_seconds, **params
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]


def assert_error(response: requests.Response, status: int, code: str, type_: str | None = None):
    """Check Pi's error envelope and that its request id matches the header."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if type_ is not None:
        assert error["type"] == type_
    assert error["request_id"].startswith("req_pi_")
    assert response.headers["X-Request-Id"] == error["request_id"]
    return error
