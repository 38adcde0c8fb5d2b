"""Parking at scale through the real worker path. Prints figures; asserts nothing.

    DATABASE_URL=postgres://… .venv/bin/python benchmarks/scale.py \\
        [--accounts 100] [--workers 1,2] [--instances 50] [--untagged 0] [--latency-ms 20] [--redis redis://127.0.0.1:6379/13]

For each N of --accounts and each W of --workers: N accounts × 2 regions ×
--instances machines tagged Schedule=office, parked by one `manage.py
qcluster` with W worker processes on the Redis broker, with the assumed-role
sessions in a Redis cache, against `fake_aws.py` (STS and EC2 answered from
memory after a fixed latency per call; moto would measure moto at this size).

Three ticks, each enqueued as the django-q2 schedule does (`scheduling.tasks.tick`):

* tick 1, Tuesday 20:00 UTC, cold: first sight of every machine (inventory
  inserted), every machine stopped (one StopInstances per region), one
  AssumeRole per account (the cache starts empty);
* tick 2, Wednesday 09:00, busy and warm: the office period begins, every
  machine started (one StartInstances per region), sessions from the caches;
* tick 3, five minutes later, idle and warm: nothing is due (scheduling.due),
  so no task is enqueued and no AWS call made; the tick only looks.

Per tick: wall time from enqueueing the tick to the last account's lease given
back (or, idle, its last tick time moved on), accounts per second, CPU time of
the cluster's processes per account, and beside it that of PostgreSQL, Redis
and this process (the fake AWS's threads) — the machine's whole CPU is what
bounds a tick —, AWS calls per account by operation ("D." = Describe),
database queries and new database connections per account (counted in the
worker processes, `scale_settings.py`), the peak resident memory of the
largest worker process and of the median one (VmHWM, recycled workers
included; the tick itself runs in one worker), the projection "accounts per
5-minute tick on this machine" (accounts per second × 300) and the load
average. After each configuration, the fan-out alone: the time to enqueue N
parking tasks on the Redis broker.

Measured on this 2-core machine, PostgreSQL 15, 2 regions × 50 instances per
account, 50 ms per AWS call, nothing else running (README "Measured" has the
table; docs/scale.md the earlier rounds):

* 1,000 accounts, 16 workers: busy warm **34.5 accounts/s** (10,353 per
  5-minute tick; CPU per account: cluster 38 ms, PostgreSQL 10, Redis 1, fake
  AWS 6; 10 queries; Describe Instances 2 + Start 2), cold 17.0/s (12 queries,
  one AssumeRole), idle 0.7 s for all with no AWS call and no task.
* 300 accounts, 16 workers: busy 35.6/s, cold 15.3/s, idle 0.2 s; peak 146 MB.
* 3,000 accounts, 16 workers: busy 28.6/s (41 / 12 / 1 / 11 ms), cold 16.2/s,
  idle 3.0 s.
* Peak worker RSS 159 MB at 1,000 and 161 MB at 3,000 (median 143-144): flat.
  With 8 workers: 21.7 and 19.5 busy accounts/s, 154 and 159 MB; with 24
  workers at 1,000: 32.6/s (the cores are saturated: 16 is the setting).
* Fan-out: 3,000 tasks enqueued in 0.6 s.

What bounds a busy tick: the machine's CPU. 55 ms per busy account in all
(cluster, PostgreSQL, Redis, the fake) against 2,000 ms a second on 2 cores is
~36 accounts/s at most. `--profile` splits a busy task's ~38 ms: ORM and SQL
46%, botocore's XML parsing 19% (DescribeInstances is parsed into the five
members Parkway reads), the rest of botocore and HTTP 11%.

Needs PostgreSQL (the clusters share the throw-away database `test_<name>_bench_<pid>`,
dropped at the end) and Redis (the database of --redis and the next two are
flushed: broker, cache, counters).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, bootstrap_django, table  # noqa: E402
from fake_aws import FakeAws  # noqa: E402

UTC = dt.timezone.utc
EVENING = dt.datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # a Tuesday, outside 09:00-17:00
MORNING = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday 09:00: the office period begins
TICKS = [
    ("1 cold", EVENING),  # first sight, every machine stopped, empty session cache
    ("2 busy warm", MORNING),  # every machine started (a transition), sessions warm
    ("3 idle warm", MORNING + dt.timedelta(minutes=5)),  # nothing due
]
REGIONS = ["us-east-1", "eu-west-1"]
OPERATIONS = ["AssumeRole", "DescribeInstances", "StopInstances", "StartInstances"]
TICK_SECONDS = 300
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", default="100", help="comma-separated N, e.g. 100,300,1000 (default 100)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker processes, e.g. 1,2,4,8 (default 1,2)")
    parser.add_argument("--instances", type=int, default=50, help="instances per account and region (default 50)")
    parser.add_argument("--untagged", type=int, default=0,
                        help="instances per account and region without the Schedule tag (default 0)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the fake's latency per AWS call (default 20)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="broker; the next two databases: cache, counters")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a tick may take before giving up")
    parser.add_argument("--profile", action="store_true",
                        help="no cluster: profile one worker's busy-tick tasks in this process (scale_profile.py), "
                             "for the first N of --accounts")
    args = parser.parse_args(argv)
    try:
        args.accounts = [int(n) for n in args.accounts.split(",")]
        args.workers = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error("--accounts and --workers take comma-separated integers")
    if min(args.accounts) < 1 or min(args.workers) < 1 or args.instances < 1:
        parser.error("--accounts, --workers and --instances must be at least 1")
    return args


def redis_urls(url: str) -> tuple[str, str, str]:
    base, _, db = url.rpartition("/")
    n = int(db or 0)
    return url, f"{base}/{n + 1}", f"{base}/{n + 2}"


# --------------------------------------------------------------------------- fleet


def make_fleet(n: int) -> list[int]:
    from django.utils import timezone

    from scheduling.models import Period, Schedule
    from tenants import services
    from tenants.models import CloudAccount, Tenant

    pks = []
    for k in range(n):
        account_id = f"{500000000000 + k}"
        tenant = Tenant.objects.create(name=f"Scale {k}", slug=f"scale-{k}")
        schedule = Schedule.objects.create(tenant=tenant, name="office", timezone="UTC")
        Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
        account = services.account_connect_role(
            tenant=tenant, account_id=account_id, role_arn=f"arn:aws:iam::{account_id}:role/ParkwayAccess",
            regions=REGIONS, actor="cli",
        )
        pks.append(account.pk)
    # As after a successful "Test connection": claimed and connected.
    CloudAccount.objects.filter(pk__in=pks).update(claimed_at=timezone.now(), status=CloudAccount.Status.CONNECTED)
    return pks


def use_accounts(pks: list[int], n: int) -> None:
    """The first n accounts are parked; the others are disabled. Parkway forgets
    everything it learnt, so every configuration starts from the same first tick."""
    from scheduling.models import ParkingLease, ParkingRun, Resource
    from tenants.models import CloudAccount

    ParkingRun.objects.all().delete()
    Resource.objects.all().delete()
    ParkingLease.objects.all().delete()
    CloudAccount.objects.filter(pk__in=pks[:n]).update(status=CloudAccount.Status.CONNECTED, last_error="")
    CloudAccount.objects.filter(pk__in=pks[n:]).update(status=CloudAccount.Status.DISABLED)


# --------------------------------------------------------------------------- cluster


class Cluster:
    def __init__(self, env: dict[str, str], workers: int, log: Path, broker_redis: Any) -> None:
        self.log = log
        self.peak_rss: dict[int, int] = {}
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=dict(env, Q_WORKERS=str(workers)),
            stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        # Ready once its pusher waits on the broker (a blocked BLPOP), so start-up is not timed.
        db = str(broker_redis.connection_pool.connection_kwargs.get("db", 0))
        deadline = time.monotonic() + 60
        while not [c for c in broker_redis.client_list() if c.get("db") == db and "b" in c.get("flags", "")]:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"qcluster did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _group(int(e.name)) == self.process.pid]

    def sample_rss(self) -> None:
        """Peak resident memory (VmHWM) of each worker process seen so far."""
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if pid == self.process.pid or b"qcluster" not in cmdline:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), kb)

    def cpu_seconds(self) -> float:
        """CPU of every process of the cluster, with that of exited (recycled) workers,
        which their parent has reaped (cutime/cstime)."""
        return sum(cpu for pid, _, cpu in processes_cpu() if _group(pid) == self.process.pid)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._out.close()


def processes_cpu() -> Iterator[tuple[int, str, float]]:
    """(pid, name, CPU seconds) of every process of this machine: utime, stime,
    and cutime/cstime, so children that exited are counted in their parent."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        yield int(entry.name), name, sum(int(f) for f in fields[11:15]) / CLK_TCK


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def services_cpu_seconds() -> dict[str, float]:
    """CPU used so far by PostgreSQL's and Redis's processes (this machine's),
    and by this process (the fake AWS's threads, and the wait for the tick)."""
    total = {"postgres": 0.0, "redis": 0.0}
    for _, name, cpu in processes_cpu():
        for kind in total:
            if name.startswith(kind):
                total[kind] += cpu
    total["fake"] = time.process_time()
    return total


