"""WSGI middleware in front of moto's server: call counters and the IAM checks moto skips.

moto accepts any credentials, issues AssumeRole credentials for any role ARN
without reading its trust policy, and lets every identity do everything.  This
middleware answers, before moto sees the request:

* requests signed with an AWS-shaped key (AKIA/ASIA) moto does not know
  -> InvalidClientTokenId (Query services) / AuthFailure (EC2);
* ``sts:AssumeRole`` whose role is missing or whose trust policy does not allow
  the caller (principal, ExternalId condition, explicit Deny) -> AccessDenied,
  plus AWS's parameter validation (RoleSessionName, ExternalId, DurationSeconds);
* EC2 calls by IAM users / assumed-role sessions that their policies do not
  allow -> UnauthorizedOperation (also for ``DryRun=true`` probes); RDS and
  Auto Scaling calls likewise -> AccessDenied, as those services answer;
* Auto Scaling calls naming a group that does not exist -> ValidationError
  (moto fails with a server error for some of them).

Requests that pass go through the fault layer (``faults.py``: throttling, lost
responses, failing IDs, delays, hooks, effect tracking), which hands them to moto
unchanged when no fault matches.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_api._internal.models import moto_api_backend

from .checks import CHECKED_SERVICES, check_assume_role, check_autoscaling_group_exists, check_service_permission
from .faults import FaultLayer
from .identity import Caller, CallerKind, CredentialError, resolve_caller
from .protocol import ApiRequest, Rejection, StartResponse, credential_rejection, json_response, parse_request

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StandinMiddleware:
    """WSGI middleware around moto's server app; see the module docstring."""

    def __init__(self, app: WSGIApp):
        self.app = app
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self.faults = FaultLayer()

    # -- counters (the server is threaded: every access holds the lock)
    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def reset(self) -> None:
        """Forget all moto state (every account, every service), the counters, the
        faults and the tracked effects."""
        moto_api_backend.reset()
        self.reset_calls()
        self.faults.reset()

    # -- WSGI
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_standin/"):
            return self._own_endpoint(path.rstrip("/"), method, environ, start_response)
        if path.startswith("/moto-api") or path == "/favicon.ico":
            if path.rstrip("/") == "/moto-api/reset" and method == "POST":
                self.reset_calls()  # a moto reset starts a fresh run: counters too
                self.faults.reset()
            return self.app(environ, start_response)

        request = parse_request(environ)
        with self._lock:
            self._calls[request.counter_key] += 1  # rejected attempts count too
        try:
            caller = resolve_caller(
                request.access_key_id,
                session_token=request.session_token,
                header_account=request.header_account,
            )
        except CredentialError as error:
            return credential_rejection(request, error.reason)(start_response)
        rejection = self._check(request, caller, environ)
        if rejection is not None:
            return rejection(start_response)
        return self.faults(request, caller.account_id, environ, start_response, self.app)

    def _check(self, request: ApiRequest, caller: Caller, environ: dict[str, Any]) -> Rejection | None:
        if caller.kind is not CallerKind.DEFAULT:
            # A real key decides its account, as in AWS; moto would let the
            # x-moto-account-id header move it into any other account.
            environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        if request.service == "sts" and request.action == "AssumeRole":
            return check_assume_role(request, caller)
        if request.service in CHECKED_SERVICES and caller.kind is not CallerKind.DEFAULT:
            rejection = check_service_permission(request, caller)
            if rejection is not None:
                return rejection
        return check_autoscaling_group_exists(request, caller.account_id)

    def _own_endpoint(
        self, path: str, method: str, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        answer = self.faults.http(path, method, environ, start_response)
        if answer is not None:
            return answer
        if path == "/_standin/calls" and method == "GET":
            return json_response(start_response, 200, dict(sorted(self.calls().items())))
        if (path == "/_standin/calls" and method == "DELETE") or (
            path == "/_standin/calls/reset" and method == "POST"
        ):
            self.reset_calls()
            return json_response(start_response, 200, {})
        if path == "/_standin/reset" and method == "POST":
            self.reset()
            return json_response(start_response, 200, {"status": "ok"})
        return json_response(start_response, 404, {"error": f"no such endpoint: {method} {path}"})

