"""A local HTTP receiver for webhooks, on 127.0.0.1 (so tests allow private addresses)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import services
from notifications.models import Delivery


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    location: str = ""

    def url(self, path: str = "/hook/T0KEN") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.PARKWAY_WEBHOOK_ALLOW_PRIVATE = True
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            me = state["r"]
            me.requests.append(Received(self.path, dict(self.headers), self.rfile.read(length)))
            self.send_response(me.status)
            if me.location:
                self.send_header("Location", me.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(server=server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()


def email_channel(tenant, events=("parking_summary",)):
    """An email channel of `tenant` listening to `events` (made through the service)."""
    channel, _ = services.channel_create(
        tenant=tenant, kind="email", name="ops", target=f"ops@{tenant.slug}.test", events=list(events), actor="cli"
    )
    return channel


def deliveries(tenant, event: str) -> list[Delivery]:
    """What was sent to `tenant`'s channels for `event`, oldest first."""
    return list(Delivery.objects.filter(channel__tenant=tenant, event=event).order_by("pk"))
