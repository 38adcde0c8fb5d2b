"""Programmable faults and effect tracking: AWS misbehaving on purpose, and a
record of what every Stop/StartInstances really did.

Tests program faults in-process (``standin.faults.throttle(...)``); other
processes use ``/_standin/faults`` (JSON, see ``FaultLayer.http``).  Each fault
is limited to one ``service:Action`` target (``"ec2:StopInstances"``; ``"ec2:*"``
and ``"*"`` also match), optionally to one account and region, and fires on the
first ``times`` matching calls (``None``: every one).

A matching call goes through three phases:

1. before acting: ``delay``/``hook`` faults with ``when="before"`` run, then a
   ``throttle``, ``fail_ids`` or ``reject`` fault answers an AWS error *instead of*
   moto (``reject``: any code and message; ``{access_key_id}`` in the message is
   the caller's, as some AWS errors echo it);
2. moto acts (Stop/StartInstances are tracked, below);
3. after acting: ``delay``/``hook`` faults with ``when="after"`` run, then a
   ``lose_response`` fault drops moto's answer (closes the connection with no
   response, or answers 500/503): the effect on AWS is real, the caller does not
   know it, and botocore's retry sends the call again.

Effect tracking: every ec2 Stop/StartInstances that reaches moto (DryRun probes
aside) records, per
instance ID, its state in moto's backend just before and just after the call
(read under one lock, so concurrent calls cannot blur who changed what).  An
``Effect`` with ``changed`` is a call that really stopped or started a machine:
"a machine was acted on at most once per decision" is "at most one changing
effect per instance".
"""

from __future__ import annotations


import itertools
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends

from .protocol import ApiRequest, Rejection, StartResponse, json_response

logger = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Hook = Callable[["Call"], None]

TRACKED_ACTIONS = {"StopInstances": "stop", "StartInstances": "start"}
KINDS = ("throttle", "lose_response", "fail_ids", "delay", "hook", "reject")
_INSTANCE_ID_PARAM = re.compile(r"InstanceId\.\d+")

# How AWS words the errors fail_ids can answer (EC2 fails the whole call and names one ID).
_ID_ERRORS = {
    "IncorrectInstanceState": "The instance '{id}' is not in a state from which it can be {verb}.",
    "InvalidInstanceID.NotFound": "The instance ID '{id}' does not exist",
    "InvalidInstanceID.Malformed": 'Invalid id: "{id}"',
    "UnsupportedOperation": "The instance '{id}' does not support this operation.",
}


@dataclass
class Call:
    """One API call as faults and hooks see it."""

    seq: int
    service: str
    action: str
    region: str
    account_id: str
    params: dict[str, str]
    access_key_id: str = ""  # the caller's, from the request's signature
    status: int | None = None  # moto's HTTP status, once it acted
    effects: list[Effect] = field(default_factory=list)  # tracked calls, once moto acted

    @property
    def target(self) -> str:
        return f"{self.service}:{self.action}"

    @property
    def instance_ids(self) -> list[str]:
        keyed = [(int(k.rsplit(".", 1)[1]), v) for k, v in self.params.items() if _INSTANCE_ID_PARAM.fullmatch(k)]
        return [v for _, v in sorted(keyed)]


@dataclass(frozen=True)
class Effect:
    """What one tracked call did to one instance (states read from moto)."""

    seq: int
    account_id: str
    region: str
    action: str  # "stop" / "start"
    instance_id: str
    before: str | None  # None: moto has no such instance
    after: str | None
    status: int  # moto's answer to the whole call

    @property
    def changed(self) -> bool:
        return self.before is not None and self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "account_id": self.account_id,
            "region": self.region,
            "action": self.action,
            "instance_id": self.instance_id,
            "before": self.before,
            "after": self.after,
            "status": self.status,
            "changed": self.changed,
        }


