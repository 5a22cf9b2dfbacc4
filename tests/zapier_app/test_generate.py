"""The Zapier field specs are generated from the endpoint schemas and never go stale."""

from __future__ import annotations

import json

from connector.ledger import JobKind
from connector.pi import validation
from zapier_app import generate, schemas


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
    keys = {name: [f["key"] for f in fields] for name, fields in spec["outputFields"].items()}
    for sample, outputs in (
        ("brand", "brand"),
        ("brand_job", "object"),
        ("image_job", "job"),
        ("campaign_job", "job"),
        ("job_event", "event"),
    ):
        assert list(spec["samples"][sample]) == keys[outputs], sample
    assert spec["samples"]["brand"]["id"] == spec["samples"]["brand"]["brand_id"]
    assert spec["samples"]["brand"]["label"] == "Acme (acme.com)"
    assert spec["samples"]["image_job"]["id"] == spec["samples"]["image_job"]["job_id"]
    image = spec["samples"]["image_job"]
    assert image["image_file"] == image["image_url"]


def test_every_output_field_has_a_label_and_a_zapier_type():
    types = set(generate.OUTPUT_TYPES)
    for name, fields in generate.build()["outputFields"].items():
        for field in fields:
            assert field["label"] and field["type"] in types, (name, field)
        keys = [f["key"] for f in fields]
        assert len(keys) == len(set(keys)), name


def test_output_fields_follow_the_object_schemas():
    outputs = generate.build()["outputFields"]
    object_keys = list(schemas.ZapierObject().fields)
    assert [f["key"] for f in outputs["object"]] == object_keys
    assert [f["key"] for f in outputs["brand"]] == [*object_keys, "label"]
    assert [f["key"] for f in outputs["job"]] == [*object_keys, "image_file"]
    assert [f["key"] for f in outputs["event"]] == [*object_keys, "event", "image_file"]
    by_key = {f["key"]: f for f in outputs["event"]}
    assert by_key["image_file"]["type"] == "file"
    assert by_key["image_url"]["type"] == "string"  # the plain link stays a link
    assert by_key["created_at"]["type"] == "datetime"
    assert by_key["id"]["primary"] is True


def test_a_new_object_field_becomes_a_typed_output_field(monkeypatch):
    field = schemas.fields.String(metadata=schemas.zapier("Extra", "An extra field.", type="text"))
    monkeypatch.setitem(schemas.ZapierObject._declared_fields, "extra", field)
    spec = generate.build()
    # "text" is an input-only type: the output field is a string.
    assert {"key": "extra", "label": "Extra", "type": "string"} in spec["outputFields"]["object"]


def test_brand_dropdown_and_search_are_generated_for_generation_actions():
    spec = generate.build()
    for action in ("generate_image", "render_campaign"):
        brand = next(f for f in spec["inputFields"][action] if f["key"] == "brand_id")
        assert brand["dynamic"] == "brand_list.id.label"
        assert brand["search"] == "find_brand.id"
        assert brand["required"] is False
    assert spec["brandPages"] == {"size": schemas.DEFAULT_LIMIT, "maxPage": schemas.MAX_PAGE}


def test_job_finished_offers_an_optional_kind_filter_with_every_kind():
    [event, kind] = generate.build()["inputFields"]["job_finished"]
    assert event["key"] == "event" and kind["key"] == "kind"
    assert kind["required"] is False
    assert [c["value"] for c in kind["choices"]] == [str(k) for k in JobKind]
    assert all(c["label"] for c in kind["choices"])
