"""Every error answer of /api/ has one body: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponseServerError
from django.test import RequestFactory

from api.errors import ApiErrorBodyMiddleware
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def test_unknown_api_url_is_a_404_in_the_error_body(api):
    assert error_of(api.get("/api/v2/anything"))["code"] == "not_found"
    assert error_of(api.get("/api/v1/no-such-thing"))["code"] == "not_found"


def test_a_method_a_route_does_not_take_is_a_405_with_allow(api):
    response = api.delete("me")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET"


def test_invalid_input_lists_each_field(api):
    response = api.post("schedules", {"name": "", "periods": [{"begintime": "25:99"}] * 21})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid" and {"name", "periods"} <= set(error["fields"])


def test_a_services_refusal_is_a_422_on_its_field(api):
    response = api.post("schedules", {"name": "nights", "periods": [{"begintime": "25:00", "endtime": "23:00"}]})
    assert response.status_code == 422
    assert error_of(response)["fields"]


def test_a_form_encoded_body_is_refused_not_a_server_error(tokens):
    """The fuzz suite found it: a middleware read the form from the stream, then ninja could not read the body."""
    client = ApiClient(tokens.admin)
    response = client.client.post("/api/v1/accounts", {"account_id": "1", "next": "/x"}, headers=client.headers)
    assert response.status_code in (400, 422)
    error_of(response)


def test_a_body_that_is_not_json_is_a_400_or_422(tokens):
    client = ApiClient(tokens.admin)
    response = client.client.post("/api/v1/schedules", "{not json", content_type="application/json", headers=client.headers)
    assert response.status_code in (400, 422)
    error_of(response)


def test_a_server_error_page_becomes_the_error_body():
    request = RequestFactory().get("/api/v1/accounts")
    response = ApiErrorBodyMiddleware(lambda r: HttpResponseServerError("<h1>Server Error (500)</h1>"))(request)
    assert response.status_code == 500
    assert error_of(response)["code"] == "server_error"


def test_pages_outside_the_api_keep_their_own_errors():
    request = RequestFactory().get("/app/nothing/")
    page = HttpResponseServerError("<h1>Server Error (500)</h1>")
    assert ApiErrorBodyMiddleware(lambda r: page)(request) is page


def test_the_docs_page_and_document_need_no_token_and_load_no_foreign_script(client):
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "Parkway API"
    docs = client.get("/api/v1/docs")
    html = docs.content.decode()
    assert docs.status_code == 200
    assert "cdn." not in html and "<script>" not in html.replace(" ", "")
    assert "script-src 'self'" in docs["Content-Security-Policy"]


@pytest.mark.parametrize("raw", [b'{"name": "a\\u0000b", "periods": []}', b'{"name": "a\x00b"}'])
def test_a_nul_character_in_a_json_body_is_refused_before_the_database(tokens, raw):
    """PostgreSQL refuses NUL in text: stored, it would be a server error there."""
    client = ApiClient(tokens.admin)
    response = client.client.post("/api/v1/schedules", raw, content_type="application/json", headers=client.headers)
    assert response.status_code == 400
    assert "NUL" in error_of(response)["message"]
