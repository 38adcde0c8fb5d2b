"""AWS throttles: botocore's retries absorb a short burst; a call throttled past
them fails for now (a transient error: the account is not flagged) and the next
tick retries it. The other accounts never notice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from portal.aws_standin import StandinServer
from scheduling import parking
from scheduling.models import ParkingAction, ParkingRun
from tenants import aws
from tenants.models import CloudAccount
from tests.conftest import ACME_ACCOUNT
from tests.faults.conftest import AT, NEXT, Fleets
from tests.faults.invariants import Mark, assert_invariants
from tests.scheduling.test_parking import WEDNESDAY_MORNING, connect, office_hours

pytestmark = pytest.mark.django_db


def test_throttled_describes_are_retried_and_every_account_is_parked(fleets: Fleets, standin: StandinServer) -> None:
    fault = standin.faults.throttle("ec2:DescribeInstances", times=2, account_id=fleets.target.account_id)
    results = {r.account.account_id: r.status for r in parking.run_tick(at=AT)}
    assert fault.fired == 2
    assert results == {c.account_id: "succeeded" for c in fleets.all}
    parking.run_tick(at=NEXT)
    assert_invariants(standin, desired=fleets.desired())


def test_a_stop_throttled_past_the_retries_waits_for_the_next_tick(
    fleets: Fleets, standin: StandinServer, settings
) -> None:
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1  # one attempt: no retry
    aws.clear_session_cache()  # clients are built with the retry settings
    target = fleets.target
    fault = standin.faults.throttle("ec2:StopInstances", times=None, account_id=target.account_id, region="us-east-1")
    results = {r.account.account_id: r for r in parking.run_tick(at=AT)}
    assert fault.fired == 1  # one call, one attempt: no retry, no bisection of a throttled batch

    throttled = ParkingAction.objects.filter(resource__account=target.account, resource__region="us-east-1")
    assert sorted(throttled.values_list("outcome", "error_code")) == [("failed", "RequestLimitExceeded")] * 4
    assert results[target.account_id].failed == 4 and results[target.account_id].succeeded == 4
    target.account.refresh_from_db()
    assert target.account.status != CloudAccount.Status.ERROR  # throttling is transient: nothing to fix
    for other in (fleets.before, fleets.after):
        assert results[other.account_id].status == "succeeded"

    standin.faults.remove(fault)
    parking.run_tick(at=NEXT)
    assert_invariants(standin, desired=fleets.desired())
    assert not ParkingRun.objects.filter(account__in=fleets.accounts, status="failed").exists()


def test_a_throttled_morning_start_starts_every_machine_once(fleets: Fleets, standin: StandinServer) -> None:
    parking.run_tick(at=AT)
    mark = Mark.take(standin)
    # Overnight the sessions expired (the shared cache dropped them), and this is
    # a fresh worker process: it must assume the roles again.
    cache.clear()
    aws.clear_session_cache()
    assume = standin.faults.throttle("sts:AssumeRole", times=1)
    start = standin.faults.throttle("ec2:StartInstances", times=1, account_id=fleets.target.account_id)
    results = {r.account.account_id: r.status for r in parking.run_tick(at=WEDNESDAY_MORNING)}
    assert (assume.fired, start.fired) == (1, 1)
    assert results == {c.account_id: "succeeded" for c in fleets.all}
    parking.run_tick(at=WEDNESDAY_MORNING + dt.timedelta(minutes=5))
    assert_invariants(standin, desired=fleets.desired("running"), since=mark)


def test_a_call_is_sent_at_most_max_attempts_times(acme, standin: StandinServer, settings) -> None:
    """The lease is sized to the longest AWS call, `PARKWAY_AWS_MAX_ATTEMPTS`
    attempts long (docs/architecture.md): one attempt more and a call can outlive it."""
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 2
    aws.clear_session_cache()
    fault = standin.faults.throttle("ec2:DescribeInstances", times=None, account_id=ACME_ACCOUNT)
    result = parking.park_account(account_id=account.pk, at=AT)
    assert result.status == "failed" and "throttling" in result.error
    assert fault.fired == settings.PARKWAY_AWS_MAX_ATTEMPTS, "attempts AWS saw for one call"
