"""/healthz, /readyz and /metrics: what a load balancer and Prometheus read."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import redis
import time_machine
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.models import OrmQ
from django_q.tasks import async_task

from portal.health import queue_oldest_enqueued_at
from scheduling.models import ParkingAction, ParkingLease, ParkingRun
from tenants.models import CloudAccount
from tests.selfservice.conftest import make_account, make_resources

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token-for-tests"
REDIS_URL = "redis://127.0.0.1:6379/9"


def parkable(tenant, account_id: str) -> CloudAccount:
    account = make_account(tenant, account_id)
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=timezone.now(), status=CloudAccount.Status.CONNECTED)
    return account


def ticked(account: CloudAccount, *, ago: dt.timedelta, status: str = "succeeded") -> ParkingLease:
    return ParkingLease.objects.create(
        account=account, until=timezone.now() - dt.timedelta(hours=1), last_tick_at=timezone.now() - ago, last_status=status
    )


# --------------------------------------------------------------------------- /healthz


def test_healthz_answers_without_any_query_whatever_the_host_or_cookie(client):
    client.cookies["sessionid"] = "a-session-that-would-need-the-database"
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz", HTTP_HOST="10.0.3.7:8000")  # a load balancer probes by address
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert "no-cache" in response["Cache-Control"]


def test_probes_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    # Everything else is still sent to HTTPS.
    assert client.get("/accounts/login/").status_code == 301


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


# --------------------------------------------------------------------------- /readyz


def test_readyz_is_ready_when_the_last_tick_is_recent(client, acme):
    ticked(parkable(acme, "111111111111"), ago=dt.timedelta(minutes=3))
    response = client.get("/readyz", HTTP_HOST="10.0.3.7")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready" and body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "broker", "tick", "queue"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_readyz_is_503_naming_the_tick_when_the_last_tick_is_older_than_two_intervals(client, acme, settings):
    settings.PARKWAY_TICK_MINUTES = 5
    old, older = parkable(acme, "111111111111"), parkable(acme, "111111111112")
    ticked(old, ago=dt.timedelta(minutes=11))
    ticked(older, ago=dt.timedelta(hours=2))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["tick"]
    assert "660 s ago (limit 600 s)" in body["checks"]["tick"]["detail"]


def test_readyz_allows_a_new_install_two_ticks_before_the_first_tick(client, acme):
    account = parkable(acme, "111111111111")
    assert client.get("/readyz").status_code == 200
    CloudAccount.objects.filter(pk=account.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["tick"]


def test_readyz_is_503_naming_the_database_when_it_fails(client, acme):
    ticked(parkable(acme, "111111111111"), ago=dt.timedelta(minutes=1))

    def unreachable(execute, sql, params, many, context):
        raise OperationalError('connection to server at "db.internal" (10.0.0.9), port 5432 failed')

    with connection.execute_wrapper(unreachable):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database"]
    assert body["checks"]["database"]["detail"].startswith("OperationalError")
    assert body["checks"]["tick"]["status"] == body["checks"]["queue"]["status"] == "skipped"
    # The anonymous caller learns which check failed, not where the database lives.
    assert "db.internal" not in response.content.decode() and "10.0.0.9" not in response.content.decode()


def test_readyz_is_503_naming_the_queue_when_its_oldest_task_waits_too_long(client, acme, settings):
    settings.PARKWAY_READY_QUEUE_AGE_SECONDS = 600
    ticked(parkable(acme, "111111111111"), ago=dt.timedelta(minutes=1))
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=15)):
        async_task("scheduling.tasks.tick")
    async_task("scheduling.tasks.tick")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["queue"]
    assert re.search(r"2 tasks waiting, the oldest for 9\d\d s \(limit 600 s\)", body["checks"]["queue"]["detail"])
    OrmQ.objects.filter(pk=OrmQ.objects.order_by("pk").first().pk).delete()
    assert client.get("/readyz").status_code == 200


@pytest.fixture
def redis_broker() -> Iterator[RedisBroker]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {REDIS_URL} ({exc})")

    class RedisBrokerAt(RedisBroker):
        @staticmethod
        def get_connection(list_key: str | None = None) -> redis.Redis:
            return redis.Redis.from_url(REDIS_URL)

    broker = RedisBrokerAt(list_key="parkway-probes-test")
    broker.delete_queue()
    yield broker
    broker.delete_queue()


def test_the_queue_age_is_read_from_the_head_of_a_redis_queue(redis_broker):
    from django_q.signing import SignedPackage

    first, second = timezone.now() - dt.timedelta(minutes=7), timezone.now()
    assert queue_oldest_enqueued_at(broker=redis_broker) is None
    for started in (first, second):
        redis_broker.enqueue(SignedPackage.dumps({"id": "x", "func": "scheduling.tasks.tick", "started": started}))
    assert queue_oldest_enqueued_at(broker=redis_broker) == first
    redis_broker.dequeue()
    assert queue_oldest_enqueued_at(broker=redis_broker) == second


# --------------------------------------------------------------------------- /metrics


def test_metrics_do_not_exist_without_a_token(client, settings):
    settings.PARKWAY_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"],
)
def test_metrics_refuse_a_missing_or_wrong_token(client, settings, authorization):
    settings.PARKWAY_METRICS_TOKEN = TOKEN
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"parkway_" not in response.content


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text."""
    label_text = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        metric_name, _, rest = metric.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric_name == name and found == label_text:
            return float(value)
    raise AssertionError(f"no sample {name}{{{label_text}}} in:\n{text}")


