"""Serving the stand-in: WSGI app factory, in-process threaded server, CLI, client helper."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections import Counter
from types import FrameType, TracebackType
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from .faults import FaultLayer
from .middleware import StandinMiddleware


def make_app() -> StandinMiddleware:
    """moto's server app, built exactly like ``moto.server`` does, behind our middleware.

    The app works on moto's process-wide backends (``moto.iam.models.iam_backends``...):
    every app/server in one process shares the same simulated AWS.
    """
    return StandinMiddleware(DomainDispatcherApplication(create_backend_app))


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler (keeps underscore headers) without one log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class StandinServer:
    """The stand-in on a werkzeug threaded server in a daemon thread (cf. moto's
    ThreadedMotoServer).  Usable as a context manager; ``port=0`` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False):
        self.host = host
        self.port = port
        self.app = make_app()
        self._log_requests = log_requests
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandinServer:
        if self._server is not None:
            return self
        handler = MotoRequestHandler if self._log_requests else _QuietRequestHandler
        # make_server binds now, so the port is known (and connectable) on return.
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=handler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"aws-standin:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("StandinServer is not started")
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """moto reset (all accounts, all services) + call counters, faults and effects."""
        self.app.reset()

    @property
    def faults(self) -> FaultLayer:
        """Program faults and read tracked effects (see ``portal.aws_standin.faults``)."""
        return self.app.faults

    def calls(self) -> Counter[str]:
        """Calls seen since the last reset, keyed ``"service:Action"``."""
        return self.app.calls()

    def reset_calls(self) -> None:
        self.app.reset_calls()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_session_lock = threading.Lock()
_session: Any = None


def account_client(
    service: str,
    account_id: str,
    *,
    endpoint_url: str,
    region_name: str = "us-east-1",
    aws_access_key_id: str = "testing",
    aws_secret_access_key: str = "testing",
    **kwargs: Any,
) -> Any:
    """A boto3 client acting as the (root) default identity of ``account_id``.

    moto picks the account from the ``x-moto-account-id`` header; this is how tests
    seed customer accounts (IAM roles, EC2 instances).  The header is ignored for
    real (AKIA/ASIA) keys the stand-in knows: those act in their own account.
    """
    import boto3

    global _session
    with _session_lock:  # boto3 sessions are not thread-safe; clients are
        if _session is None:
            _session = boto3.session.Session()
        client = _session.client(
            service,
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            **kwargs,
        )

    def add_account_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign.*.*", add_account_header)
    return client


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m portal.aws_standin",
        description="moto server with AssumeRole trust/ExternalId, credential and EC2 permission checks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)

    # Serve in the main thread (not StandinServer's daemon thread) so Ctrl-C/SIGTERM
    # land in serve_forever().
    handler = _QuietRequestHandler if args.quiet else MotoRequestHandler
    httpd = make_server(args.host, args.port, make_app(), threaded=True, request_handler=handler)
    url = f"http://{args.host}:{httpd.server_port}"
    # Some moto services build URLs pointing back at the server from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(httpd.server_port))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Also SIGINT: a shell starts background jobs with SIGINT ignored, and Python
    # then never turns it into KeyboardInterrupt on its own.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"AWS stand-in (moto) listening on {url}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    sys.exit(0)
