"""RDS databases, Aurora clusters and Auto Scaling groups parked end to end
through the AWS stand-in, beside EC2: inventory, refusals with their reasons,
actions, exact restores, missing permissions, AWS's 7-day restart."""

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
import time_machine

from scheduling import parking, resolver
from scheduling.actions import resources_act_now
from scheduling.models import ParkingAction, Period, Resource, Schedule
from tenants import demo, onboarding, services
from tenants.models import AuditEvent
from tenants.verification import account_verify
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
REGION = "us-east-1"
TUESDAY_18 = dt.datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
WEDNESDAY_09 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
OFFICE = {"Schedule": "office"}


def office_hours(tenant, **options):
    schedule = Schedule.objects.create(tenant=tenant, name="office", timezone="UTC", **options)
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(18), weekdays="mon-fri")
    return schedule


def connect(tenant, *, policy=None):
    demo.seed_role(
        ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id,
        policy=policy,
    )
    account = services.account_connect_role(tenant=tenant, account_id=ACME_ACCOUNT, regions=[REGION], actor="cli")
    assert account_verify(account=account, actor="cli").ok
    account.refresh_from_db()
    return account


def seed_fleet():
    (instance,) = demo.seed_instances(ACME_ACCOUNT, REGION, 1, tags=OFFICE)
    demo.seed_database(ACME_ACCOUNT, REGION, "orders", tags=OFFICE)
    members = demo.seed_cluster(ACME_ACCOUNT, REGION, "analytics", tags=OFFICE, member_tags=OFFICE)
    demo.seed_database(ACME_ACCOUNT, REGION, "ledger")  # not scheduled: its replica is
    demo.seed_database(ACME_ACCOUNT, REGION, "ledger-replica", replica_of="ledger", tags=OFFICE)
    demo.seed_group(ACME_ACCOUNT, REGION, "web", min_size=1, desired=2, max_size=4, tags=OFFICE)
    return instance, members


def rds_status():
    rds = demo.account_client("rds", ACME_ACCOUNT, REGION)
    found = {d["DBInstanceIdentifier"]: d["DBInstanceStatus"] for d in rds.describe_db_instances()["DBInstances"]}
    found |= {f"cluster:{c['DBClusterIdentifier']}": c["Status"] for c in rds.describe_db_clusters()["DBClusters"]}
    return found