def test_metrics_report_ticks_actions_aws_calls_and_the_queue_from_the_database(client, settings, acme, globex):
    settings.PARKWAY_METRICS_TOKEN = TOKEN
    settings.PARKWAY_METRICS_WINDOW_MINUTES = 60
    now = timezone.now()
    a, b, c = parkable(acme, "111111111111"), parkable(acme, "111111111112"), parkable(globex, "222222222222")
    ticked(a, ago=dt.timedelta(minutes=2), status="succeeded")
    ticked(b, ago=dt.timedelta(minutes=4), status="partial")
    # c never ticked.

    def run(account, *, started_ago: float, seconds: float | None, status: str, calls: dict, outcomes=()):
        started = now - dt.timedelta(minutes=started_ago)
        finished = None if seconds is None else started + dt.timedelta(seconds=seconds)
        r = ParkingRun.objects.create(
            account=account, tick_at=started, started_at=started, finished_at=finished, status=status, aws_calls=calls
        )
        for resource, (action, outcome, code) in zip(make_resources(account, len(outcomes), start=100 * r.pk), outcomes):
            ParkingAction.objects.create(run=r, resource=resource, action=action, reason="r", outcome=outcome, error_code=code)
        ParkingAction.objects.filter(run=r).update(created_at=started)
        return r

    run(a, started_ago=5, seconds=0.3, status="succeeded", calls={"AssumeRole": 1, "DescribeInstances": 2, "StopInstances": 1},
        outcomes=[("stop", "succeeded", ""), ("stop", "succeeded", "")])
    run(b, started_ago=10, seconds=4, status="partial", calls={"AssumeRole": 1, "DescribeInstances": 1, "StartInstances": 2},
        outcomes=[("start", "succeeded", ""), ("start", "failed", "IncorrectInstanceState"), ("start", "failed", "InsufficientInstanceCapacity")])
    run(c, started_ago=1, seconds=None, status="running", calls={})
    # Outside the window: not counted.
    run(a, started_ago=180, seconds=50, status="failed", calls={"AssumeRole": 1},
        outcomes=[("stop", "failed", "UnauthorizedOperation")])
    with time_machine.travel(now - dt.timedelta(seconds=90)):
        async_task("scheduling.tasks.tick")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_HOST="10.0.3.7:8000")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()

    assert sample(text, "parkway_metrics_window_seconds") == 3600
    assert sample(text, "parkway_accounts_parkable") == 3
    assert sample(text, "parkway_accounts_last_tick", status="succeeded") == 1
    assert sample(text, "parkway_accounts_last_tick", status="partial") == 1
    assert sample(text, "parkway_accounts_last_tick", status="never") == 1
    assert sample(text, "parkway_tick_last_finished_timestamp_seconds") == pytest.approx((now - dt.timedelta(minutes=2)).timestamp(), abs=5)
    assert sample(text, "parkway_tick_least_recent_account_timestamp_seconds") == pytest.approx(
        (now - dt.timedelta(minutes=4)).timestamp(), abs=5
    )

    assert sample(text, "parkway_parking_runs", status="succeeded", trigger="tick") == 1
    assert sample(text, "parkway_parking_runs", status="partial", trigger="tick") == 1
    assert sample(text, "parkway_parking_runs", status="running", trigger="tick") == 1
    assert 'status="failed"' not in text.split("# HELP parkway_parking_runs ")[1].split("# HELP")[0]
    assert sample(text, "parkway_parking_run_duration_seconds_bucket", le="0.5") == 1
    assert sample(text, "parkway_parking_run_duration_seconds_bucket", le="2.0") == 1
    assert sample(text, "parkway_parking_run_duration_seconds_bucket", le="5.0") == 2
    assert sample(text, "parkway_parking_run_duration_seconds_bucket", le="+Inf") == 2
    assert sample(text, "parkway_parking_run_duration_seconds_gcount") == 2
    assert sample(text, "parkway_parking_run_duration_seconds_gsum") == pytest.approx(4.3)

    assert sample(text, "parkway_parking_actions", action="stop", outcome="succeeded") == 2
    assert sample(text, "parkway_parking_actions", action="start", outcome="succeeded") == 1
    assert sample(text, "parkway_parking_actions", action="start", outcome="failed") == 2
    assert sample(text, "parkway_aws_action_errors", action="start", code="IncorrectInstanceState") == 1
    assert sample(text, "parkway_aws_action_errors", action="start", code="InsufficientInstanceCapacity") == 1
    assert "UnauthorizedOperation" not in text

    assert sample(text, "parkway_aws_calls", operation="AssumeRole") == 2
    assert sample(text, "parkway_aws_calls", operation="DescribeInstances") == 3
    assert sample(text, "parkway_aws_calls", operation="StartInstances") == 2
    assert sample(text, "parkway_aws_calls", operation="StopInstances") == 1
    assert sample(text, "parkway_aws_assume_role_calls") == 2

    assert sample(text, "parkway_queue_tasks") == 1
    assert 85 <= sample(text, "parkway_queue_oldest_task_age_seconds") <= 120
    assert TOKEN not in text

    # Prometheus asks for OpenMetrics, where the run durations are a native gauge histogram.
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT=accept)
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    openmetrics = response.content.decode()
    assert "# TYPE parkway_parking_run_duration_seconds gaugehistogram" in openmetrics
    assert openmetrics.rstrip().endswith("# EOF")
    assert sample(openmetrics, "parkway_parking_actions", action="start", outcome="failed") == 2


