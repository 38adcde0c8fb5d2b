"""One machine AWS refuses (wrong state): EC2 fails the whole call that names
it, so the batch is split until the machine is alone; it fails, the rest of its
batch is parked, its account is not flagged, and it is not retried every tick."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.aws_standin import StandinServer
from scheduling import parking
from scheduling.models import ParkingAction
from tenants.models import CloudAccount
from tests.faults.conftest import AT, NEXT, Fleets
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.django_db


def test_a_machine_in_the_wrong_state_fails_alone(fleets: Fleets, standin: StandinServer) -> None:
    target = fleets.target
    bad = target.ids["us-east-1"][1]
    fault = standin.faults.fail_ids("ec2:StopInstances", [bad], code="IncorrectInstanceState")
    results = {r.account.account_id: r for r in parking.run_tick(at=AT)}
    assert fault.fired >= 1

    (failed,) = ParkingAction.objects.filter(outcome="failed")
    assert (failed.resource.resource_id, failed.error_code) == (bad, "IncorrectInstanceState")
    assert "is not in a state from which it can be stopped" in failed.error_message
    assert (results[target.account_id].succeeded, results[target.account_id].failed) == (7, 1)
    target.account.refresh_from_db()
    assert target.account.status == CloudAccount.Status.CONNECTED  # the machine's problem, not the account's
    for other in (fleets.before, fleets.after):
        assert results[other.account_id].status == "succeeded"
    parking.run_tick(at=NEXT)
    assert_invariants(standin, desired=fleets.desired(), exempt=[bad])


def test_a_machine_that_keeps_failing_is_not_retried_every_tick(fleets: Fleets, standin: StandinServer) -> None:
    target = fleets.target
    bad = target.ids["eu-west-1"][0]
    fault = standin.faults.fail_ids("ec2:StopInstances", [bad], code="IncorrectInstanceState")
    ticks = [AT + dt.timedelta(minutes=5 * n) for n in range(6)]  # half an hour of ticks
    attempted = []
    for at in ticks:
        fired = fault.fired
        parking.run_tick(at=at)
        attempted.append(fault.fired > fired)
    assert attempted[0], "the first tick must try the machine"
    assert sum(attempted) < len(ticks), f"AWS refused the machine on every tick, and every tick tried again: {attempted}"
    assert_invariants(standin, desired=fleets.desired(), exempt=[bad])
