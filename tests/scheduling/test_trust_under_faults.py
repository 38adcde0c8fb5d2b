"""Issue 9 regressions on the parking engine: leases, half-recorded runs,
isolation of accounts in a tick, per-machine backoff.

Faults are made at the edges: the lease row as another worker would leave it,
the database (a trigger that refuses one account's writes), AWS's real state
(machines stopped behind our back by a worker that died before recording).
"""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from scheduling import leases, parking, recording, resolver
from scheduling.models import ParkingAction, ParkingLease, ParkingRun, Resource
from tenants import aws, demo
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours, states

pytestmark = pytest.mark.django_db


def expire(lease: leases.Lease) -> None:
    """What time does to a lease whose holder is slow: the database sees it
    ended, and the holder's own clock says its last renewal is that old."""
    ParkingLease.objects.filter(account_id=lease.account_id).update(until=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
    lease.renewed_at -= leases.lease_seconds()


# --- Defect 1: two workers acted on one account at once -----------------------


def test_a_slow_worker_cannot_release_the_lease_of_the_worker_that_replaced_it(acme_fleet):
    account, _ = acme_fleet
    slow = leases.lease_claim(account_id=account.pk)
    assert slow is not None
    expire(slow)
    replacement = leases.lease_claim(account_id=account.pk)
    assert replacement is not None and replacement.token != slow.token
    assert leases.lease_release(slow) is False
    # The replacement still holds it: a third worker finds the account busy.
    assert leases.lease_claim(account_id=account.pk) is None
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).status == "busy"
    assert leases.lease_release(replacement) is True
    assert leases.lease_claim(account_id=account.pk) is not None


def test_a_run_that_lost_its_lease_stops_before_acting(acme_fleet, standin):
    account, _ = acme_fleet
    slow = leases.lease_claim(account_id=account.pk)
    assert slow is not None
    run = ParkingRun.objects.create(account=account, tick_at=TUESDAY_EVENING, started_at=TUESDAY_EVENING)
    parking.inventory_sync(account=account)
    resources = list(Resource.objects.filter(account=account, region="us-east-1"))
    expire(slow)
    assert leases.lease_claim(account_id=account.pk) is not None  # another worker took over
    standin.reset_calls()
    ec2 = demo.account_client("ec2", ACME_ACCOUNT, "us-east-1")
    with pytest.raises(leases.LeaseLost):
        recording.act_and_record(
            run=run, lease=slow, ec2=ec2, action="stop",
            intents=[recording.Intent(resource=r, reason="test") for r in resources],
        )
    assert "ec2:StopInstances" not in standin.calls()
    assert not ParkingAction.objects.exists()  # nothing written as if it were about to happen


def test_renewing_keeps_the_lease_and_fails_once_another_worker_holds_it(acme_fleet):
    account, _ = acme_fleet
    lease = leases.lease_claim(account_id=account.pk)
    leases.lease_renew(lease)  # still ours
    expire(lease)
    leases.lease_renew(lease)  # expired but nobody took it: ours again, safely
    assert leases.lease_claim(account_id=account.pk) is None
    expire(lease)
    assert leases.lease_claim(account_id=account.pk) is not None
    with pytest.raises(leases.LeaseLost):
        leases.lease_renew(lease)


def test_leases_are_claimed_against_the_database_clock(acme_fleet):
    account, _ = acme_fleet
    assert leases.lease_claim(account_id=account.pk) is not None
    # A worker whose own clock runs a day ahead must still see the lease as held.
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=1), tick=False):
        assert leases.lease_claim(account_id=account.pk) is None


# --- Defect 2: a run half-recorded forever -----------------------------------


