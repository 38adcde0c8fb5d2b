"""Sentry: off without SENTRY_DSN; with one, an error reaches it with no secret and no personal data.

The Sentry server is a local HTTP server that keeps the envelopes it receives."""

from __future__ import annotations

import gzip
import importlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sentry_sdk
from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.logs import log_context

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def failing_view(request: HttpRequest) -> HttpResponse:
    access_key_id = request.POST["access_key_id"]
    secret_access_key = request.POST["secret_access_key"]
    keys = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
    with log_context(tenant="acme", account="111111111111"):
        raise RuntimeError(f"AWS refused the key {access_key_id} ({len(keys)} values)")


urlpatterns = [path("boom/", failing_view)]


class SentryStandIn(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), SentryStandIn)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sentry_on(sentry_server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPServer]:
    """portal/settings.py read again with SENTRY_DSN pointing at the stand-in."""
    import portal.settings as portal_settings

    monkeypatch.setenv("SENTRY_DSN", f"http://publickey@127.0.0.1:{sentry_server.server_port}/1")
    importlib.reload(portal_settings)
    try:
        assert sentry_sdk.get_client().is_active() and not sentry_sdk.get_client().should_send_default_pii()
        yield sentry_server
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
        monkeypatch.delenv("SENTRY_DSN")
        importlib.reload(portal_settings)


def test_without_a_dsn_sentry_is_not_initialised():
    import portal.settings as portal_settings

    assert portal_settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_an_error_reaches_sentry_without_a_secret(sentry_on, client):
    client.raise_request_exception = False
    response = client.post("/boom/", {"access_key_id": KEY_ID, "secret_access_key": SECRET, "name": "prod"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    sent = b"".join(sentry_on.received).decode()
    assert "RuntimeError" in sent and "AWS refused the key AKIA" in sent  # the event arrived, with its traceback
    assert '"tenant":"acme"' in sent.replace(" ", "")  # tagged with the ids of the work
    assert KEY_ID not in sent and SECRET not in sent
    assert "EXAMPLEKEY" not in sent and "IOSFODNN7" not in sent
