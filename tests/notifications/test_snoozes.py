"""Snoozes set and ended, told to the channels that chose them: one message per
action and tenant; an end told once, whether cancelled or run out (by the tick)."""

from __future__ import annotations

import functools

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from notifications import services, snoozes
from scheduling import tasks
from scheduling.actions import override_clear, override_create
from scheduling.models import Override
from tests.notifications.conftest import deliveries
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.selfservice.conftest import make_account, make_resources, office_hours

pytestmark = pytest.mark.django_db

# Tuesday 24 November 2026, 16:00 UTC: inside acme's office hours (09:00-17:00 UTC).
AFTERNOON = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


told = functools.partial(deliveries, event="snoozes")


@pytest.fixture
def machines(acme):
    services.channel_create(tenant=acme, kind="email", name="ops", target="ops@acme.test", events=["snoozes"], actor="cli")
    office = office_hours(acme)
    return make_resources(make_account(acme, ACME_ACCOUNT), 3, schedule=office, desired_state="running")


@pytest.fixture
def afternoon():
    with time_machine.travel(AFTERNOON, tick=False):
        yield AFTERNOON


def test_a_snooze_set_by_a_person_is_told(machines, acme, acme_member, afternoon):
    override_create(resource=machines[0], state="running", until=AFTERNOON + 3 * HOUR, actor=acme_member, reason="demo")
    (message,) = told(acme)
    assert message.message["title"] == "Parkway · Acme: 1 machine snoozed by alice"
    assert message.message["lines"] == [
        f"web-0 ({machines[0].resource_id}, acme prod): keep running until Tue 2026-11-24 19:00 UTC (demo)"
    ]
    (entry,) = message.message["data"]["snoozes"]
    assert (message.message["data"]["action"], entry["state"], entry["by"]) == ("set", "running", "alice")


def test_snoozing_a_selection_is_one_message(machines, acme, acme_member, client, afternoon):
    client.force_login(acme_member)
    response = client.post(reverse("scheduling:resource_bulk"), {
        "action": "snooze", "hours": "2", "resource": [m.pk for m in machines], "confirm": "1",
    })
    assert response.status_code == 302
    (message,) = told(acme)
    assert len(message.message["data"]["snoozes"]) == 3 and "3 machines snoozed" in message.message["title"]


def test_the_admin_snoozes_and_cancels_a_selection_in_one_message_each(machines, acme, staff_client, afternoon):
    url = reverse("admin:scheduling_resource_changelist")
    staff_client.post(url, {"action": "snooze_two_hours", "_selected_action": [m.pk for m in machines[:2]]})
    staff_client.post(url, {"action": "clear_snooze", "_selected_action": [m.pk for m in machines[:2]]})
    set_message, cancelled = told(acme)
    assert [len(m.message["data"]["snoozes"]) for m in (set_message, cancelled)] == [2, 2]
    assert cancelled.message["data"]["action"] == "cancelled" and "cancelled by staff" in cancelled.message["title"]


def test_a_cancelled_snooze_is_told_once_and_never_again_as_run_out(machines, acme, acme_member, afternoon):
    override_create(resource=machines[0], state="running", until=AFTERNOON + 3 * HOUR, actor=acme_member)
    assert override_clear(resource=machines[0], actor=acme_member) == 1
    assert override_clear(resource=machines[0], actor=acme_member) == 0  # nothing left to cancel: no message
    _, cancelled = told(acme)
    assert cancelled.message["data"]["action"] == "cancelled"
    assert snoozes.snooze_ends_send(at=AFTERNOON + 4 * HOUR) == 0
    assert len(told(acme)) == 2


def test_a_snooze_that_runs_out_is_told_once_by_the_tick_with_what_happens_next(machines, acme):
    until = AFTERNOON + 2 * HOUR  # 18:00 UTC: after office hours, so the machine is stopped then
    Override.objects.create(resource=machines[0], state="running", until=until, created_by_label="tom")
    tasks.tick((until - dt.timedelta(minutes=1)).isoformat())
    assert told(acme) == []
    tasks.tick((until + dt.timedelta(minutes=3)).isoformat())
    tasks.tick((until + dt.timedelta(minutes=8)).isoformat())
    (message,) = told(acme)
    assert message.message["data"]["action"] == "ended"
    assert message.message["data"]["snoozes"][0]["next_action"] == "stop"
    assert "keep running ended at Tue 2026-11-24 18:00 UTC; the next tick will stop" in message.message["lines"][0]


def test_a_run_out_snooze_followed_by_a_newer_one_is_no_end(machines, acme):
    Override.objects.create(resource=machines[0], state="running", until=AFTERNOON + HOUR, created_by_label="tom")
    Override.objects.create(resource=machines[0], state="running", until=AFTERNOON + 3 * HOUR, created_by_label="ann")
    assert snoozes.snooze_ends_send(at=AFTERNOON + 2 * HOUR) == 0
    assert told(acme) == []
    assert snoozes.snooze_ends_send(at=AFTERNOON + 4 * HOUR) == 1  # the newer one ends: told once
    assert snoozes.snooze_ends_send(at=AFTERNOON + 5 * HOUR) == 0


def test_snoozes_that_ran_out_long_ago_are_not_told_late(machines, acme):
    Override.objects.create(resource=machines[0], state="running", until=AFTERNOON, created_by_label="tom")
    assert snoozes.snooze_ends_send(at=AFTERNOON + dt.timedelta(days=2)) == 0
    assert told(acme) == []
    assert Override.objects.get().end_told_at == AFTERNOON


def test_other_tenants_and_channels_without_the_event_hear_nothing(machines, acme, globex, afternoon):
    services.channel_create(tenant=globex, kind="email", name="it", target="it@globex.test", events=["failures"], actor="cli")
    (theirs,) = make_resources(make_account(globex, GLOBEX_ACCOUNT), 1)
    override_create(resource=theirs, state="stopped", until=timezone.now() + HOUR, actor="cli")
    assert told(acme) == [] and told(globex) == []
