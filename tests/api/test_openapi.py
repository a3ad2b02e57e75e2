"""The OpenAPI document: valid, complete, the JSON API only (no pages or forms), readable operation
ids, every error documented; every endpoint behind the bearer scheme; the app survives schemathesis's
generated requests (no 5xx; every status answered is documented, and its body matches)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from mailflow.api.error_models import ErrorOut
from mailflow.booking.model import Actor, ActorKind
from mailflow.services.api_keys import create_api_key
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.web.app import create_web_app
from tests.api.conftest import make_app

API_OPERATIONS = {
    ("get", "/api/v1/business"), ("patch", "/api/v1/business"),
    ("get", "/api/v1/services"), ("get", "/api/v1/services/{slug}"), ("patch", "/api/v1/services/{slug}"),
    ("get", "/api/v1/staff"), ("get", "/api/v1/customers"), ("get", "/api/v1/customers/{email}"),
    ("post", "/api/v1/customers/{email}/clear-bouncing"),
    ("post", "/api/v1/bookings"), ("get", "/api/v1/bookings"), ("get", "/api/v1/bookings/{ref}"),
    ("patch", "/api/v1/bookings/{ref}"), ("post", "/api/v1/bookings/{ref}/reschedule"),
    ("post", "/api/v1/bookings/{ref}/cancel"), ("get", "/api/v1/slots"),
    ("get", "/api/v1/templates"), ("get", "/api/v1/templates/{kind}/{locale}"),
    ("post", "/api/v1/templates/{kind}/{locale}/validate"),
    ("post", "/api/v1/templates/{kind}/{locale}/preview"),
    ("post", "/api/v1/templates/{kind}/{locale}/versions"),
    ("get", "/api/v1/outbox"), ("get", "/api/v1/bookings/{ref}/outbox"),
    ("get", "/api/v1/inbound"), ("get", "/api/v1/bookings/{ref}/inbound"),
    ("post", "/api/v1/services"), ("post", "/api/v1/services/{slug}/archive"),
    ("post", "/api/v1/staff"), ("patch", "/api/v1/staff/{email}"), ("put", "/api/v1/staff/{email}/hours"),
    ("get", "/api/v1/staff/{email}/time-off"), ("post", "/api/v1/staff/{email}/time-off"),
    ("delete", "/api/v1/staff/{email}/time-off/{id}"),
    ("get", "/api/v1/closures"), ("post", "/api/v1/closures"), ("delete", "/api/v1/closures/{id}"),
    ("post", "/api/v1/closures/holidays"),
    ("get", "/api/v1/webhooks"), ("post", "/api/v1/webhooks"), ("patch", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"), ("get", "/api/v1/webhooks/{id}/deliveries"),
}  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """One app (SQLite, demo business) and a key, shared by the generated requests of this module."""
    tmp = tmp_path_factory.mktemp("openapi")
    url = f"sqlite:///{tmp / 'mailflow.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = make_app(url, Path(tmp), datetime.now(UTC))
    actor = Actor(ActorKind.STAFF, "test")
    key = create_api_key(app.engine, "contoso", actor=actor, now=datetime.now(UTC))[1]
    yield create_web_app(app.web), key
    app.close()


@pytest.fixture(scope="module")
def document(served: tuple[FastAPI, str]) -> dict[str, Any]:
    response = TestClient(served[0]).get("/openapi.json")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    """openapi-spec-validator accepts the document."""
    validate(document)


def test_document_lists_every_api_operation_behind_the_bearer_scheme(document: dict[str, Any]) -> None:
    """All operations of /api/v1 are there, each requiring the HTTP bearer scheme."""
    operations = {
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1")
        for method in item
    }
    assert operations == API_OPERATIONS
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "ApiKey": {"type": "http", "scheme": "bearer", "description": schemes["ApiKey"]["description"]}
    }
    for method, path in operations:
        assert document["paths"][path][method]["security"] == [{"ApiKey": []}], (method, path)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_document_holds_the_json_api_only(document: dict[str, Any]) -> None:
    """No page, admin form, probe or /dev/mail in the document, and no form-body schema of theirs."""
    assert all(path.startswith("/api/v1/") for path in document["paths"]), sorted(document["paths"])
    leaked = [name for name in document["components"]["schemas"] if name.startswith("Body_")]
    assert leaked == []
    for method, path, op in operations(document):
        for answer in op["responses"].values():
            assert set(answer.get("content", {})) <= {"application/json"}, (method, path)


def test_operation_ids_are_readable_and_unique(document: dict[str, Any]) -> None:
    """Every operation id is a camelCase name (``createBooking``), none generated from the path."""
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", operation) for operation in ids), ids
    by_route = {(method, path): op["operationId"] for method, path, op in operations(document)}
    assert by_route[("post", "/api/v1/bookings")] == "createBooking"
    assert by_route[("get", "/api/v1/bookings/{ref}")] == "getBooking"
    assert by_route[("get", "/api/v1/bookings")] == "listBookings"


def test_every_error_is_documented_with_an_error_model(document: dict[str, Any]) -> None:
    """401, 422 and 503 on every operation, 404 wherever the path or a query filter names a thing,
    409 on the changes that can conflict; each with ErrorOut (or ValidationErrorOut for 422)."""
    conflicts = {
        ("post", "/api/v1/bookings"), ("patch", "/api/v1/bookings/{ref}"),
        ("post", "/api/v1/bookings/{ref}/reschedule"), ("post", "/api/v1/bookings/{ref}/cancel"),
        ("post", "/api/v1/templates/{kind}/{locale}/versions"),
    }  # fmt: skip
    for method, path, op in operations(document):
        names_a_thing = "{" in path or path in ("/api/v1/outbox", "/api/v1/inbound", "/api/v1/slots")
        expected = {"401", "422", "503"} | ({"404"} if names_a_thing else set())
        expected |= {"409"} if (method, path) in conflicts else set()
        errors = {status for status in op["responses"] if status.startswith(("4", "5"))}
        assert errors == expected, (method, path)
        for status in errors:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            model = "ValidationErrorOut" if status == "422" else "ErrorOut"
            assert schema == {"$ref": f"#/components/schemas/{model}"}, (method, path, status)
    assert document["components"]["schemas"]["ErrorOut"]["required"] == ["detail"]


GET_BY_PATH = [
    ("/api/v1/bookings/{ref}", "/api/v1/bookings/NOPE1234"),
    ("/api/v1/bookings/{ref}/outbox", "/api/v1/bookings/NOPE1234/outbox"),
    ("/api/v1/bookings/{ref}/inbound", "/api/v1/bookings/NOPE1234/inbound"),
    ("/api/v1/services/{slug}", "/api/v1/services/nope"),
    ("/api/v1/customers/{email}", "/api/v1/customers/nobody@example.com"),
    ("/api/v1/staff/{email}/time-off", "/api/v1/staff/nobody@example.com/time-off"),
    ("/api/v1/templates/{kind}/{locale}", "/api/v1/templates/nope/en"),
    ("/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/999999/deliveries"),
]


@pytest.mark.parametrize(("template", "url"), GET_BY_PATH)
def test_documented_404_is_answered_with_the_error_model(
    served: tuple[FastAPI, str], document: dict[str, Any], template: str, url: str
) -> None:
    """A GET naming something that does not exist answers the documented 404, shaped as ErrorOut."""
    assert "404" in document["paths"][template]["get"]["responses"]
    response = TestClient(served[0]).get(url, headers={"Authorization": f"Bearer {served[1]}"})
    assert response.status_code == 404, response.text
    assert ErrorOut.model_validate(response.json()).detail


def test_docs_page_loads_swagger_ui_under_its_own_csp(served: tuple[FastAPI, str]) -> None:
    """/docs answers with Swagger UI under a CSP as strict as the site's: our files only, nothing inline."""
    response = TestClient(served[0]).get("/docs")
    assert response.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in response.text and "/static/api-docs.js" in response.text
    assert "<script>" not in response.text and "style=" not in response.text
    policy = response.headers["content-security-policy"]
    directives = dict(part.partition(" ")[::2] for part in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"  # "Try it out" calls this server, and no other
    assert TestClient(served[0]).get("/static/api-docs.js").status_code == 200


def test_docs_page_references_no_other_host(served: tuple[FastAPI, str]) -> None:
    """Every script, style sheet and link of /docs is a path on this server: no CDN, it works offline."""
    page = TestClient(served[0]).get("/docs").text
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert sources and all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert "http://" not in page and "https://" not in page and "cdn" not in page.lower()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/docs/assets/swagger-ui-bundle.js", "javascript"),
        ("/docs/assets/swagger-ui.css", "text/css"),
    ],
)
def test_docs_assets_are_served_by_mailflow(
    served: tuple[FastAPI, str], path: str, content_type: str
) -> None:
    """Swagger UI's bundle and style sheet come from mailflow itself, with their content type."""
    response = TestClient(served[0]).get(path)
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert len(response.content) > 100_000  # the real Swagger UI file, not a stub
    assert "SwaggerUIBundle" in response.text if path.endswith(".js") else ".swagger-ui" in response.text


def test_docs_assets_answer_404_for_unknown_files(served: tuple[FastAPI, str]) -> None:
    """Only files of the packaged Swagger UI are served; anything else under /docs/assets is 404."""
    client = TestClient(served[0])
    assert client.get("/docs/assets/nope.js").status_code == 404
    assert client.get("/docs/assets/../../api/__init__.py").status_code == 404


@pytest.fixture(scope="module")
def openapi_schema(served: tuple[FastAPI, str]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", served[0])


@pytest.mark.parametrize(("method", "path"), sorted(API_OPERATIONS))
def test_generated_requests_never_get_a_server_error(
    openapi_schema: Any, served: tuple[FastAPI, str], method: str, path: str
) -> None:
    """Generated requests (valid and not): never a 5xx; successful answers match the document."""
    operation = openapi_schema[path][method.upper()]
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {served[1]}"},
            checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
        )
        statuses.append(response.status_code)

    call()
    assert statuses and 401 not in statuses  # the key was accepted: the requests reached the endpoint
