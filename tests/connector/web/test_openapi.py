"""GET /openapi.json: a valid OpenAPI 3 document that covers every endpoint the app serves."""

from __future__ import annotations

import re

import pytest
import schemathesis
from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

import manychat_app
import shopify_app
import zapier_app
from connector.ledger import BRAND_FIELDS
from connector.web import answers, api_v1, openapi, ops
from connector.web import spec as core_spec
from connector.web.openapi import (
    ApiDoc,
    Operation,
    api_docs,
    build_spec,
    register_api_doc,
    spec_for,
)
from tests.support.openapi import EVERY_API_DOC, served_spec

# Static files are not API operations (Flask's own and the Shopify admin page's assets).
NOT_API = {"static", "shopify.static"}
# The operator console is HTML for people behind its own sign-in (and off by default): not API.
NOT_API_PREFIXES = ("console.",)
IMPLICIT = {"HEAD", "OPTIONS"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _sample_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample-id", template)


def _documented(app, spec: dict) -> dict[str, set[str]]:
    """Return endpoint → methods the spec documents, by routing each documented path."""
    adapter = app.url_map.bind("localhost")
    found: dict[str, set[str]] = {}
    for path, item in spec["paths"].items():
        for method in set(item) & METHODS:
            try:
                endpoint, _ = adapter.match(_sample_path(path), method=method.upper())
            except (NotFound, MethodNotAllowed, RequestRedirect) as exc:
                pytest.fail(f"{method.upper()} {path} is documented but not served ({exc!r})")
            found.setdefault(endpoint, set()).add(method.upper())
    return found


def test_document_is_valid_openapi_3(app, spec):
    assert spec["openapi"].startswith("3.")
    # schemathesis checks the document against the OpenAPI 3.x meta-schema.
    schemathesis.openapi.from_dict(spec).validate()


def undocumented(app, spec: dict) -> list[str]:
    """Return every served endpoint and method the spec does not document."""
    documented = _documented(app, spec)
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_API or rule.endpoint.startswith(NOT_API_PREFIXES):
            continue
        for method in sorted((rule.methods or set()) - IMPLICIT):
            if method not in documented.get(rule.endpoint, set()):
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    return missing


def test_every_served_endpoint_and_method_is_documented(app, spec):
    missing = undocumented(app, spec)
    assert not missing, "served but not in /openapi.json: " + ", ".join(missing)


def test_an_endpoint_without_a_spec_entry_is_reported(app_config):
    from connector import create_app

    app = create_app(app_config)
    app.add_url_rule("/v1/jobs/<job_id>", "cancel", lambda job_id: "", methods=["PUT"])
    app.add_url_rule("/v1/undocumented", "undocumented", lambda: "")
    assert undocumented(app, served_spec()) == [
        "PUT /v1/jobs/<job_id> (cancel)",
        "GET /v1/undocumented (undocumented)",
    ]


def test_every_operation_documents_the_error_shape(spec):
    # NotReady is the error shape plus a status field (GET /readyz).
    error_refs = ({"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/NotReady"})
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
            assert errors, f"{method} {path} documents no error"
            for status, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema in error_refs, f"{method} {path} {status}"
    components = spec["components"]["schemas"]
    assert components["NotReady"]["required"] == ["error", "status"]
    error = components["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"}
    assert "details" in error["properties"]


def test_authenticated_operations_name_their_scheme(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["piApiKey"] == {**schemes["piApiKey"], "type": "http", "scheme": "bearer"}
    expected = {
        "/v1/jobs": "piApiKey",
        "/manychat/v1/brands/extract": "piApiKey",
        "/zapier/v1/triggers/jobs": "piApiKey",
        "/shopify/api/brand": "shopifySessionToken",
        "/shopify/webhooks": "shopifyWebhookHmac",
        "/shopify/callback": "shopifyOAuthHmac",
    }
    for path, scheme in expected.items():
        (operation,) = spec["paths"][path].values()
        assert operation["security"] == [{scheme: []}], path
        assert "401" in operation["responses"], path
    assert spec["paths"]["/healthz"]["get"]["security"] == []


def test_request_bodies_come_from_the_validating_schemas(spec):
    schemas = spec["components"]["schemas"]
    create = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] == {"$ref": "#/components/schemas/JobCreate"}
    assert set(schemas["JobCreate"]["required"]) == {"kind", "input"}
    assert schemas["ManyChatExtractInput"]["required"] == ["url"]
    hook = schemas["ZapierHookInput"]
    assert set(hook["required"]) == {"target_url", "event"}
    assert set(hook["properties"]["event"]["enum"]) == {
        "brand.extracted",
        "job.completed",
        "job.failed",
    }


def test_brand_fields_match_the_ledger():
    assert tuple(answers.BrandFields().fields) == BRAND_FIELDS


def test_spec_is_built_from_the_registered_docs_without_an_app():
    spec = served_spec("https://connector.example")
    assert spec["servers"] == [{"url": "https://connector.example"}]
    assert "/openapi.json" in spec["paths"]


# -- how packages plug in -------------------------------------------------------------------

PLATFORMS = {"/manychat/": manychat_app, "/zapier/": zapier_app, "/shopify/": shopify_app}


def _app_with(app, platforms) -> Flask:
    """Return an app serving the core and only these platforms, each plugged in by init_app."""
    partial = Flask("partial")
    # The Shopify package keeps its shop store on the store and secrets create_app attaches.
    partial.extensions.update(store=app.extensions["store"], secrets=app.extensions["secrets"])
    partial.register_blueprint(ops.bp)
    api_v1.init_app(partial)
    openapi.init_app(partial)
    register_api_doc(partial, core_spec.API_DOC)
    for platform in platforms:
        platform.init_app(partial)
    return partial


def test_create_app_registers_the_core_then_every_platform(app):
    assert [id(doc) for doc in api_docs(app)] == [id(doc) for doc in EVERY_API_DOC]


@pytest.mark.parametrize("prefix", PLATFORMS)
def test_a_platform_init_app_registers_its_spec(app, prefix):
    platform = PLATFORMS[prefix]
    partial = _app_with(app, [platform])
    assert api_docs(partial) == (core_spec.API_DOC, platform.spec.API_DOC)


@pytest.mark.parametrize("left_out", PLATFORMS)
def test_a_platform_is_documented_only_when_its_init_app_registered_it(app, left_out):
    platforms = [p for prefix, p in PLATFORMS.items() if prefix != left_out]
    partial = _app_with(app, platforms)
    spec = spec_for(partial)
    assert [path for path in spec["paths"] if path.startswith(left_out)] == []
    for prefix in PLATFORMS.keys() - {left_out}:
        assert any(path.startswith(prefix) for path in spec["paths"]), prefix
    missing = PLATFORMS[left_out].spec.API_DOC
    assert not set(missing.schemas) & set(spec["components"]["schemas"])
    assert not set(missing.security_schemes) & set(spec["components"]["securitySchemes"])
    assert undocumented(partial, spec) == []
    assert client_document(partial) == spec


def client_document(app) -> dict:
    """Return what GET /openapi.json serves on the app."""
    return app.test_client().get("/openapi.json").get_json()


def test_the_document_is_built_once_per_app_and_again_after_a_registration(app, app_config):
    from connector import create_app

    first = spec_for(app)
    assert spec_for(app) is first
    extra = ApiDoc(operations=(Operation("get", "/v1/extra", "Extra", "api", {200: "Health"}),))
    register_api_doc(app, extra)
    again = spec_for(app)
    assert again is not first
    assert "/v1/extra" in again["paths"]
    assert "/v1/extra" in client_document(app)["paths"]
    assert "/v1/extra" not in spec_for(create_app(app_config))["paths"]


def test_an_operation_registered_twice_is_refused():
    twice = ApiDoc(operations=(Operation("get", "/healthz", "Again", "ops", {200: "Health"}),))
    with pytest.raises(ValueError, match="GET /healthz is documented twice"):
        build_spec([core_spec.API_DOC, twice])


def test_query_schemas_become_parameters_not_components(spec):
    assert not any(name.endswith("Query") for name in spec["components"]["schemas"])
    (parameter,) = spec["paths"]["/zapier/v1/searches/job"]["get"]["parameters"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == ("job_id", "query", True)
