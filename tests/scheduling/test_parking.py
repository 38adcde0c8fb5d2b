"""Parking end to end through the AWS stand-in: inventory, plan, act, record."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.conf import Conf

from scheduling import executor, leases, parking, resolver, tasks
from scheduling.models import Override, ParkingAction, ParkingLease, ParkingRun, Period, Resource, Schedule
from tenants import aws, demo, services
from tenants.models import AuditEvent, CloudAccount
from tenants.verification import account_verify
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT, OUR_ACCOUNT

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
TUESDAY_EVENING = dt.datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
WEDNESDAY_MORNING = dt.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
REGIONS = ["us-east-1", "eu-west-1"]


def office_hours(tenant, name="office"):
    schedule = Schedule.objects.create(tenant=tenant, name=name, timezone="UTC")
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
    return schedule


def connect(tenant, account_id, *, per_region=3, tag="office", regions=REGIONS):
    """Connected as the Connect page does it: registered, then tested (which claims it for the tenant)."""
    demo.seed_role(account_id, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id)
    account = services.account_connect_role(tenant=tenant, account_id=account_id, regions=regions, actor="cli")
    assert account_verify(account=account, actor="cli").ok
    ids = {region: demo.seed_instances(account_id, region, per_region, tags={"Schedule": tag} if tag else None) for region in regions}
    return account, ids


def states(account_id, region):
    ec2 = demo.account_client("ec2", account_id, region)
    return {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}


@pytest.fixture
def acme_fleet(acme, standin):
    office_hours(acme)
    return connect(acme, ACME_ACCOUNT)


def test_a_tick_stops_machines_outside_their_period_with_the_fewest_calls(acme_fleet, standin):
    account, ids = acme_fleet
    standin.reset_calls()
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.status == "succeeded", result.error
    assert (result.planned, result.succeeded, result.failed) == (6, 6, 0)
    calls = standin.calls()
    for region in REGIONS:
        assert set(states(ACME_ACCOUNT, region).values()) <= {"stopped", "stopping"}
    assert calls["sts:AssumeRole"] == 1
    assert calls["ec2:DescribeInstances"] == 2  # one page per region
    assert calls["ec2:StopInstances"] == 2  # one batch per region
    assert "ec2:StartInstances" not in calls
    # One describe per kind per region, whether or not the kind has anything.
    assert result.aws_calls == {
        "AssumeRole": 1, "DescribeInstances": 2, "DescribeDBInstances": 2, "DescribeDBClusters": 2,
        "DescribeAutoScalingGroups": 2, "StopInstances": 2,
    }
    run = ParkingRun.objects.get()
    assert (run.status, run.planned, run.succeeded, run.aws_calls["StopInstances"]) == ("succeeded", 6, 6, 2)
    assert ParkingAction.objects.filter(run=run, action="stop", outcome="succeeded").count() == 6
    assert set(Resource.objects.values_list("desired_state", flat=True)) == {"stopped"}
    account.refresh_from_db()
    assert account.status == CloudAccount.Status.CONNECTED


def test_the_next_period_starts_them_again_and_an_idle_tick_does_nothing(acme_fleet, standin):
    account, _ = acme_fleet
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    idle = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert idle.planned == 0 and "StopInstances" not in idle.aws_calls
    morning = parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING)
    assert (morning.planned, morning.succeeded) == (6, 6)
    assert morning.aws_calls.get("StartInstances") == 2
    assert morning.aws_calls.get("AssumeRole", 0) == 0  # the hour-long session is reused
    for region in REGIONS:
        assert set(states(ACME_ACCOUNT, region).values()) <= {"running", "pending"}


def test_manual_start_outside_the_period_is_respected_unless_enforced(acme_fleet):
    account, ids = acme_fleet
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    first = ids["us-east-1"][0]
    demo.account_client("ec2", ACME_ACCOUNT, "us-east-1").start_instances(InstanceIds=[first])
    later = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(hours=1))
    assert later.planned == 0
    assert states(ACME_ACCOUNT, "us-east-1")[first] == "running"
    Schedule.objects.filter(name="office").update(enforced=True)
    enforced = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(hours=2))
    assert enforced.planned == 1 and states(ACME_ACCOUNT, "us-east-1")[first] == "stopped"


def test_unknown_schedule_tag_is_reported_and_never_breaks_the_tick(acme, standin):
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, tag="night-shift", regions=["us-east-1"])
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.status == "succeeded" and result.planned == 0
    said = resolver.resources_explain(Resource.objects.select_related("account"), at=TUESDAY_EVENING)
    assert {e.reason for e in said.values()} == {"its tag names a schedule 'night-shift' that does not exist"}


def test_explicit_schedule_beats_the_tag_and_global_templates_apply(acme, standin):
    always = Schedule.objects.create(tenant=None, name="always-on", timezone="UTC")
    Period.objects.create(schedule=always, weekdays="mon-sun")
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, tag="office", regions=["us-east-1"])
    parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING)  # inventory, all running
    keep = Resource.objects.get(resource_id=ids["us-east-1"][0])
    keep.schedule = always
    keep.save()
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(days=1))
    assert result.planned == 1
    assert states(ACME_ACCOUNT, "us-east-1")[keep.resource_id] == "running"


def test_a_snooze_keeps_a_machine_running_through_its_stop(acme_fleet):
    account, ids = acme_fleet
    parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING)
    snoozed = Resource.objects.get(resource_id=ids["eu-west-1"][0])
    Override.objects.create(resource=snoozed, state="running", until=WEDNESDAY_MORNING + dt.timedelta(hours=12))
    evening = parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING + dt.timedelta(hours=9))
    assert evening.planned == 5
    assert states(ACME_ACCOUNT, "eu-west-1")[snoozed.resource_id] == "running"
    after = parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING + dt.timedelta(hours=13))
    assert after.planned == 1 and states(ACME_ACCOUNT, "eu-west-1")[snoozed.resource_id] == "stopped"


def test_asg_members_are_reported_not_stopped(acme, standin):
    office_hours(acme)
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    (member,) = demo.seed_instances(ACME_ACCOUNT, "us-east-1", 1, tags={"Schedule": "office", "aws:autoscaling:groupName": "web"})
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert (result.planned, result.skipped) == (0, 1)
    action = ParkingAction.objects.get()
    assert action.reason == "part of Auto Scaling group web: never parked one by one" and action.outcome == "skipped"
    assert states(ACME_ACCOUNT, "us-east-1")[member] == "running"


def test_machines_that_disappear_are_marked_gone_not_deleted(acme_fleet):
    account, ids = acme_fleet
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    ghost = Resource.objects.create(
        account=account, region="us-east-1", resource_id="i-0123456789abcdef0", state="running",
        first_seen_at=an_hour_ago, last_seen_at=an_hour_ago,
    )
    # A read between complete inventories asks only for the scheduled
    # machines: one missing from it may only have lost its tag.
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    ghost.refresh_from_db()
    assert ghost.gone_at is None
    # The next complete inventory settles it.
    ParkingLease.objects.filter(account=account).update(inventoried_at=an_hour_ago - dt.timedelta(minutes=1))
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=10))
    ghost.refresh_from_db()
    assert ghost.gone_at is not None
    assert Resource.objects.filter(gone_at__isnull=True).count() == 6


def test_one_revoked_role_never_stops_the_other_accounts(acme_fleet, globex, standin):
    account, _ = acme_fleet
    office_hours(globex)
    other, _ = connect(globex, GLOBEX_ACCOUNT, per_region=1)
    iam = demo.account_client("iam", GLOBEX_ACCOUNT)
    iam.delete_role_policy(RoleName="ParkwayAccess", PolicyName="ParkwayParking")
    iam.delete_role(RoleName="ParkwayAccess")
    results = {r.account.pk: r for r in parking.run_tick(at=TUESDAY_EVENING)}
    assert results[account.pk].status == "succeeded" and results[account.pk].succeeded == 6
    assert results[other.pk].status == "failed"
    other.refresh_from_db()
    assert other.status == CloudAccount.Status.ERROR
    assert f"could not assume the role arn:aws:iam::{GLOBEX_ACCOUNT}:role/ParkwayAccess" in other.last_error
    assert AuditEvent.objects.filter(account=other, action="parking.account_failed").count() == 1
    # A second failing tick does not repeat the audit event.
    parking.run_tick(at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    assert AuditEvent.objects.filter(account=other, action="parking.account_failed").count() == 1


def test_batches_respect_the_limit_and_bisect_around_a_bad_id(acme, standin, monkeypatch):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    ids = demo.seed_instances(ACME_ACCOUNT, "us-east-1", 7)
    ec2 = aws.client(aws.session_for(account), "ec2", "us-east-1")
    monkeypatch.setattr(executor, "BATCH_LIMIT", 4)
    standin.reset_calls()
    bad = "i-0badbadbadbadbad0"
    outcomes = executor.execute(ec2, "stop", ids[:3] + [bad] + ids[3:])
    assert not outcomes[bad].ok and outcomes[bad].code.startswith("InvalidInstanceID")
    assert all(outcomes[i].ok for i in ids)
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) == {"stopped"}
    # batch [a b c BAD] fails → [a b] ok, [c BAD] fails → [c] ok, [BAD] fails; batch [d e f g] ok.
    assert standin.calls()["ec2:StopInstances"] == 6


def test_account_level_refusal_during_stop_flags_the_account(acme, standin):
    office_hours(acme)
    describe_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id, policy=describe_only)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    demo.seed_instances(ACME_ACCOUNT, "us-east-1", 2, tags={"Schedule": "office"})
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.status == "failed" and "ec2:StopInstances" in result.error
    account.refresh_from_db()
    assert account.status == "error"
    assert ParkingRun.objects.get().status == "failed"
    assert set(Resource.objects.values_list("desired_state", flat=True)) == {""}  # retried next tick


def test_queries_per_account_do_not_grow_with_its_machines(acme, standin):
    office_hours(acme)
    small, _ = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    from tenants.models import Tenant

    other_tenant = Tenant.objects.create(name="Big", slug="big")
    office_hours(other_tenant)
    big, _ = connect(other_tenant, GLOBEX_ACCOUNT, per_region=60, regions=["us-east-1"])
    counts = {}
    for label, account in (("small", small), ("big", big)):  # 2 vs 60 machines
        for tick, at in enumerate((WEDNESDAY_MORNING, TUESDAY_EVENING + dt.timedelta(days=1))):
            with CaptureQueriesContext(connection) as queries:
                parking.park_account(account_id=account.pk, at=at)
            counts[(label, tick)] = len(queries)
    assert counts[("small", 0)] == counts[("big", 0)], counts
    assert counts[("small", 1)] == counts[("big", 1)], counts


def test_a_busy_lease_means_another_worker_has_the_account(acme_fleet):
    account, _ = acme_fleet
    lease = leases.lease_claim(account_id=account.pk)
    assert lease is not None
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.status == "busy" and not ParkingRun.objects.exists()
    assert leases.lease_release(lease)
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).status == "succeeded"


def test_dry_run_plans_and_changes_nothing(acme_fleet, standin):
    account, _ = acme_fleet
    out = io.StringIO()
    call_command("run_parking", "--at", TUESDAY_EVENING.isoformat(), "--dry-run", stdout=out)
    text = out.getvalue()
    assert ACME_ACCOUNT in text and "dry run" in text.lower()
    assert "stop" in text
    assert not Resource.objects.exists() and not ParkingRun.objects.exists()
    for region in REGIONS:
        assert set(states(ACME_ACCOUNT, region).values()) == {"running"}


def test_run_parking_prints_a_table_per_account(acme_fleet):
    out = io.StringIO()
    call_command("run_parking", "--at", TUESDAY_EVENING.isoformat(), "--account", ACME_ACCOUNT, stdout=out)
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if "planned" in line)
    assert all(word in header for word in ("account", "planned", "done", "failed", "skipped", "AWS calls"))
    row = next(line for line in lines if ACME_ACCOUNT in line)
    assert " 6 " in row and "succeeded" in row


def test_run_parking_rejects_a_bad_instant():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="ISO-8601"):
        call_command("run_parking", "--at", "tuesday evening")


@pytest.mark.parametrize("command", ["run_parking", "sync_inventory"])
@pytest.mark.parametrize("account", ["11111111111\x00", "²" * 12, "1111111111111", "111111111111\n"])
def test_parking_commands_refuse_a_malformed_account_id(command, account):
    # A NUL byte reached the query: a DataError traceback on PostgreSQL.
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="12-digit AWS account ID"):
        call_command(command, "--account", account, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"])
def test_run_parking_refuses_an_instant_at_the_ends_of_the_calendar(instant):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="outside the years"):
        call_command("run_parking", "--at", instant, stdout=io.StringIO())


def test_a_full_tick_through_django_q_in_sync_mode(acme_fleet, monkeypatch, django_capture_on_commit_callbacks):
    account, _ = acme_fleet
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.tick(TUESDAY_EVENING.isoformat()) == 1
    run = ParkingRun.objects.get(account=account)
    assert run.status == "succeeded" and run.succeeded == 6


def test_an_explicit_global_template_is_followed_even_when_the_tenant_has_one_of_the_same_name(acme, standin):
    shadowed = Schedule.objects.create(tenant=None, name="office", timezone="UTC")
    Period.objects.create(schedule=shadowed, weekdays="sat")  # stopped on a Wednesday
    office_hours(acme)  # the tenant's own "office": running on Wednesday morning
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, tag="office", regions=["us-east-1"])
    parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING)
    keep = Resource.objects.get(resource_id=ids["us-east-1"][0])
    keep.schedule = shadowed
    keep.save()
    result = parking.park_account(account_id=account.pk, at=WEDNESDAY_MORNING + dt.timedelta(minutes=5))
    assert result.planned == 1
    assert states(ACME_ACCOUNT, "us-east-1") == {keep.resource_id: "stopped", ids["us-east-1"][1]: "running"}
