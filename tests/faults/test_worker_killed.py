"""A real worker (`manage.py qcluster` on Redis) is SIGKILLed, whole process group,
right after AWS carried out its first StopInstances for an account and before it
could record it. Redis has no delivery receipts: the task is gone. The next tick
(a fresh cluster, through `scheduling.tasks.tick`) closes the dead run, settles
it from AWS's real state, and finishes the decision without repeating it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.aws_standin import StandinServer, instance_states
from scheduling.models import ParkingLease, ParkingRun
from tests.faults.conftest import AT, NEXT, Fleets, Worker, expire_lease, needs_postgresql, on_first_call, wait_until
from tests.faults.invariants import Mark, assert_invariants, assert_not_repeated

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_postgresql("the worker process shares the test database"),
]


def test_a_worker_killed_mid_tick_is_settled_by_the_next_tick(
    fleets: Fleets, standin: StandinServer, worker: Worker
) -> None:
    target = fleets.target
    cluster = worker.start(workers=1)
    killed, kill_hook = on_first_call(cluster.kill)
    fault = standin.faults.hook("ec2:StopInstances", kill_hook, when="after", account_id=target.account_id)
    for customer in fleets.all:  # one worker: Globex, then Acme (killed), then Initech
        worker.park_account(customer.account, AT)
    if not killed.wait(timeout=45):
        pytest.fail(f"the worker never stopped {target.account_id}'s machines\n{worker.logs()}")
    worker.reap(cluster)
    assert fault.fired == 1
    # AWS carried out the first batch (eu-west-1); the second never reached it.
    assert set(instance_states(target.account_id, "eu-west-1").values()) == {"stopped"}
    assert set(instance_states(target.account_id, "us-east-1").values()) == {"running"}
    after_the_kill = Mark.take(standin)

    expire_lease(target.account)  # a dead worker cannot release its lease
    second = worker.start(workers=1)
    ticked_after = timezone.now()
    worker.tick(NEXT)

    def next_tick_done() -> bool:
        # An idle tick writes no run: each account's lease row keeps its last tick.
        return ParkingLease.objects.filter(
            account__in=[c.account for c in fleets.all], holder="", last_tick_at__gte=ticked_after
        ).count() == len(fleets.all)

    try:
        wait_until(next_tick_done, timeout=45, what="the next tick to park every account")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.logs()}") from None
    second.stop()

    assert_invariants(standin, desired=fleets.desired())
    assert_not_repeated(standin, target.ids["eu-west-1"], action="stop", since=after_the_kill)
    assert ParkingRun.objects.get(account=target.account, tick_at=AT).status == "interrupted"
