"""The fault suite's harness: three customers' fleets in the AWS stand-in, database
faults (PostgreSQL), and a real django-q2 cluster on Redis that a test can SIGKILL.

Faults are injected at the edges only: AWS (the stand-in's fault layer), the
database (pg_terminate_backend, the lease row's clock), the process (SIGKILL).
Every wait has a deadline.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.db import connection
from django.utils import timezone
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.tasks import async_task

from portal.aws_standin import StandinServer
from scheduling.models import ParkingLease
from tenants.models import CloudAccount, Tenant
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours

INITECH_ACCOUNT = "333333333333"
REGIONS = ["us-east-1", "eu-west-1"]
AT = TUESDAY_EVENING  # 20:00 on a Tuesday: every "office" machine must be stopped
NEXT = AT + dt.timedelta(minutes=5)  # the next tick
# Redis database 7 is the fault suite's own: flushed before and after each worker test.
REDIS_URL = os.environ.get("PARKWAY_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/7")
REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------- fleets


@dataclass
class Customer:
    tenant: Tenant
    account: CloudAccount
    ids: dict[str, list[str]]

    @property
    def account_id(self) -> str:
        return self.account.account_id


@dataclass
class Fleets:
    """Three customers; faults hit `target` (Acme, 2 regions x 4 machines), which
    comes between the others in every tick (accounts are parked in pk order)."""

    before: Customer  # Globex, 1 region x 2
    target: Customer
    after: Customer  # Initech, 1 region x 2
    all: list[Customer] = field(init=False)

    def __post_init__(self) -> None:
        self.all = [self.before, self.target, self.after]

    @property
    def accounts(self) -> list[CloudAccount]:
        return [c.account for c in self.all]

    def desired(self, state: str = "stopped") -> dict[CloudAccount, str]:
        return {c.account: state for c in self.all}


@pytest.fixture
def fleets(acme: Tenant, globex: Tenant, standin: StandinServer) -> Fleets:
    customers = []
    initech = Tenant.objects.create(name="Initech", slug="initech", contact_emails="it@initech.test")
    for tenant, account_id, per_region, regions in (
        (globex, GLOBEX_ACCOUNT, 2, REGIONS[:1]),
        (acme, ACME_ACCOUNT, 4, REGIONS),
        (initech, INITECH_ACCOUNT, 2, REGIONS[:1]),
    ):
        office_hours(tenant)
        account, ids = connect(tenant, account_id, per_region=per_region, regions=regions)
        customers.append(Customer(tenant, account, ids))
    standin.reset_calls()
    return Fleets(*customers)


@pytest.fixture(autouse=True)
def hooks_must_not_fail(standin: StandinServer) -> Iterator[None]:
    """A hook that raised did not inject its fault: the test proved nothing."""
    yield
    errors = standin.faults.hook_errors()
    standin.faults.clear()
    assert not errors, f"stand-in hooks failed: {errors}"


def expire_lease(account: CloudAccount) -> None:
    """The lease's clock runs out (a dead worker cannot release its lease; a live
    one may outlive it): move its end into the past rather than wait for it."""
    ParkingLease.objects.filter(account=account).update(until=timezone.now() - dt.timedelta(minutes=10))


# --------------------------------------------------------------------------- PostgreSQL


def needs_postgresql(why: str) -> pytest.MarkDecorator:
    """Skip (before any fixture is built) unless the tests run on PostgreSQL."""
    return pytest.mark.skipif(
        connection.vendor != "postgresql", reason=f"needs PostgreSQL ({why}); CI runs the fault suite there"
    )


def require_postgresql(why: str) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL ({why}); CI runs the fault suite there")


def backend_pid() -> int:
    """The server process behind this thread's database connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _admin_connection() -> psycopg.Connection:
    """A connection of our own to the test database, outside Django's per-thread ones."""
    settings = connection.settings_dict
    params = {
        "dbname": settings["NAME"],
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
    }
    return psycopg.connect(autocommit=True, connect_timeout=5, **{k: v for k, v in params.items() if v})


def terminate_backend(pid: int) -> None:
    """Kill one database connection server-side, as a failover or an operator would,
    and return once the server process is gone (so the next query fails for sure)."""
    with _admin_connection() as admin:
        terminated = admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        assert terminated, f"no database connection with pid {pid}"
        wait_until(
            lambda: not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone(),
            timeout=5,
            what=f"database backend {pid} to exit",
        )


# --------------------------------------------------------------------------- a real worker


def _redis_broker_at(url: str) -> RedisBroker:
    """django-q2's Redis broker on the suite's Redis database. The test process read
    its Q_CLUSTER (ORM broker) at import; the cluster under test runs on Redis."""

    class RedisBrokerAt(RedisBroker):
        def get_connection(self, list_key: str | None = None) -> redis.Redis:  # type: ignore[override]
            return redis.Redis.from_url(url)

    return RedisBrokerAt()


