"""One truth per machine: the resolver every page and command asks is what the tick does."""

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
import time_machine
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from scheduling import parking, resolver
from scheduling.models import Override, Resource, Schedule
from scheduling.periods import compile_spec
from tenants import demo
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours

pytestmark = pytest.mark.django_db
UTC = dt.UTC


# --- next_change: the first instant the wanted state differs ----------------------

times = st.integers(min_value=0, max_value=23 * 60 + 59).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
period = st.fixed_dictionaries({
    "begintime": st.one_of(st.none(), times),
    "endtime": st.one_of(st.none(), times),
    "weekdays": st.sampled_from([None, "mon-fri", "sat,sun", "wed", "fri"]),
}).filter(lambda p: any(p.values()) and (p["begintime"] is None or p["begintime"] != p["endtime"]))


@hsettings(max_examples=60, deadline=None, derandomize=True)
@given(
    periods=st.lists(period, min_size=1, max_size=3),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    start=st.integers(min_value=0, max_value=7 * 24 * 60 - 1),
)
def test_next_change_is_the_first_minute_whose_wanted_state_differs(periods, zone, start):
    schedule = compile_spec({"timezone": zone, "periods": periods})
    at = dt.datetime(2026, 3, 23, tzinfo=UTC) + dt.timedelta(minutes=start, seconds=30)  # spans a DST change
    now_state = schedule.desired_state(at)
    expected = None
    instant = at.replace(second=0) + dt.timedelta(minutes=1)
    for _ in range(3 * 24 * 60):
        if schedule.desired_state(instant) != now_state:
            expected = (instant, schedule.desired_state(instant))
            break
        instant += dt.timedelta(minutes=1)
    found = schedule.next_change(at)
    if expected is None:
        assert found is None or found[0] > at + dt.timedelta(days=3)
    else:
        assert found == expected


# --- the resolver and the tick agree ------------------------------------------------

@pytest.fixture
def fleet(acme, standin):
    office = office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=6, regions=["us-east-1"])
    parking.inventory_sync(account=account)
    return account, office, ids["us-east-1"]


@hsettings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    enforced=st.booleans(),
    retain=st.booleans(),
    stop_new=st.booleans(),
    hour=st.integers(min_value=0, max_value=23),
    stored=st.lists(st.sampled_from(["", "running", "stopped"]), min_size=6, max_size=6),
    stopped=st.lists(st.booleans(), min_size=6, max_size=6),
    snoozes=st.lists(st.sampled_from([None, "running", "stopped"]), min_size=6, max_size=6),
    retained=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_the_resolver_says_exactly_what_the_tick_does(fleet, enforced, retain, stop_new, hour, stored, stopped, snoozes, retained):
    account, office, ids = fleet
    Schedule.objects.filter(pk=office.pk).update(enforced=enforced, retain_running=retain, stop_new_instances=stop_new)
    at = dt.datetime(2026, 11, 24, hour, 30, tzinfo=UTC)
    ec2 = demo.account_client("ec2", ACME_ACCOUNT, "us-east-1")
    Override.objects.all().delete()
    for instance_id, desired, stop, snooze, keep in zip(ids, stored, stopped, snoozes, retained, strict=True):
        if stop:
            ec2.stop_instances(InstanceIds=[instance_id])
        else:
            ec2.start_instances(InstanceIds=[instance_id])
        Resource.objects.filter(resource_id=instance_id).update(desired_state=desired, retained_running=keep)
        if snooze:
            Override.objects.create(resource=Resource.objects.get(resource_id=instance_id), state=snooze,
                                    until=at + dt.timedelta(hours=1))
    parking.inventory_sync(account=account)

    resources = list(Resource.objects.filter(account=account).select_related("account"))
    said = {e.resource.resource_id: e.action for e in resolver.resources_explain(resources, at=at).values()}
    tick = parking.park_account(account_id=account.pk, at=at, dry_run=True)
    done = {r.resource_id: d.action or "none" for r, d in tick.decisions}
    assert said == {rid: done.get(rid, "none") for rid in said}


def test_pages_ask_the_resolver_in_two_queries_whatever_the_fleet(fleet):
    account, office, ids = fleet
    few = list(Resource.objects.filter(account=account).select_related("account")[:2])
    many = list(Resource.objects.filter(account=account).select_related("account"))
    with CaptureQueriesContext(connection) as small:
        resolver.resources_explain(few, at=TUESDAY_EVENING)
    with CaptureQueriesContext(connection) as big:
        resolver.resources_explain(many, at=TUESDAY_EVENING)
    assert len(small) == len(big) == 2  # schedules with their periods (one join), snoozes


# --- explain_resource, for each class of reason -----------------------------------------

