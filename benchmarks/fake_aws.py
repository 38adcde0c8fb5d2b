"""A minimal, fast stand-in for STS and EC2 (AWS query protocol), for scale benchmarks.

moto renders DescribeInstances at ~3 ms per instance: at 1,000 accounts × 100
machines it would measure moto. This fake answers the five calls a tick makes
from memory, after a fixed latency per call (AWS's own time, roughly):
AssumeRole, GetCallerIdentity, DescribeInstances (one page), StopInstances,
StartInstances, and RDS / Auto Scaling describes with no resources. Anything else is answered 400 InvalidAction and counted.

* The account of an EC2 call is read from the access key id in the request's
  signature (AssumeRole issues keys naming the role's account); nothing is
  verified.
* Each (account, region) has `per_region` instances tagged Schedule=office
  and `untagged` more without that tag (default 0), created running on first
  sight; Stop/Start change their state at once.
* DescribeInstances honours `InstanceId.N` (an unknown ID fails the call with
  InvalidInstanceID.NotFound, and MaxResults beside IDs is refused, as in
  AWS) and the filters `tag-key` and `instance-id` (`Filter.N.Name`,
  `Filter.N.Value.M`): a tick between complete inventories asks only for the
  tagged and the assigned machines, and `untagged` shows what that saves.
* Calls are counted by operation (`calls()`), AssumeRole also by role ARN.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

RDS_NS = "http://rds.amazonaws.com/doc/2014-10-31/"
AUTOSCALING_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
OUR_ACCOUNT = "123456789012"
CODES = {"pending": 0, "running": 16, "stopping": 64, "stopped": 80}
_SCOPE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/")
_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")
LAUNCHED = "2026-01-05T08:00:00.000Z"


class FakeAws:
    def __init__(self, *, latency: float = 0.005, per_region: int = 50, untagged: int = 0) -> None:
        self.latency = latency
        self.per_region = per_region
        self.untagged = untagged
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], dict[str, str]] = {}
        self._untagged: set[str] = set()  # instances without the Schedule tag
        self._calls: Counter[str] = Counter()
        self.roles: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- state
    def reset(self) -> None:
        with self._lock:
            self._states.clear()
            self._untagged.clear()
            self._calls.clear()
            self.roles.clear()

    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)

    def states(self) -> Counter[str]:
        with self._lock:
            return Counter(s for fleet in self._states.values() for s in fleet.values())

    def _fleet(self, account: str, region: str) -> dict[str, str]:
        key = (account, region)
        if key not in self._states:
            base = int(account) * 100 + sum(region.encode()) % 100
            fleet = {f"i-{base * 1000 + n:017x}": "running" for n in range(self.per_region + self.untagged)}
            self._untagged.update(list(fleet)[self.per_region:])
            self._states[key] = fleet
        return self._states[key]

    # ---------------------------------------------------------------- serving
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                params = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = fake.answer(params, self.headers.get("Authorization", ""))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-aws").start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---------------------------------------------------------------- answers
    def answer(self, params: dict[str, str], authorization: str) -> tuple[int, str]:
        action = params.get("Action", "")
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self._calls[action] += 1
        scope = _SCOPE.search(authorization)
        key_id, region = (scope.group(1), scope.group(2)) if scope else ("", "us-east-1")
        account = key_id[4:16] if key_id.startswith("ASIA") and key_id[4:16].isdigit() else OUR_ACCOUNT
        handler = getattr(self, f"_{action}", None)
        if handler is None:
            return 400, _error("InvalidAction", f"The fake does not answer {action or 'this request'}.")
        return handler(params, account, region)

    def _AssumeRole(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        arn = params.get("RoleArn", "")
        match = _ROLE_ACCOUNT.match(arn)
        if not match:
            return 403, _error("AccessDenied", "Not authorized to perform sts:AssumeRole", sender=True)
        with self._lock:
            self.roles[arn] += 1
        seconds = int(params.get("DurationSeconds") or 3600)
        expiration = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        key_id = f"ASIA{match.group(1)}{uuid.uuid4().hex[:4].upper()}"
        session = escape(params.get("RoleSessionName", "parkway"))
        return 200, (
            f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{uuid.uuid4().hex}</SecretAccessKey>"
            f"<SessionToken>{uuid.uuid4().hex}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAFAKE:{session}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{match.group(1)}:assumed-role/x/{session}</Arn></AssumedRoleUser>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        )

    def _GetCallerIdentity(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        return 200, (
            f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
            f"<Arn>arn:aws:sts::{account}:assumed-role/ParkwayAccess/parkway</Arn><UserId>AROAFAKE:parkway</UserId>"
            f"<Account>{account}</Account></GetCallerIdentityResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        )

    def _DescribeInstances(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        ids = [v for k, v in params.items() if k.startswith("InstanceId.")]
        filters = _filters(params)
        if ids and "MaxResults" in params:
            return 400, _error("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
        unknown = sorted(set(filters) - {"tag-key", "instance-id"})
        if unknown:
            return 400, _error("InvalidParameterValue", f"The fake does not filter on {unknown[0]}.")
        with self._lock:
            fleet = dict(self._fleet(account, region))
            untagged = self._untagged & fleet.keys()
        missing = [i for i in ids if i not in fleet]
        if missing:
            return 400, _error("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")

        def tag_keys(iid: str) -> set[str]:
            return {"Name"} if iid in untagged else {"Schedule", "Name"}

        wanted = set(ids)
        items = "".join(
            f"<item><instanceId>{iid}</instanceId><imageId>ami-12345678</imageId>"
            f"<instanceState><code>{CODES[state]}</code><name>{state}</name></instanceState>"
            f"<instanceType>t3.micro</instanceType><launchTime>{LAUNCHED}</launchTime><tagSet>"
            f"{'' if iid in untagged else '<item><key>Schedule</key><value>office</value></item>'}"
            f"<item><key>Name</key><value>bench-{iid[-4:]}</value></item></tagSet></item>"
            for iid, state in fleet.items()
            if (not wanted or iid in wanted)
            and ("instance-id" not in filters or iid in filters["instance-id"])
            and ("tag-key" not in filters or tag_keys(iid) & filters["tag-key"])
        )
        return 200, (
            f'<DescribeInstancesResponse xmlns="{EC2_NS}"><requestId>{uuid.uuid4()}</requestId><reservationSet>'
            f"<item><reservationId>r-{account}</reservationId><ownerId>{account}</ownerId><groupSet/>"
            f"<instancesSet>{items}</instancesSet></item></reservationSet></DescribeInstancesResponse>"
        )

    def _change(self, params: dict[str, str], account: str, region: str, *, to: str, element: str) -> tuple[int, str]:
        ids = [v for k, v in params.items() if k.startswith("InstanceId.")]
        items = []
        with self._lock:
            fleet = self._fleet(account, region)
            for iid in ids:
                before = fleet.get(iid)
                if before is None:
                    return 400, _error("InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist")
                fleet[iid] = to
                items.append(
                    f"<item><instanceId>{iid}</instanceId><currentState><code>{CODES[to]}</code><name>{to}</name>"
                    f"</currentState><previousState><code>{CODES[before]}</code><name>{before}</name></previousState></item>"
                )
        tag = element
        return 200, (
            f'<{tag}Response xmlns="{EC2_NS}"><requestId>{uuid.uuid4()}</requestId>'
            f"<instancesSet>{''.join(items)}</instancesSet></{tag}Response>"
        )

    def _StopInstances(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        return self._change(params, account, region, to="stopped", element="StopInstances")

    def _StartInstances(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        return self._change(params, account, region, to="running", element="StartInstances")


    # The fleet has no databases or groups: the tick still describes each kind
    # once per region, and these answer "none" as AWS would.
    def _empty(self, action: str, namespace: str, member: str) -> tuple[int, str]:
        return 200, (
            f'<{action}Response xmlns="{namespace}"><{action}Result><{member}/></{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
        )

    def _DescribeDBInstances(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        return self._empty("DescribeDBInstances", RDS_NS, "DBInstances")

    def _DescribeDBClusters(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        return self._empty("DescribeDBClusters", RDS_NS, "DBClusters")

    def _DescribeAutoScalingGroups(self, params: dict[str, str], account: str, region: str) -> tuple[int, str]:  # noqa: N802
        return self._empty("DescribeAutoScalingGroups", AUTOSCALING_NS, "AutoScalingGroups")


def _filters(params: dict[str, str]) -> dict[str, set[str]]:
    """`Filter.N.Name` / `Filter.N.Value.M` (query protocol) → name: values."""
    names = {k.split(".")[1]: v for k, v in params.items() if k.startswith("Filter.") and k.endswith(".Name")}
    return {
        name: {v for k, v in params.items() if k.startswith(f"Filter.{n}.Value.")}
        for n, name in names.items()
    }


def _error(code: str, message: str, *, sender: bool = False) -> str:
    return (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