@dataclass
class Fault:
    id: int
    kind: str
    target: str
    times: int | None = 1
    account_id: str | None = None
    region: str | None = None
    when: str = "before"  # delay / hook
    code: str = ""  # throttle / fail_ids / reject
    message: str = ""  # reject
    status: int = 400  # reject
    ids: frozenset[str] = frozenset()  # fail_ids
    how: str = "close"  # lose_response: "close", "500", "503"
    seconds: float = 0.0  # delay
    hook: Hook | None = None
    fired: int = 0
    errors: list[str] = field(default_factory=list)  # what hooks raised

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    @property
    def phase(self) -> str:
        if self.kind in ("throttle", "fail_ids"):
            return "before"
        if self.kind == "lose_response":
            return "after"
        return self.when

    def matches(self, call: Call) -> bool:
        service, _, action = self.target.partition(":")
        if service not in ("*", call.service) or action not in ("", "*", call.action):
            return False
        if self.account_id is not None and self.account_id != call.account_id:
            return False
        if self.region is not None and self.region != call.region:
            return False
        if self.kind == "fail_ids" and not self.ids.intersection(call.instance_ids):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "times": self.times,
            "fired": self.fired,
            "account_id": self.account_id,
            "region": self.region,
        }
        if self.kind in ("delay", "hook"):
            data["when"] = self.when
        if self.kind in ("throttle", "fail_ids"):
            data["code"] = self.code
        if self.kind == "fail_ids":
            data["ids"] = sorted(self.ids)
        if self.kind == "lose_response":
            data["how"] = self.how
        if self.kind == "delay":
            data["seconds"] = self.seconds
        if self.kind == "hook":
            data["errors"] = list(self.errors)
        return data


class FaultError(ValueError):
    """A fault that cannot be programmed (bad kind, target, times...)."""


def _ec2_backend(account_id: str, region: str) -> Any:
    # dict.get: look without letting BackendDict create an account/region on the fly.
    return dict.get(dict.get(ec2_backends, account_id) or {}, region)


def mark_started(account_id: str, region: str, ids: Iterable[str]) -> None:
    """EC2's LaunchTime is the instance's last start; moto keeps the first one."""
    backend = _ec2_backend(account_id, region)
    if backend is None:
        return
    wanted = set(ids)
    now = utcnow()
    for reservation in list(backend.reservations.values()):
        for instance in list(reservation.instances):
            if instance.id in wanted:
                instance.launch_time = now


def instance_states(account_id: str, region: str, ids: Iterable[str] | None = None) -> dict[str, str]:
    """State of each instance moto holds for (account, region), read in-process."""
    backend = _ec2_backend(account_id, region)
    if backend is None:
        return {}
    wanted = set(ids) if ids is not None else None
    states: dict[str, str] = {}
    for reservation in list(backend.reservations.values()):
        for instance in list(reservation.instances):
            if wanted is None or instance.id in wanted:
                states[instance.id] = instance._state.name
    return states