def test_metrics_answer_with_an_empty_database_and_a_bounded_number_of_queries(client, settings):
    settings.PARKWAY_METRICS_TOKEN = TOKEN
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}")
    assert response.status_code == 200
    text = response.content.decode()
    assert sample(text, "parkway_accounts_parkable") == 0
    assert sample(text, "parkway_queue_tasks") == 0
    assert sample(text, "parkway_queue_oldest_task_age_seconds") == 0
    assert "parkway_tick_last_finished_timestamp_seconds " not in text
    assert len(queries) <= 15


# --------------------------------------------------------------------------- a backend that never answers


READINESS_SCRIPT = """
import json, django
django.setup()
from portal.health import readiness
print(json.dumps(readiness().as_json()))
"""


def test_readyz_says_not_ready_in_seconds_when_the_database_and_cache_accept_but_never_answer():
    """A PostgreSQL or Redis that takes the connection and then says nothing
    (a hung server, a half-open firewall) must not hang the probe: the
    connection timeouts (PARKWAY_CONNECT_TIMEOUT) turn it into "not ready"."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import threading
    from pathlib import Path

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_say_nothing() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
    thread.start()
    port = silent.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/parkway",
        "CACHE_URL": f"redis://127.0.0.1:{port}/0",
        "REDIS_URL": "",
        "PARKWAY_CONNECT_TIMEOUT": "1",
        "DEBUG": "true",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", READINESS_SCRIPT], env=env, cwd=Path(__file__).resolve().parents[2],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        silent.close()
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "not ready"
    assert {"database", "cache"} <= set(report["failed"]), report