def _dead_worker_left(account, *, stopped_in_aws: list[Resource], never_sent: list[Resource]) -> ParkingRun:
    """What a worker SIGKILLed right after StopInstances leaves behind: a run
    still "running", its batch written ahead as pending, AWS already acted on
    part of it, and its lease (expired by now)."""
    run = ParkingRun.objects.create(account=account, tick_at=TUESDAY_EVENING, started_at=TUESDAY_EVENING)
    for resource in stopped_in_aws + never_sent:
        ParkingAction.objects.create(run=run, resource=resource, action="stop", reason="schedule office: period ended",
                                     outcome=ParkingAction.Outcome.PENDING)
    demo.account_client("ec2", ACME_ACCOUNT, "us-east-1").stop_instances(InstanceIds=[r.resource_id for r in stopped_in_aws])
    ParkingLease.objects.create(account=account, until=dt.datetime(2001, 1, 1, tzinfo=dt.UTC), holder="dead:1:x")
    return run


def test_the_next_tick_closes_an_abandoned_run_and_records_what_aws_did(acme_fleet, standin):
    account, ids = acme_fleet
    parking.inventory_sync(account=account)
    east = list(Resource.objects.filter(account=account, region="us-east-1").order_by("resource_id"))
    done, not_done = east[:2], east[2:]
    dead = _dead_worker_left(account, stopped_in_aws=done, never_sent=not_done)
    standin.reset_calls()

    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)

    dead.refresh_from_db()
    assert dead.status == ParkingRun.Status.INTERRUPTED and dead.finished_at is not None
    assert (dead.succeeded, dead.failed) == (2, 1)
    outcomes = dict(ParkingAction.objects.filter(run=dead).values_list("resource__resource_id", "outcome"))
    assert {outcomes[r.resource_id] for r in done} == {"succeeded"}
    assert outcomes[not_done[0].resource_id] == "failed"
    # The stops AWS did are not repeated; the one that never reached AWS is done now, once.
    again = set(ParkingAction.objects.filter(run=result.run, action="stop").values_list("resource__resource_id", flat=True))
    assert again.isdisjoint(r.resource_id for r in done)
    assert not_done[0].resource_id in again
    assert result.status == "succeeded" and standin.calls()["ec2:StopInstances"] == 2
    assert not ParkingRun.objects.filter(status=ParkingRun.Status.RUNNING).exists()
    assert not ParkingAction.objects.filter(outcome=ParkingAction.Outcome.PENDING).exists()
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) <= {"stopped", "stopping"}


def on_aws_call(account, operation: str, handler) -> None:
    """Observe or answer `operation` at the AWS edge: a botocore event on the
    EC2 clients parking uses in the account's regions (the process's shared
    clients: the stand-in fixture drops them after the test)."""
    session = aws.session_for(account)
    for region in account.regions:
        aws.client(session, "ec2", region).meta.events.register(
            f"before-call.ec2.{operation}", handler, unique_id=f"test-{operation}"
        )


class _ErrorResponse:
    status_code = 400
    headers: dict = {}
    content = b""
    text = ""