class Cluster:
    """`manage.py qcluster` in a process group of its own, against the test database."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one signal reaches every worker
        )

    def kill(self) -> None:
        """SIGKILL the whole group now (safe from a stand-in hook: does not wait)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """Kill the group and reap it. (A graceful SIGTERM makes django-q2 wait for its
        pusher's broker poll and workers; the tests need none of that.)"""
        self.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Worker:
    """Start clusters and hand them tasks; everything is killed at teardown."""

    def __init__(self, env: dict[str, str], tmp_path: Path, redis_client: redis.Redis) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.clusters: list[Cluster] = []
        self.broker = _redis_broker_at(env["REDIS_URL"])
        self.redis = redis_client

    def reap(self, cluster: Cluster) -> None:
        """Kill and reap `cluster`, then wait until Redis has dropped its connections: a
        dead pusher's BLPOP, still registered for a moment, would swallow the next task."""
        cluster.stop()
        db = str(self.redis.connection_pool.connection_kwargs.get("db", 0))
        wait_until(
            lambda: not [c for c in self.redis.client_list() if c.get("db") == db and "b" in c.get("flags", "")],
            timeout=5,
            what="Redis to drop the killed cluster's blocked consumer",
        )

    def start(self, *, workers: int = 1) -> Cluster:
        env = dict(self.env, Q_WORKERS=str(workers))
        cluster = Cluster(env, self.tmp_path / f"qcluster-{len(self.clusters) + 1}.log")
        self.clusters.append(cluster)
        return cluster

    def enqueue(self, func: str, *args: Any) -> str:
        return async_task(func, *args, broker=self.broker)

    def park_account(self, account: CloudAccount, at: dt.datetime) -> str:
        return self.enqueue("scheduling.tasks.park_account", account.pk, at.isoformat())

    def tick(self, at: dt.datetime) -> str:
        return self.enqueue("scheduling.tasks.tick", at.isoformat())

    def logs(self) -> str:
        """For failure messages: what is left in the queue, and each cluster's log tail."""
        clusters = "\n".join(f"--- {c.log_path.name}\n{c.log_tail()}" for c in self.clusters)
        return f"tasks left in Redis: {self.broker.queue_size()}\n{clusters}"

    def close(self) -> None:
        for cluster in self.clusters:
            cluster.stop()


@pytest.fixture
def worker(
    request: pytest.FixtureRequest, standin: StandinServer, tmp_path: Path, django_db_setup: None
) -> Iterator[Worker]:
    """A real worker: `manage.py qcluster` on Redis (database 7), on the test
    database (PostgreSQL: a second process cannot share SQLite's in-memory test
    database), with AWS_ENDPOINT_URL pointed at the in-process stand-in."""
    with worker_harness(request, standin, tmp_path, redis_url=REDIS_URL) as harness:
        yield harness


def _redis_client(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {url} for the worker ({exc})")
    client.flushdb()  # only the test's own database
    return client


@contextmanager
def redis_databases_held(*urls: str) -> Iterator[None]:
    """Hold the Redis databases a worker test flushes, machine-wide: two test
    runs on one machine (a developer's and a CI job's) would otherwise flush
    each other's queued tasks. A file lock, released even if the run dies."""
    handles = []
    try:
        for url in sorted(set(urls)):
            name = "".join(c if c.isalnum() else "-" for c in url)
            handle = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"parkway-tests-{name}.lock", "w")
            handles.append(handle)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        for handle in handles:
            handle.close()  # closing releases the lock


@contextmanager
def worker_harness(
    request: pytest.FixtureRequest, standin: StandinServer, tmp_path: Path, *, redis_url: str,
    cache_url: str | None = None, **extra_env: str,
) -> Iterator[Worker]:
    """Clusters on the broker at `redis_url` (and with `cache_url`, a shared Redis
    cache), both databases flushed before and after."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        pytest.fail("a worker process sees only committed rows: mark the test django_db(transaction=True)")
    require_postgresql("a worker process shares the test database")
    with redis_databases_held(*filter(None, (redis_url, cache_url))):
        yield from _worker_harness(request, standin, tmp_path, redis_url=redis_url, cache_url=cache_url, **extra_env)


def _worker_harness(
    request: pytest.FixtureRequest, standin: StandinServer, tmp_path: Path, *, redis_url: str,
    cache_url: str | None = None, **extra_env: str,
) -> Iterator[Worker]:
    client = _redis_client(redis_url)
    cache_client = _redis_client(cache_url) if cache_url else None
    settings = connection.settings_dict
    database_url = "postgres://{user}:{password}@{host}:{port}/{name}".format(
        user=settings.get("USER") or "",
        password=settings.get("PASSWORD") or "",
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        name=settings["NAME"],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "Q_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # tests/settings.py put these in os.environ; the worker must decrypt what we stored.
        PARKWAY_ENCRYPTION_KEYS=os.environ["PARKWAY_ENCRYPTION_KEYS"],
        SECRET_KEY=os.environ["SECRET_KEY"],
        PARKWAY_AWS_ACCOUNT_ID=os.environ["PARKWAY_AWS_ACCOUNT_ID"],
        AWS_ENDPOINT_URL=standin.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        Q_TIMEOUT="60",
        Q_RETRY="90",
        PYTHONUNBUFFERED="1",
    )
    if cache_url:
        env["CACHE_URL"] = cache_url
    env.update(extra_env)
    harness = Worker(env, tmp_path, client)
    try:
        yield harness
    finally:
        harness.close()
        for each in filter(None, (client, cache_client)):
            each.flushdb()
            each.close()


def on_first_call(fn: Callable[[], None]) -> tuple[threading.Event, Callable[[Any], None]]:
    """A stand-in hook running `fn` once, and an event set once it ran."""
    done = threading.Event()

    def hook(call: Any) -> None:
        try:
            fn()
        finally:
            done.set()

    return done, hook