def explain(*args) -> dict:
    out = io.StringIO()
    call_command("explain_resource", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_explain_resource_json_names_schedule_action_and_next_change(fleet):
    account, office, ids = fleet
    data = explain(ids[0], "--at", TUESDAY_EVENING.isoformat())
    assert data["resource_id"] == ids[0] and data["state"] == "running"
    assert (data["schedule"], data["schedule_source"], data["desired"], data["action"]) == ("office", "tag", "stopped", "stop")
    assert data["override"] is None
    assert data["next_change"] == {
        "at": "2026-11-25T09:00:00+00:00", "state": "running", "local": "2026-11-25T09:00:00+00:00", "timezone": "UTC",
    }
    # The same by Parkway's own number.
    assert explain(str(Resource.objects.get(resource_id=ids[0]).pk), "--at", TUESDAY_EVENING.isoformat()) == data


def test_explain_resource_for_a_snooze_a_missing_schedule_and_a_manual_start(fleet, staff):
    account, office, ids = fleet
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)  # all stopped, stored "stopped"
    parking.inventory_sync(account=account)
    snoozed = Resource.objects.get(resource_id=ids[0])
    Override.objects.create(resource=snoozed, state="running", until=TUESDAY_EVENING + dt.timedelta(hours=2),
                            created_by_label="alice", reason="release night")
    data = explain(ids[0], "--at", TUESDAY_EVENING.isoformat())
    assert data["action"] == "start" and data["override"]["state"] == "running"
    assert "snoozed by alice" in data["reason"] and "release night" in data["reason"]
    assert data["next_change"]["at"] == "2026-11-24T22:00:00+00:00"

    Resource.objects.filter(resource_id=ids[1]).update(schedule_tag="nosuch")
    data = explain(ids[1], "--at", TUESDAY_EVENING.isoformat())
    assert (data["schedule"], data["schedule_source"], data["action"]) == (None, "none", "none")
    assert data["reason"] == "its tag names a schedule 'nosuch' that does not exist"

    demo.account_client("ec2", ACME_ACCOUNT, "us-east-1").start_instances(InstanceIds=[ids[2]])
    parking.inventory_sync(account=account)
    data = explain(ids[2], "--at", (TUESDAY_EVENING + dt.timedelta(minutes=30)).isoformat())
    assert data["action"] == "none" and "started by hand at" in data["reason"]
    assert "not enforced" in data["reason"] and "(running at Wed 2026-11-25 09:00 UTC)" in data["reason"]


def test_explain_resource_refuses_unknown_and_hostile_ids(fleet):
    for bad in ("", "999999", "i-doesnotexist", "x" * 500, "²"):
        with pytest.raises(CommandError):
            call_command("explain_resource", bad)
    with pytest.raises(CommandError):
        call_command("explain_resource", "1", "--at", "yesterday")


# --- the same promise for databases, clusters and Auto Scaling groups -----------------

MIXED = ["orders", "analytics", "analytics-1", "ledger", "ledger-replica", "web"]


@pytest.fixture
def mixed_fleet(acme, standin):
    office = office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    tags = {"Schedule": "office"}
    demo.seed_database(ACME_ACCOUNT, "us-east-1", "orders", tags=tags)
    demo.seed_cluster(ACME_ACCOUNT, "us-east-1", "analytics", members=1, tags=tags, member_tags=tags)
    demo.seed_database(ACME_ACCOUNT, "us-east-1", "ledger", tags=tags)
    demo.seed_database(ACME_ACCOUNT, "us-east-1", "ledger-replica", replica_of="ledger", tags=tags)
    demo.seed_group(ACME_ACCOUNT, "us-east-1", "web", tags=tags)
    parking.inventory_sync(account=account)
    return account, office


@hsettings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    enforced=st.booleans(),
    hour=st.integers(min_value=0, max_value=23),
    stored=st.lists(st.sampled_from(["", "running", "stopped"]), min_size=6, max_size=6),
    stopped=st.lists(st.booleans(), min_size=6, max_size=6),
    snoozes=st.lists(st.sampled_from([None, "running", "stopped"]), min_size=6, max_size=6),
    parked_long_ago=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_the_resolver_says_what_the_tick_does_for_every_kind(mixed_fleet, enforced, hour, stored, stopped, snoozes, parked_long_ago):
    account, office = mixed_fleet
    Schedule.objects.filter(pk=office.pk).update(enforced=enforced)
    at = dt.datetime(2026, 11, 24, hour, 30, tzinfo=UTC)
    rds = demo.account_client("rds", ACME_ACCOUNT, "us-east-1")
    groups = demo.account_client("autoscaling", ACME_ACCOUNT, "us-east-1")
    Override.objects.all().delete()
    for name, desired, stop, snooze, long_ago in zip(MIXED, stored, stopped, snoozes, parked_long_ago, strict=True):
        if name == "web":
            sizes = (0, 0, 0) if stop else (1, 2, 4)
            groups.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=sizes[0], DesiredCapacity=sizes[1], MaxSize=sizes[2])
        elif name == "analytics":
            status = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["Status"]
            if stop and status == "available":
                rds.stop_db_cluster(DBClusterIdentifier=name)
            elif not stop and status == "stopped":
                rds.start_db_cluster(DBClusterIdentifier=name)
        elif name == "orders":
            status = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"]
            if stop and status == "available":
                rds.stop_db_instance(DBInstanceIdentifier=name)
            elif not stop and status == "stopped":
                rds.start_db_instance(DBInstanceIdentifier=name)
        row = Resource.objects.filter(resource_id=name)
        row.update(desired_state=desired, parked_at=at - dt.timedelta(days=8) if long_ago else None,
                   saved_sizes={"min": 1, "desired": 2, "max": 4} if name == "web" else None)
        if snooze:
            Override.objects.create(resource=row.get(), state=snooze, until=at + dt.timedelta(hours=1))
    with time_machine.travel(at, tick=False):
        parking.inventory_sync(account=account)
        resources = list(Resource.objects.filter(account=account).select_related("account"))
        said = {e.resource.resource_id: e.action for e in resolver.resources_explain(resources, at=at).values()}
        tick = parking.park_account(account_id=account.pk, at=at, dry_run=True)
    done = {r.resource_id: d.action or "none" for r, d in tick.decisions}
    assert said == {rid: done.get(rid, "none") for rid in said}
    # What AWS cannot stop is never started or stopped, whatever the schedule or snooze.
    assert said["ledger-replica"] in ("skip", "none") and said["analytics-1"] in ("skip", "none")
