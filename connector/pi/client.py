"""HTTP client for the Pi API: submit jobs, long-poll them, read brands."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from connector.pi.exceptions import (
    PiConnectionError,
    PiError,
    PiInputError,
    PiRateLimited,
    PiServerError,
)
from connector.pi.results import BrandPage, Job
from connector.pi.retry import RETRYABLE_STATUSES
from connector.pi.transport import Transport, deadline_error
from connector.pi.validation import (
    UUID_RE,
    validate_brand_input,
    validate_generation_input,
    validate_uuid,
)
from connector.runtime.backoff import backoff_delay

log = logging.getLogger("connector.pi")

DEFAULT_POLL_SECONDS = 20
MAX_POLL_SECONDS = 30
# A waiting request asks Pi for at most (remaining - this) seconds: Pi answers before our deadline.
LONG_POLL_SAFETY = 1.5
# Pi re-reads a job every second while it long-polls; an earlier non-terminal answer means the
# wait was not honoured, and re-polling at once would spin.
MIN_POLL_INTERVAL = 1.0
MAX_IDEMPOTENCY_KEY_CHARS = 255


def _poll_seconds(value: Any, field: str) -> int:
    """Return a long-poll window Pi accepts (an integer 1..30), or raise PiInputError."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POLL_SECONDS:
        raise PiInputError(field, f"must be an integer from 1 to {MAX_POLL_SECONDS}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    """Return value if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


class PiClient(Transport):
    """Talk to one Pi account; one instance per API key, no global state."""

    # -- jobs -------------------------------------------------------------------------------

    def extract_brand(
        self,
        *,
        url: str | None = None,
        logo_base64: str | None = None,
        images_base64: Sequence[str] | None = None,
        location: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> str:
        """Submit a brand extraction and return its job id (never retried once sent)."""
        body = validate_brand_input(
            url=url, logo_base64=logo_base64, images_base64=images_base64, location=location
        )
        return self._create("/brands/extract", body, None, deadline)

    def generate_image(
        self,
        *,
        prompt: str,
        reference_images: Sequence[str] | None = None,
        brand_id: str | None = None,
        brand_identity_json: Mapping[str, Any] | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        thinking_intensity: str | None = None,
        client_reference_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        deadline: float | None = None,
    ) -> str:
        """Submit an image generation and return its job id."""
        body = validate_generation_input(
            prompt=prompt,
            reference_images=reference_images,
            brand_id=brand_id,
            brand_identity_json=brand_identity_json,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            thinking_intensity=thinking_intensity,
            client_reference_id=client_reference_id,
            metadata=metadata,
        )
        return self._create("/images/generations", body, idempotency_key, deadline)

    def render_campaign(
        self,
        *,
        prompt: str,
        reference_images: Sequence[str] | None = None,
        brand_id: str | None = None,
        brand_identity_json: Mapping[str, Any] | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        thinking_intensity: str | None = None,
        client_reference_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        deadline: float | None = None,
    ) -> str:
        """Submit a campaign render and return its job id."""
        body = validate_generation_input(
            prompt=prompt,
            reference_images=reference_images,
            brand_id=brand_id,
            brand_identity_json=brand_identity_json,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            thinking_intensity=thinking_intensity,
            client_reference_id=client_reference_id,
            metadata=metadata,
        )
        return self._create("/campaigns/generate", body, idempotency_key, deadline)

    def get_job(
        self,
        job_id: str,
        *,
        wait: bool = False,
        timeout_seconds: int | None = None,
        expand: str | None = None,
        deadline: float | None = None,
    ) -> Job:
        """Read a job, long-polling up to timeout_seconds when wait is true."""
        if not isinstance(job_id, str) or not UUID_RE.match(job_id):
            raise PiInputError("job_id", "must be a UUID")
        params: dict[str, str] | None = None
        read_timeout = self._timeout
        if wait:
            seconds = DEFAULT_POLL_SECONDS if timeout_seconds is None else timeout_seconds
            seconds = _poll_seconds(seconds, "timeout_seconds")
            params = {"wait_for_completion": "true", "timeout_seconds": str(seconds)}
            # The socket must outlast Pi's long-poll window or every wait ends in a timeout.
            read_timeout = seconds + self._long_poll_margin
        if expand is not None:
            params = params or {}
            params["expand"] = expand
        body, request_id = self._request(
            "GET", self._jobs + job_id, params=params, read_timeout=read_timeout, deadline=deadline
        )
        return Job.from_response(body, request_id)

    def wait_for_job(
        self,
        job_id: str,
        *,
        deadline: float,
        poll_timeout: int = DEFAULT_POLL_SECONDS,
        expand: str | None = "brand",
    ) -> Job:
        """Long-poll a job until it is terminal or the monotonic deadline; return the last state."""
        poll_timeout = _poll_seconds(poll_timeout, "poll_timeout")
        last_job: Job | None = None
        last_error: PiError | None = None
        failures = 0
        while (remaining := deadline - self._clock()) > 0:
            seconds = min(poll_timeout, math.floor(remaining - LONG_POLL_SAFETY))
            started = self._clock()
            try:
                if seconds >= 1:
                    job = self.get_job(
                        job_id, wait=True, timeout_seconds=seconds, expand=expand, deadline=deadline
                    )
                else:  # Too little time for a long-poll: one plain read, cut to the deadline.
                    job = self.get_job(job_id, expand=expand, deadline=deadline)
            except (PiConnectionError, PiRateLimited, PiServerError) as exc:
                if exc.status is not None and exc.status not in RETRYABLE_STATUSES:
                    raise
                last_error = exc
                delay = backoff_delay(self._backoff, failures, server_wait=exc.retry_after)
                if seconds < 1 or self._clock() + delay >= deadline:
                    break
                self._sleep(delay)
                failures += 1
                continue
            last_job = job
            if job.is_terminal or seconds < 1:
                return job
            pause = MIN_POLL_INTERVAL - (self._clock() - started)
            if pause > 0:
                if self._clock() + pause >= deadline:
                    break
                self._sleep(pause)
        if last_job is not None:
            return last_job
        raise last_error or deadline_error()

    # -- brands -----------------------------------------------------------------------------

    def get_brand(self, brand_id: str) -> dict[str, Any]:
        """Return a brand object by id."""
        validate_uuid(brand_id, "brand_id")
        body, request_id = self._request("GET", f"{self._api}/brands/{brand_id}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise PiServerError(
                "Pi sent a brand without data", code="invalid_response", request_id=request_id
            )
        return data

    def list_brands(
        self, *, query: str | None = None, limit: int = 20, offset: int = 0
    ) -> BrandPage:
        """Return one page of the account's brands, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise PiInputError("limit", "must be an integer from 1 to 100")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise PiInputError("offset", "must be an integer, zero or more")
        params = {"limit": str(limit), "offset": str(offset)}
        if query is not None:
            if not isinstance(query, str):
                raise PiInputError("query", "must be a string")
            if query.strip():
                params["query"] = query.strip()
        body, _ = self._request("GET", f"{self._api}/brands", params=params)
        return BrandPage.from_response(body)

    # -- transport --------------------------------------------------------------------------

    def _create(
        self,
        path: str,
        body: dict[str, Any],
        idempotency_key: str | None,
        deadline: float | None = None,
    ) -> str:
        """POST a job-creating request and return data.job_id; retries end at the deadline."""
        headers = None
        if idempotency_key is not None:
            key = idempotency_key.strip() if isinstance(idempotency_key, str) else ""
            if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not key.isprintable():
                raise PiInputError(
                    "idempotency_key",
                    f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters",
                )
            headers = {"Idempotency-Key": key}
        answer, request_id = self._request(
            "POST",
            self._api + path,
            json_body=body,
            headers=headers,
            deadline=deadline,
            idempotent_post=bool(headers),
        )
        job_id = _dict(answer.get("data")).get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise PiServerError(
                "Pi accepted the job but sent no data.job_id",
                code="invalid_response",
                request_id=request_id,
            )
        log.info("pi job created job_id=%s request_id=%s path=%s", job_id, request_id, path)
        return job_id
