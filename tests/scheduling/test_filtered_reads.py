"""Between complete inventories, EC2 is asked only for the machines a tick may
act on (scheduling.inventory `known_kinds_only`, scheduling.kinds `Scheduled`):
those carrying the schedule tag, and those assigned a schedule in Parkway.
Such a filtered read never marks a machine gone; the next complete inventory
reads everything again, unfiltered."""

from __future__ import annotations

import datetime as dt

import pytest
from moto.ec2.models import ec2_backends

from scheduling import actions, parking
from scheduling.inventory import inventory_sync
from scheduling.models import ParkingAction, ParkingLease, Resource
from tenants import aws, demo
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_due import TUESDAY_EVENING
from tests.scheduling.test_parking import connect, office_hours, states

pytestmark = pytest.mark.django_db

UTC = dt.UTC
REGION = "us-east-1"
WEDNESDAY_NINE = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WEDNESDAY_FIVE = dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
TAG_KEY = {"Filter.1.Name": "tag-key", "Filter.1.Value.1": "Schedule"}


def record_describes(standin) -> list[dict[str, str]]:
    """The parameters of every DescribeInstances the stand-in receives from now on, as sent."""
    sent: list[dict[str, str]] = []
    standin.faults.hook("ec2:DescribeInstances", lambda call: sent.append(call.params), when="before", times=None)
    return sent


def shape(params: dict[str, str]) -> dict[str, str]:
    """What a describe asked for: its filters and instance IDs (not the paging)."""
    return {k: v for k, v in params.items() if k.startswith(("Filter.", "InstanceId."))}


def old_inventory(account) -> None:
    """The last complete inventory is older than the tenant's interval: the next run reads everything."""
    ParkingLease.objects.filter(account=account).update(
        inventoried_at=ParkingLease.objects.get(account=account).inventoried_at - dt.timedelta(minutes=61)
    )


def remove_tag(instance_id: str) -> None:
    demo.account_client("ec2", ACME_ACCOUNT, REGION).delete_tags(Resources=[instance_id], Tags=[{"Key": "Schedule"}])


def vanish(instance_id: str) -> None:
    """The instance is gone from AWS altogether (terminated over an hour ago): AWS answers
    InvalidInstanceID.NotFound for its ID and leaves it out of every list."""
    for reservation in ec2_backends[ACME_ACCOUNT][REGION].reservations.values():
        reservation.instances = [i for i in reservation.instances if i.id != instance_id]


def row(instance_id: str) -> Resource:
    return Resource.objects.get(resource_id=instance_id)


@pytest.fixture
def fleet(acme, standin):
    """Two tagged machines and two untagged ones, inventoried completely by a
    first run at Tuesday 20:00 (the tagged ones stopped)."""
    schedule = office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, regions=[REGION])
    untagged = demo.seed_instances(ACME_ACCOUNT, REGION, 2)
    first = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert first.clean and first.inventoried_at is not None
    return account, schedule, ids[REGION], untagged


def assign(resource_ids: list[str], schedule, acme_member) -> None:
    for resource_id in resource_ids:
        actions.resource_assign_schedule(resource=row(resource_id), schedule=schedule, actor=acme_member)


def test_between_complete_inventories_ec2_is_asked_only_for_the_tagged_machines(fleet, standin):
    account, _, tagged, untagged = fleet
    before = {r.resource_id: r.last_seen_at for r in Resource.objects.filter(account=account)}
    sent = record_describes(standin)
    busy = parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE)
    assert busy.clean and busy.succeeded == 2
    assert [shape(p) for p in sent] == [TAG_KEY]  # no second describe: nothing is assigned
    assert busy.inventoried_at is None  # not a complete inventory
    # The untagged machines are neither returned nor written, nor marked gone.
    returned = inventory_sync(account=account, known_kinds_only=True)
    assert sorted(r.resource_id for r in returned) == sorted(tagged)
    for resource_id in untagged:
        assert (row(resource_id).last_seen_at, row(resource_id).gone_at) == (before[resource_id], None)


def test_a_complete_inventory_still_reads_every_machine_unfiltered(fleet, standin):
    account, _, tagged, untagged = fleet
    sent = record_describes(standin)
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE).clean
    assert [shape(p) for p in sent] == [TAG_KEY]
    old_inventory(account)
    sent.clear()
    complete = parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE + dt.timedelta(minutes=5))
    assert complete.clean and complete.inventoried_at is not None
    assert [shape(p) for p in sent] == [{}]
    returned = inventory_sync(account=account)
    assert sorted(r.resource_id for r in returned) == sorted(tagged + untagged)


def test_an_assigned_untagged_machine_is_parked_between_inventories(fleet, standin, acme_member):
    account, schedule, tagged, untagged = fleet
    assign(untagged[:1], schedule, acme_member)
    # The assignment asks for a complete inventory at once; it starts the day.
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE).inventoried_at is not None
    assert states(ACME_ACCOUNT, REGION)[untagged[0]] == "running"
    sent = record_describes(standin)
    evening = parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE)
    assert evening.clean and evening.inventoried_at is None
    assert [shape(p) for p in sent] == [TAG_KEY, {"InstanceId.1": untagged[0]}]
    now = states(ACME_ACCOUNT, REGION)
    assert {i: now[i] for i in tagged + untagged} == {
        tagged[0]: "stopped", tagged[1]: "stopped", untagged[0]: "stopped", untagged[1]: "running",
    }