def group():
    asg = demo.account_client("autoscaling", ACME_ACCOUNT, REGION)
    (found,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    return found


def sizes(found):
    return (found["MinSize"], found["DesiredCapacity"], found["MaxSize"])


def ec2_state(instance_id):
    ec2 = demo.account_client("ec2", ACME_ACCOUNT, REGION)
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_office_hours_park_every_kind_at_18_and_restore_them_exactly_at_9(acme, standin):
    office_hours(acme)
    account = connect(acme)
    instance, members = seed_fleet()

    evening = parking.park_account(account_id=account.pk, at=TUESDAY_18)

    assert evening.status == "succeeded", evening.error
    assert ec2_state(instance) in ("stopping", "stopped")
    status = rds_status()
    assert status["orders"] == "stopped" and status["cluster:analytics"] == "stopped"
    assert status["ledger-replica"] == "available" and status["ledger"] == "available"
    assert all(status[m] == "available" for m in members)
    parked = group()
    assert sizes(parked) == (0, 0, 0)
    assert {t["Key"]: t["Value"] for t in parked["Tags"]}["parkway:sizes"] == "1/2/4"
    web = Resource.objects.get(kind=Resource.Kind.AUTOSCALING_GROUP, resource_id="web")
    assert web.saved_sizes == {"min": 1, "desired": 2, "max": 4} and web.sizes_label == "0/0/0"

    # The fewest calls: one describe per kind, one call per database, one update (and the sizes tag) per group.
    assert evening.aws_calls == {
        "AssumeRole": 1, "DescribeInstances": 1, "DescribeDBInstances": 1, "DescribeDBClusters": 1, "DescribeAutoScalingGroups": 1,
        "StopInstances": 1, "StopDBInstance": 1, "StopDBCluster": 1, "CreateOrUpdateTags": 1,
        "UpdateAutoScalingGroup": 1,
    }

    # The refused ones are untouched, with their reasons, on every page and in the history.
    said = resolver.resources_explain(Resource.objects.select_related("account"), at=TUESDAY_18)
    by_id = {e.resource.resource_id: e for e in said.values()}
    assert "read replica of ledger: AWS cannot stop a read replica" in by_id["ledger-replica"].reason
    for member in members:
        assert "member of DB cluster analytics: parked with its cluster, never alone" in by_id[member].reason
    assert "has read replicas" in by_id["ledger"].reason  # and it is not scheduled
    skipped = dict(ParkingAction.objects.filter(action="skip").values_list("resource__resource_id", "reason"))
    assert set(skipped) >= {"ledger-replica", *members}
    stopped = set(ParkingAction.objects.filter(action="stop", outcome="succeeded").values_list("resource__resource_id", flat=True))
    assert stopped == {instance, "orders", "analytics", "web"}

    standin.reset_calls()
    morning = parking.park_account(account_id=account.pk, at=WEDNESDAY_09)

    assert morning.status == "succeeded", morning.error
    assert ec2_state(instance) in ("pending", "running")
    status = rds_status()
    assert status["orders"] == "available" and status["cluster:analytics"] == "available"
    assert sizes(group()) == (1, 2, 4)
    assert morning.aws_calls == {
        "DescribeInstances": 1, "DescribeDBInstances": 1, "DescribeDBClusters": 1, "DescribeAutoScalingGroups": 1,
        "StartInstances": 1, "StartDBInstance": 1, "StartDBCluster": 1, "UpdateAutoScalingGroup": 1,
    }
    web.refresh_from_db()
    assert web.saved_sizes is None and web.sizes_label == "1/2/4"


def test_a_group_restores_from_its_tag_when_our_row_forgot_the_sizes(acme, standin):
    office_hours(acme)
    account = connect(acme)
    demo.seed_group(ACME_ACCOUNT, REGION, "web", min_size=1, desired=2, max_size=4, tags=OFFICE)
    parking.park_account(account_id=account.pk, at=TUESDAY_18)
    Resource.objects.filter(resource_id="web").update(saved_sizes=None)  # our copy lost

    parking.park_account(account_id=account.pk, at=WEDNESDAY_09)

    assert sizes(group()) == (1, 2, 4)


def test_a_group_at_zero_with_no_stored_sizes_is_refused_with_the_reason(acme, standin):
    office_hours(acme)
    account = connect(acme)
    demo.seed_group(ACME_ACCOUNT, REGION, "web", min_size=0, desired=0, max_size=0, tags=OFFICE)

    result = parking.park_account(account_id=account.pk, at=WEDNESDAY_09)

    assert result.planned == 0 and sizes(group()) == (0, 0, 0)
    (explained,) = resolver.resources_explain(
        Resource.objects.filter(resource_id="web").select_related("account"), at=WEDNESDAY_09
    ).values()
    assert explained.action == "skip" and "no sizes stored by Parkway" in explained.reason


def test_suspend_mode_suspends_the_group_and_stops_its_instances_then_resumes(acme, standin):
    office_hours(acme, asg_mode=Schedule.AsgMode.SUSPEND)
    account = connect(acme)
    demo.seed_group(ACME_ACCOUNT, REGION, "web", min_size=1, desired=2, max_size=4, tags=OFFICE)
    members = [i["InstanceId"] for i in group()["Instances"]]
    assert len(members) == 2

    evening = parking.park_account(account_id=account.pk, at=TUESDAY_18)

    assert evening.status == "succeeded", evening.error
    suspended = group()
    assert sizes(suspended) == (1, 2, 4)  # nothing scaled: the instances keep their disks
    assert {p["ProcessName"] for p in suspended["SuspendedProcesses"]} >= {"Launch", "Terminate", "HealthCheck"}
    assert {ec2_state(i) for i in members} <= {"stopping", "stopped"}
    # Its instances are members of the group: never stopped one by one by the tick itself.
    assert not ParkingAction.objects.filter(action="stop", resource__kind="ec2_instance").exists()

    morning = parking.park_account(account_id=account.pk, at=WEDNESDAY_09)

    assert morning.status == "succeeded", morning.error
    assert group()["SuspendedProcesses"] == []
    assert {ec2_state(i) for i in members} <= {"pending", "running"}


def test_a_role_without_rds_permissions_parks_ec2_and_reports_the_gap_once(acme, standin):
    office_hours(acme)
    policy = onboarding.permission_policy(partition="aws")
    policy["Statement"] = [
        {**s, "Action": [a for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]) if not a.startswith("rds:")]}
        for s in policy["Statement"]
        if s["Sid"] != "ParkwayStartStopDatabases"
    ]
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id, policy=policy)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=[REGION], actor="cli")
    (instance,) = demo.seed_instances(ACME_ACCOUNT, REGION, 1, tags=OFFICE)
    demo.seed_database(ACME_ACCOUNT, REGION, "orders", tags=OFFICE)

    first = parking.park_account(account_id=account.pk, at=TUESDAY_18)
    second = parking.park_account(account_id=account.pk, at=TUESDAY_18 + dt.timedelta(minutes=5))

    assert first.status == "succeeded", first.error
    assert ec2_state(instance) in ("stopping", "stopped")
    assert rds_status()["orders"] == "available"
    account.refresh_from_db()
    assert account.status == "connected" and account.last_error == ""
    assert account.kind_access["rds"]["level"] == "none"
    assert "rds:DescribeDBInstances" in account.kind_access["rds"]["missing"]
    assert AuditEvent.objects.filter(account=account, action="account.permission_missing").count() == 1
    assert "DescribeDBInstances" not in second.aws_calls  # not asked again every tick

    # The connection test says per kind what the role allows, and stays green for EC2.
    result = account_verify(account=account, actor="cli")
    assert result.ok
    assert "EC2: park; RDS: no access — add rds:DescribeDBInstances" in result.message
    assert "Auto Scaling: park" in result.message


