"""What bounds a busy tick: one worker's parking tasks under cProfile.

    DATABASE_URL=postgres://… .venv/bin/python benchmarks/scale.py --profile \\
        [--accounts 30] [--instances 50] [--latency-ms 20]

Same fleet and fake AWS as the cluster run (N accounts × 2 regions × 50
instances tagged Schedule=office, `fake_aws.py`), but in this process, so the
profile sees exactly the code a worker runs for a task: the tick's own work
(`scheduling.tasks.tick`: notices, due work, claims) with its enqueueing
replaced by a list, then `scheduling.tasks.park_account` for each claimed
account, one after the other, as one worker runs them. django-q2's own
per-task cost (the task's pickling and signing, the result saved by the
monitor) is not in it.

A busy tick is also measured with the process's sessions forgotten before
each task (as most tasks of a cluster find their worker: see README); with
PARKWAY_PROFILE_FRESH_SESSIONS=1 that one is profiled, not the warm one.
PARKWAY_PROFILE_DUMP=file keeps the profile for pstats.

Tick 1 (Tuesday 20:00, cold: every machine stopped) warms the sessions and the
inventory; tick 2 (Wednesday 09:00, busy warm: every machine started) is
profiled with the main thread's CPU clock (`time.thread_time`): the fake AWS's
threads, PostgreSQL and the 20 ms latency are not in it. Prints the CPU per
account without the profiler, queries per account (task path and tick share),
the profile's own time grouped by area and the cumulative time of the task's
steps.
"""

from __future__ import annotations

import cProfile
import os
import datetime as dt
import pstats
import time
from collections import Counter, defaultdict
from typing import Any

# Own time, by where the function lives (first match wins).
AREAS = [
    ("botocore parsing (XML, timestamps)", ("botocore/parsers.py", "xml/etree", "ElementTree", "pyexpat", "fast_timestamp", "_strptime", "dateutil")),
    ("botocore client/session creation", ("botocore/session.py", "botocore/client.py:create_client", "botocore/loaders.py", "botocore/regions.py", "botocore/endpoint_provider.py", "botocore/configprovider.py", "botocore/credentials.py", "boto3/session.py", "botocore/model.py", "botocore/hooks.py", "botocore/docs", "botocore/args.py")),
    ("botocore request (serialise, sign, retries, events)", ("botocore/", "boto3/")),
    ("HTTP (urllib3, http.client, sockets)", ("urllib3/", "http/client.py", "socket.py", "ssl.py", "email/", "selectors.py")),
    ("ORM / SQL (Django db, psycopg)", ("django/db/", "psycopg")),
    ("resolver / planner / schedules", ("scheduling/resolver.py", "scheduling/planner.py", "scheduling/periods", "scheduling/due.py", "zoneinfo")),
    ("notifications", ("notifications/",)),
    ("Parkway (inventory, recording, leases, aws.py…)", ("scheduling/", "tenants/", "portal/")),
    ("Django other (signals, dispatch, utils)", ("django/",)),
]
# Cumulative time of the steps of a task (function names as pstats shows them).
STEPS = [
    ("tasks.park_account (the whole task)", "scheduling/tasks.py", "park_account"),
    ("  claims.claim_release (only when parking did not)", "scheduling/claims.py", "claim_release"),
    ("  parking.park_account", "scheduling/parking.py", "park_account"),
    ("    leases.lease_claim + lease_release (with the enqueue claim)", "scheduling/leases.py", ("lease_claim", "lease_release")),
    ("    aws.session_for", "tenants/aws.py", "session_for"),
    ("    resolver.schedules_for", "scheduling/resolver.py", "schedules_for"),
    ("    inventory.inventory_sync", "scheduling/inventory.py", "inventory_sync"),
    ("      botocore BaseClient._make_api_call (all calls)", "botocore/client.py", "_make_api_call"),
    ("      botocore ResponseParser.parse", "botocore/parsers.py", "parse"),
    ("      aws.client (clients from the session)", "tenants/aws.py", "client"),
    ("    recording.unsettled_reconcile (when the lease says so)", "scheduling/recording.py", "unsettled_reconcile"),
    ("    parking._plan (resolver.explain)", "scheduling/parking.py", "_plan"),
    ("    parking._execute_and_record", "scheduling/parking.py", "_execute_and_record"),
    ("      recording.act_and_record_batches", "scheduling/recording.py", "act_and_record_batches"),
    ("  notifications account_reported", "notifications/events.py", "account_reported"),
    ("SQL: CursorWrapper.execute (ORM excluded)", "django/db/backends/utils.py", "_execute"),
]


