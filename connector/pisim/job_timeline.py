"""Simulated Pi jobs: timing computed from the clock, and payloads per phase and job type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from connector.pisim.brands import iso, url_host
from connector.pisim.controls import IMAGE_BASE_URL

BRAND = "brand_extraction"
AD = "ad_generation"
CAMPAIGN = "campaign_ad_generation"
TERMINAL = ("completed", "failed")

BRAND_PHASES = (
    "phase_a_normalization",
    "phase_b_gemini_manifesto",
    "phase_c_gemini_structuring",
    "phase_d_database_mutation",
)
PROCESSING_PHASE = {AD: "generating_image", CAMPAIGN: "mastra_workflow_start"}
# A job stays "queued" for this share of its duration, as if waiting for a worker.
QUEUED_SHARE = 0.1
SLOW_SECONDS = 60.0

_SECS_HOST_RE = re.compile(r"secs(\d+)")
_SECS_PROMPT_RE = re.compile(r"\[secs(\d+)\]")

_JS_STACK = (
    "Error: {message}\n"
    "    at extractBrand (/var/task/src/jobs/brand-extractor.ts:214:13)\n"
    "    at async Object.run (/var/task/src/jobs/brand-extractor.ts:87:20)\n"
    "    at async _RunTimelineMetricsExecutor.run "
    "(/var/task/node_modules/@trigger.dev/core/dist/v3/workers/index.js:1096:24)"
)


@dataclass(frozen=True)
class Magic:
    """Behaviour requested by magic words in a brand URL host or a prompt."""

    fail: bool = False
    hang: bool = False
    seconds: float | None = None


def brand_magic(url: str | None) -> Magic:
    """Read fail/slow/hang/secsN from a brand URL's host."""
    host = url_host(url) if url else ""
    secs = _SECS_HOST_RE.search(host)
    seconds = float(secs.group(1)) if secs else SLOW_SECONDS if "slow" in host else None
    return Magic(fail="fail" in host, hang="hang" in host, seconds=seconds)


def prompt_magic(prompt: str) -> Magic:
    """Read [fail]/[slow]/[hang]/[secsN] from a prompt."""
    text = prompt.lower()
    secs = _SECS_PROMPT_RE.search(text)
    seconds = float(secs.group(1)) if secs else SLOW_SECONDS if "[slow]" in text else None
    return Magic(fail="[fail]" in text, hang="[hang]" in text, seconds=seconds)


@dataclass
class Job:
    """One job; its status at any instant follows from created + duration (or a forced end)."""

    id: str
    org_id: str
    type: str
    created: float
    duration: float
    will_fail: bool = False
    hang: bool = False
    input: dict[str, Any] = field(default_factory=dict)
    trigger_failed: bool = False
    forced: str | None = None
    forced_at: float | None = None
    brand_id: str | None = None
    settled: bool = False
    image_base_url: str = IMAGE_BASE_URL

    @property
    def ends_at(self) -> float:
        """Return the instant the job is (or will be) marked completed or failed."""
        return self.forced_at if self.forced_at is not None else self.created + self.duration

    @property
    def outcome(self) -> str:
        """Return the terminal status this job reaches."""
        return self.forced or ("failed" if self.will_fail else "completed")

    def is_terminal(self, now: float) -> bool:
        """Tell whether the job has ended at this instant."""
        return now >= self.ends_at

    def progress(self, now: float) -> tuple[str, str, float]:
        """Return (status, phase, when that phase began) at this instant."""
        if now >= self.ends_at:
            return self.outcome, self.outcome, self.ends_at
        queued_for = self.duration * QUEUED_SHARE
        elapsed = now - self.created
        if elapsed < queued_for:
            return "queued", "queued", self.created
        started = self.created + queued_for
        if self.type != BRAND:
            return "processing", PROCESSING_PHASE.get(self.type, "processing"), started
        step = (self.duration - queued_for) / len(BRAND_PHASES)
        index = min(len(BRAND_PHASES) - 1, int((elapsed - queued_for) / step))
        return "processing", BRAND_PHASES[index], started + index * step

    def force(self, outcome: str, now: float) -> bool:
        """End the job now with this outcome; return False if it had already ended."""
        if self.is_terminal(now):
            return False
        self.forced, self.forced_at = outcome, now
        return True

    @property
    def image_url(self) -> str:
        """Return the URL of the image an ad or campaign job produces."""
        return f"{self.image_base_url}/{self.id}.png"

    def failure_message(self) -> str:
        """Return the human part of the job's error_log."""
        if self.trigger_failed:
            return "Failed to trigger background task: trigger.dev returned 503"
        if self.type == BRAND:
            target = self.input.get("url") or "the uploaded assets"
            return f"Brand extraction failed: could not fetch {target} (upstream status 500)"
        return "Campaign workflow step 'render_image' failed: image model returned no candidates"

    def payload(self, status: str, phase: str) -> dict[str, Any]:
        """Return the payload for a phase; each phase replaces the whole object, as on Pi."""
        if status == "failed":
            if self.type == BRAND:
                return {"phase": "failed", "failed_at": iso(self.ends_at)}
            return {"phase": "failed", "failure_code": "internal_step_failed"}
        if self.type == BRAND:
            if status == "completed":
                count = int(bool(self.input.get("has_logo"))) + self.input.get("image_count", 0)
                return {"phase": "completed", "brand_id": self.brand_id, "asset_count": count}
            if status == "queued":
                return {"phase": "queued", "input": dict(self.input)}
            return {"phase": phase}
        if status == "queued":
            return {"phase": "queued", "input": dict(self.input)}
        if status == "processing":
            # client_reference_id and metadata are dropped here: Pi's worker loses them too.
            keep = ("prompt", "reference_image_count", "output")
            return {"phase": phase, "input": {k: self.input.get(k) for k in keep}}
        done: dict[str, Any] = {"phase": "completed", "image_url": self.image_url}
        if self.type == CAMPAIGN:
            done["diagnostics"] = {
                "workflow": "campaign_ad",
                "steps": ["plan_copy", "compose_layout", "render_image", "quality_check"],
                "duration_ms": int(self.duration * 1000),
            }
        return done

    def row(self, now: float) -> dict[str, Any]:
        """Return the job as Pi's jobs table holds it at this instant (epoch-int timestamps)."""
        status, phase, changed = self.progress(now)
        result_url = None
        error_log = None
        if status == "completed":
            if self.type == BRAND and self.brand_id:
                result_url = f"brands/{self.brand_id}"
            elif self.type == CAMPAIGN:
                result_url = self.image_url
        elif status == "failed":
            message = self.failure_message()
            # Brand jobs store the JS stack after the message; campaign jobs the message only.
            error_log = (
                f"{message}\n{_JS_STACK.format(message=message)}" if self.type == BRAND else message
            )
        return {
            "id": self.id,
            "org_id": self.org_id,
            "type": self.type,
            "status": status,
            "payload": self.payload(status, phase),
            "result_url": result_url,
            "error_log": error_log,
            "created_at": int(self.created),
            "updated_at": int(changed),
        }

    def internal(self, now: float) -> dict[str, Any]:
        """Return the admin view: the public row plus timing and magic."""
        status, phase, _ = self.progress(now)
        return {
            **self.row(now),
            "phase": phase,
            "created": self.created,
            "duration": self.duration,
            "ends_at": self.ends_at,
            "outcome": self.outcome,
            "forced": self.forced,
            "hang": self.hang,
            "trigger_failed": self.trigger_failed,
            "brand_id": self.brand_id,
            "input": dict(self.input),
        }