def test_the_connection_test_tells_a_read_only_kind_what_to_add(acme, standin):
    policy = onboarding.permission_policy(partition="aws")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "ParkwayStartStopDatabases"]
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id, policy=policy)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=[REGION], actor="cli")

    result = account_verify(account=account, actor="cli")

    assert result.ok
    assert ("RDS: read only — add rds:StartDBInstance, rds:StopDBInstance, rds:StartDBCluster, rds:StopDBCluster "
            "to park databases") in result.message
    account.refresh_from_db()
    assert account.kind_access["rds"]["level"] == "read" and account.kind_access["autoscaling"]["level"] == "park"


def test_aws_restarting_a_database_after_7_days_is_noticed_explained_and_stopped_again(acme, standin):
    office_hours(acme, override_status=Schedule.Override.STOPPED)  # always stopped, not enforced
    account = connect(acme)
    demo.seed_database(ACME_ACCOUNT, REGION, "orders", tags=OFFICE)
    rds = demo.account_client("rds", ACME_ACCOUNT, REGION)
    start = dt.datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        parking.park_account(account_id=account.pk)
    assert rds_status()["orders"] == "stopped"

    later = start + dt.timedelta(days=7, minutes=5)
    with time_machine.travel(later, tick=False):
        rds.start_db_instance(DBInstanceIdentifier="orders")  # AWS's own start, 7 days on
        parking.inventory_sync(account=account)
        (explained,) = resolver.resources_explain(
            Resource.objects.filter(resource_id="orders").select_related("account"), at=later
        ).values()
        assert explained.action == "stop"
        assert "AWS restarted it after 7 days stopped; stopped again" in explained.reason
        result = parking.park_account(account_id=account.pk)

    assert result.status == "succeeded" and result.succeeded == 1
    assert rds_status()["orders"] == "stopped"
    (action,) = ParkingAction.objects.filter(action="stop", outcome="succeeded", run=result.run)
    assert "AWS restarted it after 7 days stopped" in action.reason
    assert Resource.objects.get(resource_id="orders").parked_at == later

    # A person's start within the 7 days is theirs: respected, and not taken
    # for AWS's restart once the 7 days are over.
    with time_machine.travel(later + dt.timedelta(days=1), tick=False):
        rds.start_db_instance(DBInstanceIdentifier="orders")
        assert parking.park_account(account_id=account.pk).planned == 0
    with time_machine.travel(later + dt.timedelta(days=9), tick=False):
        assert parking.park_account(account_id=account.pk).planned == 0
    assert rds_status()["orders"] == "available"