def _area(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for area, needles in AREAS:
        if any(n in where for n in needles):
            return area
    return "Python stdlib / other"


def grouped(stats: pstats.Stats) -> tuple[dict[str, float], float]:
    """Own time per area; a built-in's (dict.get, getattr…) goes to the areas of its callers."""
    own: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and callers:
            for (c_file, _l, c_name), caller in callers.items():
                own[_area(c_file, c_name)] += caller[2]  # the built-in's own time when called from there
        else:
            own[_area(filename, name)] += tottime
    return own, sum(own.values())


def steps(stats: pstats.Stats) -> list[tuple[str, float]]:
    rows = []
    for label, file_part, names in STEPS:
        wanted = (names,) if isinstance(names, str) else names
        total = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if file_part in filename and name in wanted:
                total += cumtime
        rows.append((label, total))
    return rows


def run(n: int, instances: int, latency_ms: float) -> None:
    from scale import EVENING, MORNING, make_fleet, use_accounts  # noqa: PLC0415

    from django.db import connection
    from scheduling import tasks
    from tenants import aws

    pks = make_fleet(n)
    use_accounts(pks, n)
    claimed: list[Any] = []
    tasks._enqueue_parking = lambda claim, at, tallied: claimed.append((claim, at, tallied))  # type: ignore[assignment]
    counts: Counter[str] = Counter()
    where = ["tick"]

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        counts[where[0]] += 1
        return execute(sql, params, many, context)

    def forget_sessions() -> None:
        # As a worker that did not serve this account lately finds it: no
        # session in the process (its credentials still in the shared cache).
        with aws._cache_lock:
            aws._cache.clear()

    def tick(at: dt.datetime, profile: cProfile.Profile | None, *, fresh: bool = False) -> tuple[float, int]:
        claimed.clear()
        counts.clear()
        cpu = 0.0
        with connection.execute_wrapper(count):
            where[0] = "tick"
            t0 = time.thread_time()
            tasks.tick(at.isoformat())
            cpu += time.thread_time() - t0
            where[0] = "task"
            for claim, when, tallied in claimed:
                for account_id in claim.account_ids:
                    if fresh:
                        forget_sessions()
                    t0 = time.thread_time()
                    if profile is not None:
                        profile.enable()
                    tasks.park_account(account_id, when, claim.token, account_id in tallied)
                    if profile is not None:
                        profile.disable()
                    cpu += time.thread_time() - t0
        return cpu, sum(len(c.account_ids) for c, _, _ in claimed)

    cpu, done = tick(EVENING, None)
    print(f"tick 1 cold: {done} accounts, {cpu * 1000 / max(done, 1):.0f} ms CPU per account "
          f"(tick {counts['tick'] / max(done, 1):.1f} + task {counts['task'] / max(done, 1):.1f} queries per account)")
    cpu, done = tick(MORNING, None)
    print(f"tick 2 busy warm, no profiler: {done} accounts, {cpu * 1000 / max(done, 1):.1f} ms CPU per account in this "
          f"process; queries per account: task {counts['task'] / max(done, 1):.1f}, tick's share {counts['tick'] / max(done, 1):.2f}")
    # The same busy tick with the process's sessions forgotten before each task:
    # with many accounts and a worker's session cache of PARKWAY_SESSION_CACHE_SIZE,
    # most tasks of a cluster find no session for their account in their worker.
    tick(EVENING + dt.timedelta(days=1), None)
    cpu, done = tick(MORNING + dt.timedelta(days=1), None, fresh=True)
    print(f"tick 2 busy warm, no session in the process before each task, no profiler: "
          f"{cpu * 1000 / max(done, 1):.1f} ms CPU per account")
    fresh = os.environ.get("PARKWAY_PROFILE_FRESH_SESSIONS") == "1"
    # The same busy tick again, profiled: every machine is stopped by a cold tick first.
    tick(EVENING + dt.timedelta(days=2), None)
    profile = cProfile.Profile(time.thread_time)
    cpu, done = tick(MORNING + dt.timedelta(days=2), profile, fresh=fresh)
    if fresh:
        print("(profiled with no session in the process before each task: PARKWAY_PROFILE_FRESH_SESSIONS=1)")
    stats = pstats.Stats(profile)
    own, total = grouped(stats)
    print(f"\ntick 2' busy warm under cProfile (main thread's CPU; the profiler inflates it): "
          f"{total * 1000 / max(done, 1):.0f} ms per account in the profile")
    print("\nOwn time by area (share of the task's CPU):")
    for area, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds / total * 100:5.1f}%  {seconds * 1000 / max(done, 1):6.1f} ms/account  {area}")
    print("\nCumulative time of the task's steps:")
    for label, seconds in steps(stats):
        print(f"  {seconds / total * 100:5.1f}%  {seconds * 1000 / max(done, 1):6.1f} ms/account  {label}")
    print("\nTop 25 functions by own time:")
    stats.sort_stats("tottime").print_stats(25)
    if os.environ.get("PARKWAY_PROFILE_DUMP"):
        stats.dump_stats(os.environ["PARKWAY_PROFILE_DUMP"])