def test_an_assigned_machine_that_lost_its_tag_still_follows_its_assignment(fleet, standin, acme_member):
    account, schedule, tagged, _ = fleet
    assign(tagged[:1], schedule, acme_member)
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE).inventoried_at is not None
    remove_tag(tagged[0])
    sent = record_describes(standin)
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE).clean
    # Its stored tag still says "office", but the tag answer did not hold it: asked by ID.
    assert [shape(p) for p in sent] == [TAG_KEY, {"InstanceId.1": tagged[0]}]
    assert states(ACME_ACCOUNT, REGION)[tagged[0]] == "stopped"


def test_a_machine_whose_tag_was_removed_between_inventories_is_left_alone(fleet, standin):
    account, _, tagged, _ = fleet
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE).succeeded == 2  # started
    remove_tag(tagged[0])
    kept = row(tagged[0])
    evening = parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE)
    assert evening.clean and evening.inventoried_at is None
    # Not seen, so not stopped by the transition; not written, not marked gone.
    assert states(ACME_ACCOUNT, REGION)[tagged[0]] == "running"
    assert states(ACME_ACCOUNT, REGION)[tagged[1]] == "stopped"
    left = row(tagged[0])
    assert (left.schedule_tag, left.last_seen_at, left.gone_at) == ("office", kept.last_seen_at, None)
    # The next complete inventory settles it: untagged, still there, still running.
    old_inventory(account)
    later = parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE + dt.timedelta(minutes=5))
    assert later.clean and later.inventoried_at is not None
    settled = row(tagged[0])
    assert (settled.schedule_tag, settled.gone_at, settled.state) == ("", None, "running")
    assert states(ACME_ACCOUNT, REGION)[tagged[0]] == "running"


def test_an_assigned_machine_gone_from_aws_between_inventories_does_not_fail_the_run(fleet, standin, acme_member):
    account, schedule, _, untagged = fleet
    assign(untagged, schedule, acme_member)
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE).inventoried_at is not None
    vanish(untagged[0])
    sent = record_describes(standin)
    evening = parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE)
    assert evening.status == "succeeded" and evening.clean, evening.error
    # By ID, AWS refuses the whole call for the missing one; the instance-id
    # filter leaves it out and answers for the rest.
    first, second = sorted(untagged)
    assert [shape(p) for p in sent] == [
        TAG_KEY,
        {"InstanceId.1": first, "InstanceId.2": second},
        {"Filter.1.Name": "instance-id", "Filter.1.Value.1": first, "Filter.1.Value.2": second},
    ]
    assert states(ACME_ACCOUNT, REGION)[untagged[1]] == "stopped"
    assert row(untagged[0]).gone_at is None  # a filtered read marks nothing gone
    old_inventory(account)
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE + dt.timedelta(minutes=5)).clean
    assert row(untagged[0]).gone_at is not None  # the complete inventory does


def test_a_pending_action_is_settled_from_a_complete_read(fleet, standin, settings, acme_member):
    """"Park now" on an untagged, unassigned machine whose answer was lost: the
    next run must see that machine to settle the action, so it reads everything."""
    account, _, _, untagged = fleet
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    aws.clear_session_cache()
    fault = standin.faults.lose_response("ec2:StopInstances", times=None, account_id=ACME_ACCOUNT)
    actions.resources_act_now(resources=[row(untagged[0])], action="stop", actor=acme_member)
    standin.faults.remove(fault)
    (pending,) = ParkingAction.objects.filter(outcome=ParkingAction.Outcome.PENDING)
    sent = record_describes(standin)
    run = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))
    pending.refresh_from_db()
    assert pending.outcome == ParkingAction.Outcome.SUCCEEDED, pending.error_message
    assert run.inventoried_at is not None and [shape(p) for p in sent] == [{}]


def test_a_snoozed_untagged_machine_is_still_read_and_held_between_inventories(fleet, standin):
    from scheduling.models import Override

    account, _, _, untagged = fleet
    assert parking.park_account(account_id=account.pk, at=WEDNESDAY_NINE).clean
    # A snooze made without telling the due-work rule (no complete read asked for).
    row = Resource.objects.get(resource_id=untagged[0])
    Override.objects.create(resource=row, state="stopped", until=WEDNESDAY_FIVE + dt.timedelta(hours=2))
    sent = record_describes(standin)
    evening = parking.park_account(account_id=account.pk, at=WEDNESDAY_FIVE)
    assert evening.clean and evening.inventoried_at is None
    # Neither tagged nor assigned, but snoozed: asked by ID, and the snooze is held.
    assert [shape(p) for p in sent] == [TAG_KEY, {"InstanceId.1": untagged[0]}]
    assert states(ACME_ACCOUNT, REGION)[untagged[0]] == "stopped"