def refuse_ids(bad: set[str], code: str = "IncorrectInstanceState"):
    """AWS's behaviour for a batch naming one machine it will not act on: the
    whole call fails and none of its machines is touched."""
    calls: list[list[str]] = []

    def handler(params, **kwargs):
        ids = [v for k, v in params["body"].items() if k.startswith("InstanceId.")]
        calls.append(ids)
        if bad.intersection(ids):
            message = f"The instance '{sorted(bad.intersection(ids))[0]}' is not in a state from which it can be stopped."
            return _ErrorResponse(), {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    handler.calls = calls
    return handler


def test_every_batch_is_written_ahead_before_the_first_aws_call(acme_fleet, standin):
    """Both regions' stops are stored as pending before AWS is asked for either
    (one INSERT), and settled together once AWS answered both."""
    account, _ = acme_fleet
    seen: list[tuple[int, int]] = []
    on_aws_call(account, "StopInstances", lambda **kw: seen.append((
        ParkingAction.objects.filter(outcome="pending").count(), ParkingAction.objects.filter(outcome="succeeded").count()
    )))
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.succeeded == 6
    assert seen == [(6, 0), (6, 0)]
    assert set(ParkingAction.objects.values_list("outcome", flat=True)) == {"succeeded"}


# --- Defect 9: permanent per-machine failures retried every tick ---------------


def test_a_machine_that_keeps_failing_backs_off_and_is_retried_when_it_changes(acme, standin):
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=8, regions=["us-east-1"])
    bad = set(ids["us-east-1"][:2])
    refuse = refuse_ids(bad)
    on_aws_call(account, "StopInstances", refuse)

    first = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert (first.succeeded, first.failed) == (6, 2)
    assert len(refuse.calls) > 2  # bisection isolated the two bad machines
    failing = Resource.objects.filter(resource_id__in=bad)
    assert {(r.failures, r.retry_after is not None) for r in failing} == {(1, True)}
    assert all("IncorrectInstanceState" in r.last_failure for r in failing)

    refuse.calls.clear()
    second = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert refuse.calls == [] and "StopInstances" not in second.aws_calls  # no AWS call at all
    assert second.skipped == 2 and second.run is None  # the same skip again is not history
    said = resolver.resources_explain(failing.select_related("account"), at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert {(e.action, "backing off after 1 failed stop" in e.reason) for e in said.values()} == {("skip", True)}

    # Once the backoff ends it is tried again, and fails again: the wait doubles.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=8)
    with time_machine.travel(later, tick=False):
        parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=10))
    assert refuse.calls  # retried
    waits = {r.retry_after - later for r in Resource.objects.filter(resource_id__in=bad)}
    assert {r.failures for r in Resource.objects.filter(resource_id__in=bad)} == {2}
    assert all(dt.timedelta(minutes=12) < w <= dt.timedelta(minutes=13) for w in waits), waits

    # Its state changes (someone fixed it): the backoff is forgotten and it is tried at once.
    refuse.calls.clear()
    bad_one = sorted(bad)[0]
    demo.account_client("ec2", ACME_ACCOUNT, "us-east-1").stop_instances(InstanceIds=[bad_one])
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=15))
    fixed = Resource.objects.get(resource_id=bad_one)
    assert (fixed.failures, fixed.retry_after, fixed.last_failure) == (0, None, "")


def test_throttling_is_not_a_machine_failure(acme, standin, settings):
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    on_aws_call(account, "StopInstances", refuse_ids(set(ids["us-east-1"]), code="RequestLimitExceeded"))
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.failed == 2
    assert set(Resource.objects.values_list("failures", flat=True)) == {0}


def test_a_new_schedule_assignment_forgets_the_backoff(acme, standin, staff):
    from scheduling import actions

    schedule = office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    on_aws_call(account, "StopInstances", refuse_ids(set(ids["us-east-1"])))
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    resource = Resource.objects.get()
    assert resource.failures == 1
    actions.resource_assign_schedule(resource=resource, schedule=schedule, actor=staff)
    resource.refresh_from_db()
    assert (resource.failures, resource.retry_after) == (0, None)


# --- Defect 3: one database error abandons the whole tick ---------------------


