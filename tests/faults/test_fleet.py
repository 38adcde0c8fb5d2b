"""Many worker machines: two real clusters (`manage.py qcluster`, two workers
each) on one Redis broker, sharing one Redis cache, park 20 accounts tick after
tick. Each due account is parked once per tick (an idle tick parks none), the whole fleet assumes each
account's role once, a tick enqueued while the previous one's tasks are pending
enqueues nothing, and after one cluster is SIGKILLed mid-tick the next tick
completes every account on the survivor."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import Task

from portal.aws_standin import StandinServer
from scheduling.models import ParkingLease, ParkingRun
from tenants.models import CloudAccount, Tenant
from tests.faults.conftest import AT, NEXT, Cluster, Worker, needs_postgresql, wait_until, worker_harness
from tests.faults.invariants import Mark, assert_invariants
from tests.scheduling.test_parking import WEDNESDAY_MORNING, connect, office_hours

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_postgresql("worker processes share the test database"),
]

ACCOUNTS = 20
# Redis databases of this test: the broker, and the shared cache of assumed-role sessions.
BROKER_URL = os.environ.get("PARKWAY_FLEET_REDIS_URL", "redis://127.0.0.1:6379/11")
CACHE_URL = os.environ.get("PARKWAY_FLEET_CACHE_URL", "redis://127.0.0.1:6379/12")
PARK = "scheduling.tasks.park_account"


@pytest.fixture
def fleet(standin: StandinServer) -> list[CloudAccount]:
    accounts = []
    for n in range(ACCOUNTS):
        tenant = Tenant.objects.create(name=f"Fleet {n}", slug=f"fleet-{n}")
        office_hours(tenant)
        account, _ = connect(tenant, f"{444400000000 + n}", per_region=2, regions=["us-east-1"])
        accounts.append(account)
    standin.reset_calls()
    return accounts


@pytest.fixture
def workers(request: pytest.FixtureRequest, standin: StandinServer, tmp_path: Path) -> Iterator[Worker]:
    # Q_SAVE_LIMIT=0: the test reads every task's result (production stores none).
    with worker_harness(request, standin, tmp_path, redis_url=BROKER_URL, cache_url=CACHE_URL, Q_SAVE_LIMIT="0") as harness:
        yield harness


class Recorder:
    """Which role each AssumeRole asked for, and whose machines each describe read."""

    def __init__(self, standin: StandinServer) -> None:
        self.roles: Counter[str] = Counter()
        self.describes: Counter[str] = Counter()
        standin.faults.hook("sts:AssumeRole", lambda call: self.roles.update([call.params["RoleArn"]]), times=None)
        standin.faults.hook(
            "ec2:DescribeInstances", lambda call: self.describes.update([call.account_id]), times=None
        )


def parked_after(accounts: list[CloudAccount], since: dt.datetime) -> int:
    """Accounts whose tick finished since `since`, with nothing of theirs pending."""
    return ParkingLease.objects.filter(
        account__in=accounts, holder="", queued_token="", last_tick_at__gte=since
    ).count()


def wait_for_tick(worker: Worker, accounts: list[CloudAccount], since: dt.datetime) -> None:
    try:
        wait_until(lambda: parked_after(accounts, since) == len(accounts), timeout=40, what="every account to be parked")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {parked_after(accounts, since)} of {len(accounts)}\n{worker.logs()}") from None


def park_results(at: dt.datetime) -> Counter[int]:
    """Parking tasks that ran for the tick at `at`, by account, and how they ended."""
    results: Counter[int] = Counter()
    for task in Task.objects.filter(func=PARK):
        account_id, task_at = task.args[0], task.args[1]
        if task_at == at.isoformat():
            assert task.success and task.result["status"] == "succeeded", task.result
            results[account_id] += 1
    return results


def tick_results(at: dt.datetime) -> list[int]:
    """How many tasks each tick task for `at` enqueued."""
    ticks = Task.objects.filter(func="scheduling.tasks.tick")
    return sorted(t.result for t in ticks if tuple(t.args) == (at.isoformat(),))


def pids_of(cluster: Cluster) -> set[int]:
    """The cluster's processes (its own process group): the holders of its leases."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == cluster.process.pid:
                    pids.add(int(entry.name))
            except ProcessLookupError:
                pass
    return pids