def wait_for_tick(pks: list[int], since: dt.datetime, timeout: float, cluster: Cluster) -> None:
    from scheduling.models import ParkingLease

    deadline = time.monotonic() + timeout
    while ParkingLease.objects.filter(
        account_id__in=pks, holder="", queued_token="", last_tick_at__gte=since
    ).count() < len(pks):
        cluster.sample_rss()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the tick did not finish in {timeout} s:\n{cluster.log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def run_tick(at: dt.datetime, pks: list[int], cluster: Cluster, broker: Any, fake: FakeAws, counts: Any, timeout: float) -> dict[str, Any]:
    from django_q.tasks import async_task

    since = _db_now()  # the database's clock, which the leases use
    fake_before, cpu_before, services_before = fake.calls(), cluster.cpu_seconds(), services_cpu_seconds()
    counts.flushdb()
    t0 = time.perf_counter()
    async_task("scheduling.tasks.tick", at.isoformat(), broker=broker)
    wait_for_tick(pks, since, timeout, cluster)
    wall = time.perf_counter() - t0
    time.sleep(0.3)  # the last results are saved and counted
    services = {k: v - services_before[k] for k, v in services_cpu_seconds().items()}
    cluster.sample_rss()
    calls = fake.calls()
    calls.subtract(fake_before)
    n = len(pks)
    # The largest process of the cluster is a worker (the others hold no sessions);
    # recycled workers' peaks count too.
    peaks = sorted(cluster.peak_rss.values()) or [0]
    peak_mb = peaks[-1] / 1024
    # The median worker beside the largest: the tick itself runs in one worker.
    median_mb = peaks[len(peaks) // 2] / 1024
    return {
        "peak_mb": peak_mb,
        "median_mb": median_mb,
        "load": os.getloadavg()[0],
        "wall": wall,
        "rate": n / wall,
        "cpu_ms": (cluster.cpu_seconds() - cpu_before) * 1000 / n,
        "services_ms": {k: v * 1000 / n for k, v in services.items()},
        "calls": {op: calls.get(op, 0) / n for op in OPERATIONS} | {
            op: c / n for op, c in calls.items() if op not in OPERATIONS and c
        },
        "queries": int(counts.get("queries") or 0) / n,
        "connections": int(counts.get("connections") or 0) / n,
    }


def _db_now() -> dt.datetime:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_TIMESTAMP")
        return cursor.fetchone()[0]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    broker_url, cache_url, counts_url = redis_urls(args.redis)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("benchmarks/scale.py needs DATABASE_URL=postgres://…: worker processes share the database.")
    fake = FakeAws(latency=args.latency_ms / 1000, per_region=args.instances, untagged=args.untagged)
    url = fake.start()
    os.environ.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, REDIS_URL=broker_url, CACHE_URL=cache_url,
    )
    db = bootstrap_django()
    try:
        import redis
        from django.db import connection
        from django_q.brokers.redis_broker import Redis as RedisBroker

        class Broker(RedisBroker):
            def get_connection(self, list_key: str | None = None) -> Any:
                return redis.Redis.from_url(broker_url)

        broker = Broker()
        counts = redis.Redis.from_url(counts_url)
        cache = redis.Redis.from_url(cache_url)
        if args.profile:
            import scale_profile

            for client in (broker.connection, cache):
                client.flushdb()
            scale_profile.run(args.accounts[0], args.instances, args.latency_ms)
            return
        s = connection.settings_dict
        env = {k: v for k, v in os.environ.items() if not k.startswith(("Q_", "PYTEST_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="benchmarks.scale_settings",
            PYTHONPATH=str(ROOT),
            DATABASE_URL=f"postgres://{s.get('USER') or ''}:{s.get('PASSWORD') or ''}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}",
            PARKWAY_BENCH_COUNTS_URL=counts_url, LOG_LEVEL="WARNING", Q_TIMEOUT="600", Q_RETRY="700",
        )
        print(f"fleet: up to {max(args.accounts)} accounts × {len(REGIONS)} regions × {args.instances} instances; "
              f"fake AWS latency {args.latency_ms:g} ms per call; {os.cpu_count()} CPUs; database {db.description}")
        t0 = time.perf_counter()
        pks = make_fleet(max(args.accounts))
        print(f"(fleet created in {time.perf_counter() - t0:.1f} s)")
        rows = []
        fanouts: list[str] = []
        tmp = Path(tempfile.mkdtemp(prefix="parkway-scale-"))
        for n in args.accounts:
            for workers in args.workers:
                use_accounts(pks, n)
                fake.reset()
                for client in (broker.connection, cache):
                    client.flushdb()
                cluster = Cluster(env, workers, tmp / f"qcluster-{n}-{workers}.log", broker.connection)
                try:
                    for label, at in TICKS:
                        r = run_tick(at, pks[:n], cluster, broker, fake, counts, args.timeout)
                        calls = " ".join(f"{op.replace('Describe', 'D.')}={v:g}" for op, v in r["calls"].items() if v) or "none"
                        # What one 5-minute tick could park on this machine, at this tick's pace.
                        projection = "—" if label.startswith("3") else f"{r['rate'] * TICK_SECONDS:,.0f}"
                        rows.append([n, workers, label, f"{r['wall']:.1f}", f"{r['rate']:.1f}", f"{r['cpu_ms']:.0f}",
                                     "/".join(f"{r['services_ms'][k]:.0f}" for k in ("postgres", "redis", "fake")),
                                     calls, f"{r['queries']:.1f}", f"{r['connections']:.2f}", f"{r['peak_mb']:.0f} ({r['median_mb']:.0f})",
                                     projection, f"{r['load']:.1f}"])
                        print("  ".join(map(str, rows[-1])), flush=True)
                finally:
                    cluster.stop()
                # The tick's fan-out alone (in this process, onto the Redis broker): N tasks enqueued.
                from scheduling import claims, tasks

                t0 = time.perf_counter()
                tasks._enqueue_parking(claims.Claim(token="fan-out", account_ids=pks[:n]), None, set())
                fanouts.append(f"{n} tasks enqueued in {time.perf_counter() - t0:.2f} s")
                print(f"  fan-out: {fanouts[-1]}", flush=True)
                broker.connection.flushdb()
                left = fake.states()
                if left.get("stopped"):
                    print(f"  !! {left['stopped']} machines still stopped after the morning tick")
        print()
        print(table(rows, ["accounts", "workers", "tick", "wall s", "accounts/s", "CPU ms/account",
                           "PostgreSQL/Redis/fake AWS CPU ms/account", "AWS calls/account", "queries/account", "connections/account", "peak RSS/worker MB (median)",
                           "accounts per 5-min tick", "load avg"]))
        print("fan-out: " + "; ".join(fanouts))
    finally:
        db.close()
        fake.stop()


if __name__ == "__main__":
    main()