def _refuse_runs_of(account_pk: int) -> str:
    """A database that refuses one account's writes (a broken row, a full disk…)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE OR REPLACE FUNCTION pkw_refuse_run() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.account_id = {int(account_pk)} THEN RAISE EXCEPTION 'injected: disk full'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER pkw_refuse_run BEFORE INSERT ON scheduling_parkingrun "
                "FOR EACH ROW EXECUTE FUNCTION pkw_refuse_run()"
            )
        return "DROP TRIGGER pkw_refuse_run ON scheduling_parkingrun; DROP FUNCTION pkw_refuse_run()"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER pkw_refuse_run BEFORE INSERT ON scheduling_parkingrun "
            f"WHEN NEW.account_id = {int(account_pk)} BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END"
        )
    return "DROP TRIGGER pkw_refuse_run"


@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_one_account_does_not_stop_the_others(acme, globex, standin):
    office_hours(acme)
    office_hours(globex)
    broken, _ = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    healthy, _ = connect(globex, GLOBEX_ACCOUNT, per_region=2, regions=["us-east-1"])
    cleanup = _refuse_runs_of(broken.pk)
    out, err = io.StringIO(), io.StringIO()
    try:
        with pytest.raises(CommandError) as failure:
            call_command("run_parking", "--at", TUESDAY_EVENING.isoformat(), stdout=out, stderr=err)
    finally:
        with connection.cursor() as cursor:
            for statement in cleanup.split("; "):
                cursor.execute(statement)
    assert "1 of 2 account(s) not parked" in str(failure.value)
    assert ACME_ACCOUNT in str(failure.value) and "injected: disk full" in str(failure.value)
    assert set(states(GLOBEX_ACCOUNT, "us-east-1").values()) <= {"stopped", "stopping"}
    assert ParkingRun.objects.get(account=healthy).status == "succeeded"
    # The failed account's lease went back: the next tick parks it.
    assert parking.park_account(account_id=broken.pk, at=TUESDAY_EVENING).status == "succeeded"


def test_run_parking_exits_zero_when_every_account_parked(acme_fleet):
    out = io.StringIO()
    call_command("run_parking", "--at", TUESDAY_EVENING.isoformat(), stdout=out)
    assert "succeeded" in out.getvalue()


@pytest.fixture
def acme_fleet(acme, standin):
    office_hours(acme)
    return connect(acme, ACME_ACCOUNT)


def test_a_stop_started_again_by_someone_before_the_next_tick_is_not_repeated(acme_fleet, standin):
    """The worker died after AWS stopped the machine; a person started it again
    before the next tick. The stop happened (EC2's LaunchTime says the start came
    after it), and the person's start is respected."""
    account, _ = acme_fleet
    parking.inventory_sync(account=account)
    east = list(Resource.objects.filter(account=account, region="us-east-1").order_by("resource_id"))
    dead = _dead_worker_left(account, stopped_in_aws=east, never_sent=[])
    # Written a couple of minutes before the person's start (LaunchTime has whole seconds).
    ParkingAction.objects.filter(run=dead).update(created_at=timezone.now() - dt.timedelta(minutes=2))
    restarted = east[0].resource_id
    demo.account_client("ec2", ACME_ACCOUNT, "us-east-1").start_instances(InstanceIds=[restarted])
    standin.reset_calls()

    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)

    record = ParkingAction.objects.get(run=dead, resource__resource_id=restarted)
    assert record.outcome == "succeeded" and "started again" in record.error_message
    assert not ParkingAction.objects.filter(run=result.run, resource__resource_id=restarted).exists()
    assert states(ACME_ACCOUNT, "us-east-1")[restarted] == "running"
    assert Resource.objects.get(resource_id=restarted).desired_state == "stopped"


def test_a_run_that_loses_its_lease_while_aws_answers_leaves_the_machines_to_the_new_holder(acme_fleet, standin):
    account, _ = acme_fleet
    taken: list[leases.Lease] = []

    def take_over(**kwargs):  # while the call is in flight, the lease passes to another worker
        expire(slow)
        taken.append(leases.lease_claim(account_id=account.pk))
        Resource.objects.filter(pk__in=[r.pk for r in east]).update(state="stopped")  # the new holder's fresher view

    on_aws_call(account, "StopInstances", take_over)
    parking.inventory_sync(account=account)
    slow = leases.lease_claim(account_id=account.pk)
    run = ParkingRun.objects.create(account=account, tick_at=TUESDAY_EVENING, started_at=TUESDAY_EVENING)
    east = list(Resource.objects.filter(account=account, region="us-east-1"))
    ec2 = aws.client(aws.session_for(account), "ec2", "us-east-1")
    with pytest.raises(leases.LeaseLost):
        recording.act_and_record(
            run=run, lease=slow, ec2=ec2, action="stop",
            intents=[recording.Intent(resource=r, reason="test", desired="stopped") for r in east],
        )
    assert taken and taken[0] is not None
    # What AWS answered is recorded; the machines' rows keep the new holder's view.
    assert set(ParkingAction.objects.filter(run=run).values_list("outcome", flat=True)) == {"succeeded"}
    assert set(Resource.objects.filter(pk__in=[r.pk for r in east]).values_list("state", "desired_state")) == {("stopped", "")}