def test_two_clusters_park_every_account_once_per_tick_and_survive_losing_one(
    fleet: list[CloudAccount], standin: StandinServer, workers: Worker
) -> None:
    started = time.monotonic()
    recorder = Recorder(standin)
    doomed = workers.start(workers=2)
    workers.start(workers=2)  # the survivor
    every = {a.pk for a in fleet}

    # Tick 1 (20:00: stop everything), enqueued twice back to back, as a
    # scheduler running late or a second scheduler would: the second tick task
    # runs while the first one's tasks are pending, and enqueues none.
    since = timezone.now()
    workers.tick(AT)
    workers.tick(AT)
    wait_for_tick(workers, fleet, since)
    wait_until(lambda: len(tick_results(AT)) == 2, timeout=10, what="both tick results to be saved")
    assert tick_results(AT) == [0, ACCOUNTS]
    assert park_results(AT) == Counter(dict.fromkeys(every, 1))
    assert ParkingRun.objects.filter(tick_at=AT, status="succeeded").count() == ACCOUNTS
    assert_invariants(standin, desired=dict.fromkeys(fleet, "stopped"))

    # Tick 2 (20:05: nothing due, scheduling.due): every account looked at, no
    # task enqueued, no AWS call, no new session.
    since = timezone.now()
    workers.tick(NEXT)
    wait_for_tick(workers, fleet, since)
    wait_until(lambda: len(tick_results(NEXT)) == 1, timeout=10, what="tick 2's result to be saved")
    assert tick_results(NEXT) == [0]
    assert park_results(NEXT) == Counter()
    assert set(recorder.describes.values()) == {1}  # one describe per account, in tick 1
    assert len(recorder.roles) == ACCOUNTS and set(recorder.roles.values()) == {1}

    # Tick 3 (Wednesday 10:00: start everything): one cluster is SIGKILLed once
    # AWS has started the machines of a few accounts.
    doomed_pids = pids_of(doomed)
    starts = Counter[str]()

    def kill_on_the_fifth_start(call: object) -> None:
        starts.update(["start"])
        if starts["start"] == 5:
            doomed.kill()

    standin.faults.hook("ec2:StartInstances", kill_on_the_fifth_start, when="after", times=None)
    mark = Mark.take(standin)
    workers.tick(WEDNESDAY_MORNING)
    wait_until(lambda: starts["start"] >= 5, timeout=40, what="the fifth StartInstances")
    workers.reap(doomed)
    # The survivor finishes what it had; the dead cluster's tasks are lost with
    # it, their claims and leases held until they run out.
    wait_until(lambda: workers.broker.queue_size() == 0, timeout=40, what="the queue to drain")
    wait_until(
        lambda: not ParkingLease.objects.exclude(holder="").exclude(
            holder__regex=r":(%s):" % "|".join(map(str, doomed_pids))
        ).exists(),
        timeout=40,
        what="the survivor to finish its tasks",
    )

    # Time passes: what the dead cluster held runs out (leases and claims
    # expire on the database's clock; moved into the past rather than waited for).
    expired = timezone.now() - dt.timedelta(seconds=1)
    ParkingLease.objects.exclude(holder="").update(until=expired)
    ParkingLease.objects.exclude(queued_token="").update(queued_until=expired)
    since = timezone.now()
    workers.tick(WEDNESDAY_MORNING + dt.timedelta(minutes=5))
    wait_for_tick(workers, fleet, since)
    assert_invariants(standin, desired=dict.fromkeys(fleet, "running"), since=mark)

    # One AssumeRole per account in total, whichever cluster, worker or restart parked it.
    assert len(recorder.roles) == ACCOUNTS and set(recorder.roles.values()) == {1}, recorder.roles
    assert time.monotonic() - started < 90