class FaultLayer:
    """The faults programmed on one stand-in, and the effects it tracked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Serialises tracked calls only while moto acts, so "before/after" states
        # belong to one call; delays and hooks run outside it.
        self._act_lock = threading.Lock()
        self._faults: list[Fault] = []
        self._effects: list[Effect] = []
        self._ids = itertools.count(1)
        self._seq = 0

    # ------------------------------------------------------------------ programming
    def throttle(
        self, target: str, *, times: int | None = 1, account_id: str | None = None, region: str | None = None,
        code: str | None = None,
    ) -> Fault:
        """Answer AWS's throttling error instead of acting (EC2: RequestLimitExceeded; others: Throttling)."""
        return self._add("throttle", target, times=times, account_id=account_id, region=region, code=code or "")

    def lose_response(
        self, target: str, *, times: int | None = 1, how: str | int = "close", account_id: str | None = None,
        region: str | None = None,
    ) -> Fault:
        """Let moto act, then drop its answer: ``how`` = "close" (no response at all), 500 or 503."""
        return self._add("lose_response", target, times=times, account_id=account_id, region=region, how=str(how))

    def fail_ids(
        self, target: str, ids: Iterable[str], *, code: str = "IncorrectInstanceState", times: int | None = None,
        account_id: str | None = None, region: str | None = None,
    ) -> Fault:
        """A call naming any of ``ids`` fails as a whole, as EC2 does: no ID in it is acted on.
        ``times`` counts the calls that name one of them (default: every such call)."""
        return self._add(
            "fail_ids", target, times=times, account_id=account_id, region=region, code=code, ids=frozenset(ids)
        )

    def reject(
        self, target: str, *, code: str, message: str, status: int = 400, times: int | None = 1,
        account_id: str | None = None, region: str | None = None,
    ) -> Fault:
        """Answer the error ``code`` with ``message`` instead of acting; ``{access_key_id}`` in
        the message becomes the caller's access key ID (AWS echoes it in some errors)."""
        return self._add(
            "reject", target, times=times, account_id=account_id, region=region, code=code, message=message, status=status
        )

    def delay(
        self, target: str, seconds: float, *, when: str = "before", times: int | None = 1,
        account_id: str | None = None, region: str | None = None,
    ) -> Fault:
        """Sleep ``seconds`` before moto acts, or after it acted and before it answers."""
        return self._add("delay", target, times=times, account_id=account_id, region=region, when=when, seconds=seconds)

    def hook(
        self, target: str, fn: Hook, *, when: str = "after", times: int | None = 1,
        account_id: str | None = None, region: str | None = None,
    ) -> Fault:
        """Run ``fn(call)`` in the server thread before moto acts or after it acted (before
        it answers): kill a process, terminate a database connection, expire a lease."""
        return self._add("hook", target, times=times, account_id=account_id, region=region, when=when, hook=fn)

    def _add(self, kind: str, target: str, **options: Any) -> Fault:
        fault = _validated(Fault(id=0, kind=kind, target=target, **options))
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault | int) -> None:
        fault_id = fault if isinstance(fault, int) else fault.id
        with self._lock:
            self._faults = [f for f in self._faults if f.id != fault_id]

    def clear(self) -> None:
        """Forget every fault (not the effects)."""
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def hook_errors(self) -> list[str]:
        """What programmed hooks raised (a hook that fails must fail its test)."""
        with self._lock:
            return [f"fault {f.id} ({f.target}): {e}" for f in self._faults for e in f.errors]

    # ------------------------------------------------------------------ effects
    def mark(self) -> int:
        """The sequence number of the latest call: ``effects(since=mark)`` is what came after."""
        with self._lock:
            return self._seq

    def effects(
        self, *, since: int = 0, account_id: str | None = None, instance_id: str | None = None,
        changed: bool | None = None,
    ) -> list[Effect]:
        with self._lock:
            found = list(self._effects)
        return [
            e
            for e in found
            if e.seq > since
            and (account_id is None or e.account_id == account_id)
            and (instance_id is None or e.instance_id == instance_id)
            and (changed is None or e.changed == changed)
        ]

    def state_changes(self, *, since: int = 0, account_id: str | None = None) -> Counter[str]:
        """How many calls changed each instance's state."""
        return Counter(e.instance_id for e in self.effects(since=since, account_id=account_id, changed=True))

    def clear_effects(self) -> None:
        with self._lock:
            self._effects.clear()

    def reset(self) -> None:
        self.clear()
        self.clear_effects()

    # ------------------------------------------------------------------ serving
    def __call__(
        self, request: ApiRequest, account_id: str, environ: dict[str, Any], start_response: StartResponse, app: WSGIApp
    ) -> Iterable[bytes]:
        with self._lock:
            self._seq += 1
            call = Call(
                seq=self._seq, service=request.service, action=request.action, region=request.region,
                account_id=account_id, params=dict(request.params),
                access_key_id=_access_key_id(environ),
            )
            has_faults = bool(self._faults)
        # A DryRun probe (our connection check) acts on nothing: not an effect to track.
        tracked = call.service == "ec2" and call.action in TRACKED_ACTIONS and call.params.get("DryRun") != "true"
        if not has_faults and not tracked:
            return app(environ, start_response)

        for fault in self._take(call, "before"):
            if fault.kind == "delay":
                time.sleep(fault.seconds)
            elif fault.kind == "hook":
                self._run_hook(fault, call)
            else:  # throttle / fail_ids / reject: AWS answers an error and does nothing
                return _error_for(fault, call, request)(start_response)

        status, headers, body = self._act(call, environ, app, tracked=tracked)

        lost: Fault | None = None
        for fault in self._take(call, "after"):
            if fault.kind == "delay":
                time.sleep(fault.seconds)
            elif fault.kind == "hook":
                self._run_hook(fault, call)
            else:
                lost = fault
        if lost is not None:
            return _drop(lost, call, request, environ, start_response)
        start_response(status, headers)
        return [body]

    def _take(self, call: Call, phase: str) -> list[Fault]:
        """The faults this call fires in `phase`, in the order they were programmed."""
        taken: list[Fault] = []
        answered = False  # one error or one lost response per call: the others stay armed
        with self._lock:
            for fault in self._faults:
                if fault.phase != phase or fault.exhausted or not fault.matches(call):
                    continue
                if fault.kind in ("throttle", "fail_ids", "reject", "lose_response"):
                    if answered:
                        continue
                    answered = True
                fault.fired += 1
                taken.append(fault)
        return taken

    def _run_hook(self, fault: Fault, call: Call) -> None:
        assert fault.hook is not None
        try:
            fault.hook(call)
        except Exception as exc:  # the response still goes out; the test sees hook_errors()
            logger.exception("stand-in hook %s on %s failed", fault.id, call.target)
            with self._lock:
                fault.errors.append(f"{type(exc).__name__}: {exc}")

    def _act(
        self, call: Call, environ: dict[str, Any], app: WSGIApp, *, tracked: bool
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return chunks.append

        def run() -> None:
            result = app(environ, capture)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

        if not tracked:
            run()
        else:
            ids = call.instance_ids
            with self._act_lock:
                before = instance_states(call.account_id, call.region, ids)
                run()
                after = instance_states(call.account_id, call.region, ids)
                started = [i for i in ids if before.get(i) in ("stopped", "stopping") and after.get(i) in ("pending", "running")]
                if started:
                    mark_started(call.account_id, call.region, started)
            call.status = _status_code(captured["status"])
            call.effects = [
                Effect(
                    seq=call.seq, account_id=call.account_id, region=call.region,
                    action=TRACKED_ACTIONS[call.action], instance_id=instance_id,
                    before=before.get(instance_id), after=after.get(instance_id), status=call.status,
                )
                for instance_id in ids
            ]
            with self._lock:
                self._effects.extend(call.effects)
        call.status = _status_code(captured["status"])
        return captured["status"], captured["headers"], b"".join(chunks)

    # ------------------------------------------------------------------ HTTP
    def http(self, path: str, method: str, environ: dict[str, Any], start_response: StartResponse) -> list[bytes] | None:
        """``/_standin/faults``: GET lists, POST adds one (JSON body: {"kind", "target",
        "times", "account_id", "region", "when", "code", "ids", "how", "seconds"}),
        DELETE removes all; ``/_standin/faults/<id>``: DELETE removes one.
        ``/_standin/effects``: GET lists (``?since=<seq>``), DELETE forgets them.
        Hooks are Python callables: in-process only.  None = not ours."""
        if path == "/_standin/faults":
            if method == "GET":
                return json_response(start_response, 200, [f.to_dict() for f in self.faults()])
            if method == "DELETE":
                self.clear()
                return json_response(start_response, 200, {})
            if method == "POST":
                try:
                    fault = self._add_from_json(_read_json(environ))
                except FaultError as exc:
                    return json_response(start_response, 400, {"error": str(exc)})
                return json_response(start_response, 201, fault.to_dict())
        match = re.fullmatch(r"/_standin/faults/(\d+)", path)
        if match and method == "DELETE":
            self.remove(int(match.group(1)))
            return json_response(start_response, 200, {})
        if path == "/_standin/effects":
            if method == "GET":
                since = _query_int(environ, "since")
                return json_response(start_response, 200, [e.to_dict() for e in self.effects(since=since)])
            if method == "DELETE":
                self.clear_effects()
                return json_response(start_response, 200, {})
        return None

    def _add_from_json(self, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise FaultError("expected a JSON object")
        kind = data.get("kind")
        if kind == "hook":
            raise FaultError("hooks are Python callables: program them in-process (standin.faults.hook)")
        allowed = {"kind", "target", "times", "account_id", "region", "when", "code", "ids", "how", "seconds", "message", "status"}
        unknown = set(data) - allowed
        if unknown:
            raise FaultError(f"unknown fields: {', '.join(sorted(unknown))}")
        options = {k: v for k, v in data.items() if k not in ("kind", "target")}
        if "ids" in options:
            if not isinstance(options["ids"], list):
                raise FaultError("ids must be a list of instance IDs")
            options["ids"] = frozenset(options["ids"])
        if kind == "fail_ids":
            options.setdefault("times", None)
            options.setdefault("code", "IncorrectInstanceState")
        if "how" in options:
            options["how"] = str(options["how"])
        return self._add(str(kind), str(data.get("target") or ""), **options)


def _validated(fault: Fault) -> Fault:
    if fault.kind not in KINDS:
        raise FaultError(f"unknown fault kind {fault.kind!r} (one of {', '.join(KINDS)})")
    if not re.fullmatch(r"\*|[a-z0-9-]+:(\*|[A-Za-z0-9]+)", fault.target):
        raise FaultError(f"target must look like 'ec2:StopInstances', 'ec2:*' or '*', not {fault.target!r}")
    if fault.times is not None and (not isinstance(fault.times, int) or fault.times < 1):
        raise FaultError("times must be a positive integer, or null for every call")
    if fault.when not in ("before", "after"):
        raise FaultError("when must be 'before' or 'after'")
    if fault.kind == "lose_response" and fault.how not in ("close", "500", "503"):
        raise FaultError("how must be 'close', 500 or 503")
    if fault.kind == "reject" and not (fault.code and isinstance(fault.status, int) and 400 <= fault.status <= 599):
        raise FaultError("reject needs a code and a status between 400 and 599")
    if fault.kind == "fail_ids" and not fault.ids:
        raise FaultError("fail_ids needs at least one instance ID")
    if fault.kind == "delay" and not (isinstance(fault.seconds, (int, float)) and 0 <= fault.seconds <= 600):
        raise FaultError("seconds must be between 0 and 600")
    if fault.kind == "hook" and not callable(fault.hook):
        raise FaultError("a hook needs a callable")
    return fault


def _access_key_id(environ: dict[str, Any]) -> str:
    match = re.search(r"Credential=([A-Z0-9]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def _error_for(fault: Fault, call: Call, request: ApiRequest) -> Rejection:
    if fault.kind == "reject":
        message = fault.message.replace("{access_key_id}", call.access_key_id)
        return Rejection(fault.status, fault.code, message, call.service, request.json_protocol)
    if fault.kind == "throttle":
        if call.service == "ec2":
            # EC2 throttles with 503 RequestLimitExceeded; the query/JSON services with 400 Throttling.
            return Rejection(503, fault.code or "RequestLimitExceeded", "Request limit exceeded.", "ec2")
        return Rejection(400, fault.code or "Throttling", "Rate exceeded", call.service, request.json_protocol)
    named = next(i for i in call.instance_ids if i in fault.ids)
    verb = "started" if call.action == "StartInstances" else "stopped"
    template = _ID_ERRORS.get(fault.code, "The request cannot be completed for instance '{id}'.")
    return Rejection(400, fault.code, template.format(id=named, verb=verb), call.service, request.json_protocol)


def _drop(
    fault: Fault, call: Call, request: ApiRequest, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    if fault.how == "close":
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the caller is already gone
        # werkzeug treats a ConnectionError from the app as a dropped connection:
        # it writes nothing, so the caller sees the connection close with no answer.
        raise ConnectionAbortedError(f"stand-in fault {fault.id}: response to {call.target} dropped")
    status = int(fault.how)
    if status == 503:
        code, message = ("Unavailable" if call.service == "ec2" else "ServiceUnavailable"), "The server is temporarily unavailable."
    else:
        code, message = ("InternalError" if call.service == "ec2" else "InternalFailure"), "An internal error has occurred."
    return Rejection(status, code, message, call.service, request.json_protocol)(start_response)


def _status_code(status: str) -> int:
    return int(status.split(None, 1)[0])


def _read_json(environ: dict[str, Any]) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise FaultError(f"body is not JSON: {exc}") from None


def _query_int(environ: dict[str, Any], name: str) -> int:
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name) or ["0"]
    try:
        return int(values[0])
    except ValueError:
        return 0