def test_a_stop_aws_never_answered_is_confirmed_from_the_database_state_not_repeated(acme, standin, settings):
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    office_hours(acme)
    account = connect(acme)
    demo.seed_database(ACME_ACCOUNT, REGION, "orders", tags=OFFICE)
    standin.faults.lose_response("rds:StopDBInstance", how=503)

    first = parking.park_account(account_id=account.pk, at=TUESDAY_18)
    assert first.unconfirmed == 1
    assert ParkingAction.objects.get(action="stop").outcome == "pending"
    assert rds_status()["orders"] == "stopped"  # AWS did act

    second = parking.park_account(account_id=account.pk, at=TUESDAY_18 + dt.timedelta(minutes=5))

    assert "StopDBInstance" not in second.aws_calls
    action = ParkingAction.objects.get(action="stop")
    assert action.outcome == "succeeded" and "confirmed from AWS" in action.error_message
    orders = Resource.objects.get(resource_id="orders")
    assert orders.desired_state == "stopped" and orders.parked_at is not None


def test_park_now_refuses_a_read_replica_without_calling_aws(acme, standin, acme_member):
    account = connect(acme)
    demo.seed_database(ACME_ACCOUNT, REGION, "ledger")
    demo.seed_database(ACME_ACCOUNT, REGION, "ledger-replica", replica_of="ledger")
    parking.inventory_sync(account=account)
    replica = Resource.objects.select_related("account__tenant").get(resource_id="ledger-replica")

    report = resources_act_now(resources=[replica], action="stop", actor=acme_member)

    assert report.failed == [("ledger-replica", "read replica of ledger: AWS cannot stop a read replica")]
    assert not ParkingAction.objects.exists()


def test_explain_resource_takes_a_database_identifier_or_a_group_name(acme, standin):
    office_hours(acme)
    account = connect(acme)
    demo.seed_cluster(ACME_ACCOUNT, REGION, "analytics", members=1, tags=OFFICE)
    demo.seed_group(ACME_ACCOUNT, REGION, "web", tags=OFFICE)
    parking.inventory_sync(account=account)

    out = io.StringIO()
    call_command("explain_resource", "analytics-1", "--at", TUESDAY_18.isoformat(), stdout=out)
    assert "RDS database analytics-1" in out.getvalue()
    assert "cannot be parked: member of DB cluster analytics" in out.getvalue()
    out = io.StringIO()
    call_command("explain_resource", "web", "--at", TUESDAY_18.isoformat(), "--json", stdout=out)
    said = json.loads(out.getvalue())
    assert (said["kind"], said["action"]) == ("autoscaling_group", "stop")
    assert said["reason"] == "schedule office: first seen outside its period"


def test_lists_show_kind_class_and_sizes_and_filter_by_kind(acme, standin, acme_member, client, staff):
    office_hours(acme)
    account = connect(acme)
    demo.seed_instances(ACME_ACCOUNT, REGION, 1, tags=OFFICE)
    demo.seed_database(ACME_ACCOUNT, REGION, "orders", engine="postgres", instance_class="db.t3.medium", tags=OFFICE)
    demo.seed_group(ACME_ACCOUNT, REGION, "web", tags=OFFICE)
    parking.inventory_sync(account=account)
    client.force_login(acme_member)

    page = client.get("/app/resources/", {"kind": "rds_instance"}).content.decode()
    assert "orders" in page and "db.t3.medium · postgres" in page and "RDS database" in page
    assert 'data-resource-id="web"' not in page
    page = client.get("/app/resources/", {"kind": "autoscaling_group"}).content.decode()
    assert 'data-resource-id="web"' in page and "1/2/4 (min/desired/max)" in page
    detail = client.get(f"/app/resources/{Resource.objects.get(resource_id='web').pk}/").content.decode()
    assert "1/2/4 (min/desired/max)" in detail

    account_page = client.get(f"/app/accounts/{account.pk}/").content.decode()
    assert "EC2: park; RDS: park; Auto Scaling: park." in account_page

    client.force_login(staff)
    admin_page = client.get("/admin/scheduling/resource/", {"kind__exact": "autoscaling_group"}).content.decode()
    assert "web" in admin_page and "1/2/4 (min/desired/max)" in admin_page and "orders" not in admin_page


# --- Queries per account stay flat when every database is its own AWS call --------


def _small_and_big_fleets(acme):
    """acme: 2 databases and 1 group; globex: 105 databases (two RDS pages) and 6 groups."""
    from tests.conftest import GLOBEX_ACCOUNT
    from tenants.models import Tenant

    accounts = {}
    for label, tenant, account_id, databases, groups in (
        ("small", acme, ACME_ACCOUNT, 2, 1),
        ("big", Tenant.objects.create(name="Globex", slug="globex-big"), GLOBEX_ACCOUNT, 105, 6),
    ):
        office_hours(tenant)
        demo.seed_role(account_id, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id)
        accounts[label] = services.account_connect_role(tenant=tenant, account_id=account_id, regions=[REGION], actor="cli")
        for n in range(databases):
            demo.seed_database(account_id, REGION, f"db-{n}", tags=OFFICE)
        for n in range(groups):
            demo.seed_group(account_id, REGION, f"web-{n}", min_size=1, desired=1, max_size=2, tags=OFFICE)
    return accounts


