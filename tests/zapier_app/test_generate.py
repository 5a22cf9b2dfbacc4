"""The Zapier field specs are generated from the endpoint schemas and never go stale."""

from __future__ import annotations

import json

from connector.pi import validation
from zapier_app import generate


def test_committed_definition_is_up_to_date():
    committed = generate.OUTPUT.read_text()
    assert committed == generate.render(), (
        "zapier_app/integration/generated/fields.json is stale: "
        "run `python -m zapier_app.generate` and commit the result"
    )


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "fields.json"
    stale.write_text(generate.render().replace('"Prompt"', '"Old prompt label"'))
    monkeypatch.setattr(generate, "OUTPUT", stale)
    assert generate.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0


def _field(action: str, key: str) -> dict:
    [field] = [f for f in generate.build()["inputFields"][action] if f["key"] == key]
    return field


def test_choices_and_limits_come_from_pis_validation_constants():
    for action in ("generate_image", "render_campaign"):
        assert _field(action, "aspect_ratio")["choices"] == list(validation.ASPECT_RATIOS)
        assert _field(action, "resolution")["choices"] == list(validation.RESOLUTIONS)
        assert _field(action, "thinking_intensity")["choices"] == list(
            validation.THINKING_INTENSITIES
        )
        assert str(validation.MAX_PROMPT_CHARS) in _field(action, "prompt")["helpText"]
        images = _field(action, "reference_images")
        assert images["list"] is True and str(validation.MAX_REFERENCE_IMAGES) in images["helpText"]
        assert _field(action, "prompt")["required"] is True


def test_a_changed_limit_changes_the_generated_definition(monkeypatch):
    before = generate.render()
    monkeypatch.setattr(validation, "RESOLUTIONS", ("1K", "2K"))
    from zapier_app import schemas

    field = schemas.GenerationInput._declared_fields["resolution"]
    monkeypatch.setattr(field, "validators", [schemas.validate.OneOf(validation.RESOLUTIONS)])
    assert generate.render() != before


def test_every_input_field_has_help_text_and_hidden_fields_stay_hidden():
    spec = generate.build()
    for action, fields in spec["inputFields"].items():
        for field in fields:
            assert field["helpText"], (action, field["key"])
        assert "callback_url" not in {f["key"] for f in fields}
        assert "limit" not in {f["key"] for f in fields}
    assert spec["inputFields"]["extract_brand"][0]["key"] == "url"


def test_samples_have_every_output_field():
    spec = json.loads(generate.render())
    keys = [f["key"] for f in spec["outputFields"]["object"]]
    for name in ("brand", "brand_job", "image_job", "campaign_job"):
        assert list(spec["samples"][name]) == keys
    assert spec["samples"]["brand"]["id"] == spec["samples"]["brand"]["brand_id"]
    assert spec["samples"]["image_job"]["id"] == spec["samples"]["image_job"]["job_id"]
    assert [f["key"] for f in spec["outputFields"]["event"]] == list(spec["samples"]["job_event"])
