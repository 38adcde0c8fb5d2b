"""A run that outlives its lease: its AWS call hangs long enough for the lease to
run out and another worker to claim the account. When the first worker hears
back, it must stop before acting again, and must not free the lease it no longer
holds; the second parks the account, and nothing is done twice."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from portal.aws_standin import Call, StandinServer
from scheduling import leases, parking
from scheduling.models import ParkingLease, ParkingRun
from tests.faults.conftest import AT, NEXT, Fleets, expire_lease, wait_until
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_that_outlived_its_lease_stops_acting_and_leaves_the_new_lease_alone(
    fleets: Fleets, standin: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = fleets.target
    # The lease's time runs out on both clocks: the database's (expire_lease)
    # and the workers' monotonic one, by which a holder knows how long its
    # last renewal covers it (scheduling.leases.lease_keep).
    elapsed = [0.0]
    monkeypatch.setattr(leases, "monotonic", lambda: time.monotonic() + elapsed[0])
    account = target.account
    seen: dict[str, Any] = {}
    a_is_back = threading.Event()

    def worker_b() -> None:
        try:
            seen["b"] = parking.park_account(account_id=account.pk, at=AT)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            seen["b_error"] = exc
        finally:
            connections.close_all()

    b = threading.Thread(target=worker_b, name="worker-b")

    def b_waits_until_a_is_back(call: Call) -> None:
        a_is_back.wait(timeout=20)

    def lease_runs_out(call: Call) -> None:
        # A's first StopInstances acted; A has not heard back. Its lease runs out, B claims
        # the account and is held before its inventory, so it still holds the lease when A goes on.
        try:
            seen["holder_a"] = ParkingLease.objects.get(account=account).holder
            expire_lease(account)
            elapsed[0] += leases.lease_seconds()
            standin.faults.hook("ec2:DescribeInstances", b_waits_until_a_is_back, when="before", account_id=target.account_id)
            b.start()
            lease = wait_until(
                lambda: ParkingLease.objects.filter(account=account, until__gt=timezone.now()).first(),
                timeout=10,
                what="worker B to claim the lease",
            )
            seen["holder_b"] = lease.holder
            seen["b_claimed"] = standin.faults.mark()
        finally:
            connections.close_all()  # this server thread's connection

    fault = standin.faults.hook("ec2:StopInstances", lease_runs_out, when="after", account_id=target.account_id)
    try:
        parking.park_account(account_id=account.pk, at=AT)  # worker A, in this thread
        acted_after_b_claimed = [(e.region, e.action, e.instance_id) for e in standin.faults.effects(since=seen["b_claimed"])]
        lease_when_a_returned = ParkingLease.objects.get(account=account)
        now = timezone.now()
    finally:
        a_is_back.set()
        if b.is_alive() or b.ident:
            b.join(timeout=30)
    assert fault.fired == 1
    assert not b.is_alive() and "b_error" not in seen, seen.get("b_error")

    problems = []
    if seen["holder_b"] == seen["holder_a"]:
        problems.append(f"the lease holder token is not unique per claim: A and B both hold {seen['holder_a']!r}")
    if acted_after_b_claimed:
        problems.append(f"worker A acted again after its lease was taken: {acted_after_b_claimed}")
    if (lease_when_a_returned.holder, lease_when_a_returned.until > now) != (seen["holder_b"], True):
        problems.append(
            f"worker A released or changed the lease worker B holds: holder {lease_when_a_returned.holder!r}, "
            f"until {lease_when_a_returned.until:%H:%M:%S} (now {now:%H:%M:%S})"
        )
    run_a, run_b = ParkingRun.objects.filter(account=account).order_by("started_at", "pk")
    if run_a.status != "interrupted":
        problems.append(f"worker A's run closed as {run_a.status!r}, not 'interrupted'")
    if (run_b.status, seen["b"].status) != ("succeeded", "succeeded"):
        problems.append(f"worker B's run: {run_b.status!r} ({seen['b'].status}: {seen['b'].error})")
    assert not problems, "\n".join(problems)

    parking.run_tick(at=NEXT)
    assert_invariants(standin, desired=fleets.desired())