def test_queries_per_account_do_not_grow_with_its_databases_and_groups(acme, standin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    accounts = _small_and_big_fleets(acme)
    counts = {}
    for label, account in accounts.items():
        for tick, at in enumerate((TUESDAY_18, WEDNESDAY_09)):
            with CaptureQueriesContext(connection) as queries:
                result = parking.park_account(account_id=account.pk, at=at)
            assert result.status == "succeeded" and result.succeeded > 0, (label, tick, result.error)
            counts[(label, tick)] = len(queries)
    big_calls = result.aws_calls
    assert big_calls.get("StartDBInstance") == 105 and big_calls.get("UpdateAutoScalingGroup") == 6, big_calls
    assert counts[("small", 0)] == counts[("big", 0)], counts
    assert counts[("small", 1)] == counts[("big", 1)], counts


def test_a_long_batch_renews_its_lease_again_and_stops_once_it_is_lost(acme, standin):
    """The renewal at the start of a batch covers the next RENEW_WITHIN_SECONDS;
    a call made later renews again, and finds out when the lease was taken."""
    from scheduling import leases, recording
    from scheduling.models import ParkingLease, ParkingRun
    from tenants import aws

    accounts = _small_and_big_fleets(acme)
    account = accounts["small"]
    parking.inventory_sync(account=account)
    databases = list(Resource.objects.filter(account=account, kind="rds_instance").order_by("resource_id"))
    lease = leases.lease_claim(account_id=account.pk)
    run = ParkingRun.objects.create(account=account, tick_at=TUESDAY_18, started_at=TUESDAY_18)
    session = aws.session_for(account)

    def slow_first_stop(**kwargs):
        # The first database's stop takes longer than a renewal covers, and
        # meanwhile the lease passes to another worker.
        ParkingLease.objects.filter(account=account).update(until=dt.datetime(2001, 1, 1, tzinfo=UTC))
        assert leases.lease_claim(account_id=account.pk) is not None
        lease.renewed_at -= leases.RENEW_WITHIN_SECONDS

    rds = aws.client(session, "rds", REGION)  # the client parking uses (cached per session)
    rds.meta.events.register("after-call.rds.StopDBInstance", slow_first_stop, unique_id="test-slow-first-stop")
    standin.reset_calls()
    with pytest.raises(leases.LeaseLost):
        recording.act_and_record(
            run=run, lease=lease, action="stop",
            intents=[recording.Intent(resource=r, reason="test", desired="stopped") for r in databases],
            clients=lambda service: aws.client(session, service, REGION),
        )
    rds.meta.events.unregister("after-call.rds.StopDBInstance", unique_id="test-slow-first-stop")
    assert standin.calls()["rds:StopDBInstance"] == 1
    assert rds_status() == {"db-0": "stopped", "db-1": "available"}


def test_a_database_describe_that_keeps_failing_sits_out_the_tick_and_ec2_is_parked(acme, standin):
    office_hours(acme)
    account = connect(acme)
    (instance,) = demo.seed_instances(ACME_ACCOUNT, REGION, 1, tags=OFFICE)
    demo.seed_database(ACME_ACCOUNT, REGION, "orders", tags=OFFICE)
    parking.inventory_sync(account=account)
    standin.faults.throttle("rds:DescribeDBInstances", times=None, account_id=ACME_ACCOUNT)

    result = parking.park_account(account_id=account.pk, at=TUESDAY_18)

    assert result.status == "partial"
    assert "RDS databases in us-east-1 not read" in result.error
    assert ec2_state(instance) in ("stopping", "stopped")
    standin.faults.clear()
    assert rds_status()["orders"] == "available"
    orders = Resource.objects.get(resource_id="orders")
    assert orders.gone_at is None  # not read is not gone
    account.refresh_from_db()
    assert account.status == "connected"  # the account is not flagged for a kind's bad minute
    assert result.run is not None and result.run.__class__.objects.get(pk=result.run.pk).status == "partial"