# --- Issue 10: activity that means something ------------------------------------


def test_an_idle_tick_writes_no_run_but_the_account_keeps_its_last_tick(acme_fleet, standin):
    account, _ = acme_fleet
    busy = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert busy.run is not None
    idle = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert idle.status == "succeeded" and idle.run is None
    assert ParkingRun.objects.count() == 1
    lease = ParkingLease.objects.get(account=account)
    assert lease.last_status == "succeeded" and lease.last_tick_at is not None and lease.holder == ""


def test_a_failed_tick_is_kept_even_with_nothing_done(acme_fleet, standin):
    account, _ = acme_fleet
    iam = demo.account_client("iam", ACME_ACCOUNT, "us-east-1")
    iam.delete_role_policy(RoleName="ParkwayAccess", PolicyName="ParkwayParking")
    iam.delete_role(RoleName="ParkwayAccess")
    aws.clear_session_cache()
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.status == "failed" and result.run is not None
    run = ParkingRun.objects.get()
    assert run.status == "failed" and run.error
    assert ParkingLease.objects.get(account=account).last_status == "failed"


# --- Issue 16: reconciliation asked only when the lease says something is open ---


def test_a_worker_that_dies_after_a_clean_run_still_has_its_leftovers_reconciled(acme_fleet, standin):
    """A clean run leaves the lease settled; the next holder dies with a run
    open and an action pending, never giving the lease back. The run after it
    must reconcile: the claim sees a holder who never released."""
    account, _ = acme_fleet
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).clean  # every machine stopped
    assert ParkingLease.objects.get(account=account).unsettled is False
    dead = leases.lease_claim(account_id=account.pk)
    run = ParkingRun.objects.create(account=account, tick_at=TUESDAY_EVENING, started_at=timezone.now())
    machine = Resource.objects.filter(account=account).first()
    action = ParkingAction.objects.create(run=run, resource=machine, action="start", reason="test", outcome="pending")
    expire(dead)  # the worker died: its lease runs out, unreleased
    later = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert later.status == "succeeded"
    run.refresh_from_db()
    action.refresh_from_db()
    assert run.status == "interrupted"
    assert (action.outcome, action.error_code) == ("failed", recording.INTERRUPTED_CODE)  # AWS shows it stopped
    assert ParkingLease.objects.get(account=account).unsettled is False


def test_a_run_with_unconfirmed_actions_leaves_the_lease_unsettled(acme_fleet, standin, settings):
    account, _ = acme_fleet
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1  # no retry hides the lost answer
    aws.clear_session_cache()
    fault = standin.faults.lose_response("ec2:StopInstances", times=None, account_id=ACME_ACCOUNT)  # every attempt
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    standin.faults.remove(fault)
    assert result.unconfirmed
    assert ParkingLease.objects.get(account=account).unsettled is True
    assert ParkingAction.objects.filter(outcome="pending").exists()
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert not ParkingAction.objects.filter(outcome="pending").exists()  # confirmed from AWS's state


def test_a_run_stopped_between_writing_ahead_and_settling_leaves_the_lease_unsettled(acme_fleet, standin, monkeypatch):
    """Any failure after the pending actions are written and before they are
    settled — even one parking reports as an ordinary AWS failure — must leave
    the next run to reconcile them."""
    from scheduling import executor

    account, _ = acme_fleet

    def refused(*args, **kwargs):
        raise aws.AwsError("AWS refused for a moment.", code="Unavailable", permanent=False)

    monkeypatch.setattr(executor, "execute", refused)
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).status == "failed"
    assert ParkingAction.objects.filter(outcome="pending").exists()
    assert ParkingLease.objects.get(account=account).unsettled is True
    monkeypatch.undo()
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert not ParkingAction.objects.filter(outcome="pending").exists()
