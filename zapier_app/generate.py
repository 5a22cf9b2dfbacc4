"""Generate the Zapier integration's field specs and samples from the endpoint schemas.

Run `python -m zapier_app.generate` after changing `zapier_app/schemas.py` (or Pi's limits in
`connector/pi/validation.py`); `python -m zapier_app.generate --check` exits 1 when the
committed file is stale (a test runs the same check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate

from connector.ledger import JobEvent, JobRecord
from zapier_app import objects, schemas

OUTPUT = Path(__file__).parent / "integration" / "generated" / "fields.json"

# Integration-only input: how the create waits (it decides between callback and short wait).
WAIT_FOR_RESULT = {
    "key": "wait_for_result",
    "label": "Wait for the Result",
    "type": "boolean",
    "required": False,
    "default": "true",
    "helpText": (
        "**Yes**: the Zap pauses until Pi has finished (minutes if need be), then continues "
        "with the result. **No**: the step waits at most 25 seconds and continues with the "
        "current status; use *Find Job* later to read the result."
    ),
}

# The types Zapier accepts on an output field (text, say, is an input-only type).
OUTPUT_TYPES = ("string", "number", "boolean", "datetime", "file", "password", "integer")

_TYPES: list[tuple[type[fields.Field], str]] = [
    (fields.Boolean, "boolean"),
    (fields.Integer, "integer"),
    (fields.Float, "number"),
    (fields.String, "string"),
]

# Fixed sample values: the generated file must be byte-identical on every run.
_SAMPLE_TIME = 1767225600.0  # 2026-01-01T00:00:00Z
_SAMPLE_BRAND = {
    "brand_id": "3f6c2a1e-8b4d-4c55-9e0a-5b7d2c1f9a10",
    "brand_name": "Acme",
    "domain": "acme.com",
    "primary_hex": "#0B1F3A",
    "secondary_hex": "#F5A623",
    "logo_url": "https://cdn.example.com/brands/acme/logo.png",
}


def _base_type(field: fields.Field) -> str:
    inner = field.inner if isinstance(field, fields.List) else field
    for cls, name in _TYPES:
        if isinstance(inner, cls):
            return name
    return "string"


def _choices(field: fields.Field) -> list[str] | None:
    for validator in _validators(field):
        if isinstance(validator, validate.OneOf):
            return [str(choice) for choice in validator.choices]
    return None


def _validators(field: fields.Field) -> list[Any]:
    found = list(field.validators)
    if isinstance(field, fields.List):
        found += list(field.inner.validators)
    return found


def input_fields(schema: Schema) -> list[dict[str, Any]]:
    """Return Zapier inputFields for a schema's visible fields, in declaration order."""
    specs = []
    for name, field in schema.fields.items():
        meta = field.metadata.get("zapier")
        if not meta:
            continue  # hidden from users (callback_url, limit)
        spec: dict[str, Any] = {"key": field.data_key or name, "label": meta["label"]}
        spec["type"] = meta.get("type") or _base_type(field)
        spec["required"] = bool(meta.get("required", field.required))
        if isinstance(field, fields.List):
            spec["list"] = True
        choices = meta.get("choices") or _choices(field)
        if choices:
            spec["choices"] = choices
        for extra in ("default", "placeholder", "dynamic", "search"):
            if extra in meta:
                spec[extra] = meta[extra]
        spec["helpText"] = meta["helpText"]
        specs.append(spec)
    return specs


def output_fields(schema: Schema) -> list[dict[str, Any]]:
    """Return Zapier outputFields (key, label, type, primary) for an object schema."""
    specs = []
    for name, field in schema.fields.items():
        meta = field.metadata["zapier"]
        spec: dict[str, Any] = {"key": name, "label": meta["label"]}
        wanted = meta.get("type")
        spec["type"] = wanted if wanted in OUTPUT_TYPES else _base_type(field)
        if meta.get("primary"):
            spec["primary"] = True
        specs.append(spec)
    return specs


def with_image_file(item: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Return a sample with the image file the integration adds (its URL stands in for it)."""
    return schema.dump({**item, "image_file": item["image_url"]})


def _sample_record(kind: str, job_id: str, **extra: Any) -> JobRecord:
    record = JobRecord(
        job_id=job_id,
        account_id="sample",
        kind=kind,
        input={},
        origin="zapier",
        status="completed",
        created_at=_SAMPLE_TIME,
        updated_at=_SAMPLE_TIME + 42,
        finished_at=_SAMPLE_TIME + 42,
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def samples() -> dict[str, dict[str, Any]]:
    """Return one sample object per operation family, built by the endpoints' own code."""
    brand_job = _sample_record(
        "brand_extraction",
        "9a1b7c3d-2e4f-4a6b-8c0d-1e2f3a4b5c6d",
        brand_id=_SAMPLE_BRAND["brand_id"],
        brand=dict(_SAMPLE_BRAND),
    )
    image_job = _sample_record(
        "image_generation",
        "5c2d8e4f-6a1b-4c3d-9e5f-7a8b9c0d1e2f",
        brand_id=_SAMPLE_BRAND["brand_id"],
        image_url="https://cdn.example.com/images/5c2d8e4f.png",
    )
    campaign_job = _sample_record(
        "campaign_render",
        "7e4f0a6b-8c2d-4e5f-a1b3-c4d5e6f7a8b9",
        brand_id=_SAMPLE_BRAND["brand_id"],
        image_url="https://cdn.example.com/campaigns/7e4f0a6b.png",
    )
    job_output = schemas.ZapierJobOutput()
    return {
        "brand_job": objects.zapier_object(brand_job),
        "brand": objects.brand_object(brand_job),
        "image_job": with_image_file(objects.zapier_object(image_job), job_output),
        "campaign_job": with_image_file(objects.zapier_object(campaign_job), job_output),
        "job_event": with_image_file(
            objects.event_object(image_job, "job.completed"), schemas.ZapierEventOutput()
        ),
    }


def build() -> dict[str, Any]:
    """Return the whole generated definition."""
    generation = input_fields(schemas.GenerationInput())
    return {
        "_generated": "by `python -m zapier_app.generate` from zapier_app/schemas.py; do not edit",
        "hookEvents": [str(e) for e in JobEvent],
        "triggerLimit": {"default": schemas.DEFAULT_LIMIT, "max": schemas.MAX_LIMIT},
        # The Brand dropdown's trigger asks for page bundle.meta.page of this many brands.
        "brandPages": {"size": schemas.DEFAULT_LIMIT, "maxPage": schemas.MAX_PAGE},
        "inputFields": {
            "extract_brand": input_fields(schemas.ExtractBrandInput()) + [WAIT_FOR_RESULT],
            "generate_image": generation + [WAIT_FOR_RESULT],
            "render_campaign": generation + [WAIT_FOR_RESULT],
            "find_job": input_fields(schemas.JobSearchQuery()),
            "find_brand": input_fields(schemas.BrandSearchQuery()),
            "job_finished": input_fields(schemas.JobsTriggerQuery()),
            "new_brand": input_fields(schemas.BrandsTriggerQuery()),
        },
        "outputFields": {
            "object": output_fields(schemas.ZapierObject()),
            "brand": output_fields(schemas.ZapierBrandObject()),
            "job": output_fields(schemas.ZapierJobOutput()),
            "event": output_fields(schemas.ZapierEventOutput()),
        },
        "samples": samples(),
    }


def render() -> str:
    """Return the generated file's text."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the generated file, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(prog="python -m zapier_app.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run `python -m zapier_app.generate`", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
