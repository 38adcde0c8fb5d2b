import datetime as dt

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling import parking
from scheduling.models import Override, ParkingAction, ParkingRun, Resource, Schedule
from tenants import services
from tenants.models import AuditEvent
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours, states

pytestmark = pytest.mark.django_db


def bulk_resources(account, start, count, *, schedule=None, tag="office"):
    now = timezone.now()
    Resource.objects.bulk_create([
        Resource(account=account, region="us-east-1", resource_id=f"i-{i:017x}", name=f"web-{i}", state="running",
                 schedule=schedule, schedule_tag=tag, first_seen_at=now, last_seen_at=now)
        for i in range(start, start + count)
    ])


def test_resource_changelist_queries_stay_flat_up_to_1000_rows(staff_client, acme):
    office_hours(acme)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 10)
    url = reverse("admin:scheduling_resource_changelist")
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(url).status_code == 200
    bulk_resources(account, 10, 990)
    with CaptureQueriesContext(connection) as big:
        response = staff_client.get(url)
    assert response.status_code == 200
    assert len(big) == len(small), "\n".join(q["sql"] for q in big.captured_queries)
    body = response.content.decode()
    assert "next tick: " in body and "schedule office: " in body


@pytest.mark.parametrize("url_name", ["admin:scheduling_parkingrun_changelist", "admin:scheduling_parkingaction_changelist"])
def test_parking_record_changelists_are_flat(staff_client, acme, url_name):
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 300)
    resources = list(Resource.objects.all())

    def add_runs(n):
        now = timezone.now()
        for _ in range(n):
            run = ParkingRun.objects.create(account=account, tick_at=now, started_at=now, status="partial")
            ParkingAction.objects.bulk_create([
                ParkingAction(run=run, resource=r, action="stop", reason="schedule office", outcome="failed", error_code="X")
                for r in resources[:100]
            ])

    add_runs(1)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse(url_name)).status_code == 200
    add_runs(3)
    with CaptureQueriesContext(connection) as big:
        assert staff_client.get(reverse(url_name), {"outcome": "failed"} if "action" in url_name else {"status": "partial"}).status_code == 200
    assert len(big) <= len(small) + 1


def test_desired_state_now_explains_unknown_schedules_and_snoozes(staff_client, acme):
    office_hours(acme)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1, tag="nope")
    bulk_resources(account, 1, 1)
    snoozed = Resource.objects.get(resource_id=f"i-{1:017x}")
    Override.objects.create(resource=snoozed, state="running", until=timezone.now() + dt.timedelta(hours=2))
    body = staff_client.get(reverse("admin:scheduling_resource_changelist")).content.decode()
    assert "its tag names a schedule &#x27;nope&#x27; that does not exist" in body
    assert "next tick: start — snoozed until" in body or "next tick: none — snoozed until" in body
    only_snoozed = staff_client.get(reverse("admin:scheduling_resource_changelist"), {"snoozed": "yes"}).content.decode()
    assert snoozed.resource_id in only_snoozed and f"i-{0:017x}" not in only_snoozed


def test_park_now_and_start_now_actions(staff_client, acme, standin):
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING - dt.timedelta(hours=8))  # inventory, in period
    pks = list(Resource.objects.values_list("pk", flat=True))
    url = reverse("admin:scheduling_resource_changelist")
    response = staff_client.post(url, {"action": "park_now", ACTION_CHECKBOX_NAME: pks, "confirm": "yes"}, follow=True)
    assert b"Stopped 2 machines." in response.content
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) == {"stopped"}
    staff_client.post(url, {"action": "start_now", ACTION_CHECKBOX_NAME: pks[:1], "confirm": "yes"}, follow=True)
    assert sorted(states(ACME_ACCOUNT, "us-east-1").values()) == ["running", "stopped"]
    assert AuditEvent.objects.filter(action="resource.stop_now", actor_label="staff").exists()
    assert ParkingAction.objects.filter(reason="stop now by staff", outcome="succeeded").count() == 2


@pytest.mark.parametrize(("action", "before", "effect"), [("park_now", "running", "stops it now"), ("start_now", "stopped", "starts it now")])
def test_park_now_and_start_now_ask_for_confirmation_first(staff_client, acme, standin, action, before, effect):
    """Defect 8: the admin acted on customers' machines with no confirmation."""
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING - dt.timedelta(hours=8))  # inventory, in period
    if before == "stopped":
        staff_client.post(reverse("admin:scheduling_resource_changelist"), {
            "action": "park_now", ACTION_CHECKBOX_NAME: list(Resource.objects.values_list("pk", flat=True)), "confirm": "yes",
        })
        parking.park_account(account_id=account.pk, at=TUESDAY_EVENING - dt.timedelta(hours=8))  # inventory sees them stopped
    runs, events = ParkingRun.objects.count(), AuditEvent.objects.count()
    aws_states = states(ACME_ACCOUNT, "us-east-1")
    resources = list(Resource.objects.order_by("resource_id"))
    url = reverse("admin:scheduling_resource_changelist")

    page = staff_client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in resources]})
    assert page.status_code == 200
    assert states(ACME_ACCOUNT, "us-east-1") == aws_states and set(aws_states.values()) == {before}
    assert (ParkingRun.objects.count(), AuditEvent.objects.count()) == (runs, events)
    body = page.content.decode()
    rows = page.context["rows"]
    assert [row["resource"].pk for row in rows] == [r.pk for r in resources]
    assert all(row["effect"].startswith(effect) for row in rows)
    # What the next tick does afterwards is the resolver's answer for the new state.
    assert all(row["then"].reason.startswith("schedule office") for row in rows)
    for resource in resources:
        assert resource.resource_id in body
    assert 'name="confirm" value="yes" class="button default"' in body
    assert "Yes, " in body and "them now" in body

    done = staff_client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in resources], "confirm": "yes"}, follow=True)
    assert done.status_code == 200
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) == {"stopped" if before == "running" else "running"}


def test_snooze_and_clear_snooze_actions(staff_client, acme):
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 2)
    pks = list(Resource.objects.values_list("pk", flat=True))
    url = reverse("admin:scheduling_resource_changelist")
    staff_client.post(url, {"action": "snooze_two_hours", ACTION_CHECKBOX_NAME: pks})
    overrides = Override.objects.all()
    assert overrides.count() == 2 and {o.state for o in overrides} == {"running"}
    assert all(dt.timedelta(minutes=119) < o.until - timezone.now() <= dt.timedelta(hours=2) for o in overrides)
    staff_client.post(url, {"action": "clear_snooze", ACTION_CHECKBOX_NAME: pks})
    assert Override.objects.filter(cancelled_at__isnull=True).count() == 0
    assert Override.objects.count() == 2  # kept as history
    assert AuditEvent.objects.filter(action="resource.snooze_cleared").count() == 2


def test_override_create_rejects_bad_input(acme):
    from django.core.exceptions import ValidationError

    from scheduling.actions import override_create

    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1)
    resource = Resource.objects.get()
    now = timezone.now()
    for kwargs, field in [
        ({"state": "paused", "until": now + dt.timedelta(hours=1)}, "state"),
        ({"state": "running", "until": now - dt.timedelta(hours=1)}, "until"),
        ({"state": "running", "until": now + dt.timedelta(days=31)}, "until"),
        ({"state": "running", "until": dt.datetime(2030, 1, 1)}, "until"),
    ]:
        with pytest.raises(ValidationError) as exc:
            override_create(resource=resource, actor="cli", **kwargs)
        assert field in exc.value.message_dict
    assert not Override.objects.exists()


def test_schedule_assignment_in_resource_admin(staff_client, acme):
    schedule = office_hours(acme)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1, tag="")
    resource = Resource.objects.get()
    response = staff_client.post(reverse("admin:scheduling_resource_change", args=[resource.pk]), {"schedule": schedule.pk})
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.schedule == schedule
    assert Schedule.objects.count() == 1
    event = AuditEvent.objects.get(action="resource.schedule_assigned")
    assert event.actor_label == "staff" and event.details["after"] == "office"


def test_admin_previews_a_schedule_assignment_before_saving_it(staff_client, acme):
    schedule = office_hours(acme)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1, tag="")
    resource = Resource.objects.get()
    url = reverse("admin:scheduling_resource_change", args=[resource.pk])
    assert 'name="_preview"' in staff_client.get(url).content.decode()
    with time_machine.travel(dt.datetime(2024, 5, 8, 22, tzinfo=dt.timezone.utc), tick=False):  # a Wednesday night
        response = staff_client.post(url, {"schedule": schedule.pk, "_preview": "1"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Preview, nothing saved: with the schedule office, the next tick would stop" in html
    # The page keeps the chosen schedule selected, so Save assigns what was previewed.
    assert f'<option value="{schedule.pk}" selected>' in html
    resource.refresh_from_db()
    assert resource.schedule is None
    assert not AuditEvent.objects.filter(action="resource.schedule_assigned").exists()


def test_another_tenants_schedule_cannot_be_assigned_in_admin(staff_client, acme, globex):
    foreign = office_hours(globex, name="globex-hours")
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1, tag="")
    resource = Resource.objects.get()
    response = staff_client.post(reverse("admin:scheduling_resource_change", args=[resource.pk]), {"schedule": foreign.pk})
    assert response.status_code == 200
    assert "Choose one of the tenant&#x27;s schedules" in response.content.decode()
    resource.refresh_from_db()
    assert resource.schedule is None


def test_account_page_shows_its_last_parking_run(staff_client, acme, standin):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    url = reverse("admin:tenants_cloudaccount_change", args=[account.pk])
    assert "no run with actions yet" in staff_client.get(url).content.decode()
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    body = staff_client.get(url).content.decode()
    run = ParkingRun.objects.get()
    assert reverse("admin:scheduling_parkingrun_change", args=[run.pk]) in body
    assert "2 planned, 2 done, 0 failed" in body and "StopInstances 1" in body
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5))  # idle: no run
    body = staff_client.get(url).content.decode()
    assert ParkingRun.objects.count() == 1 and "Last tick " in body and ": succeeded" in body


def test_resources_are_found_by_id_name_and_tag_value(staff_client, acme):
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    now = timezone.now()
    Resource.objects.bulk_create([
        Resource(account=account, region="us-east-1", resource_id="i-0aaaaaaaaaaaaaaaa", name="billing-db",
                 tags={"Team": "payments", "Name": "billing-db"}, first_seen_at=now, last_seen_at=now),
        Resource(account=account, region="us-east-1", resource_id="i-0bbbbbbbbbbbbbbbb", name="web",
                 tags={"Team": "frontend"}, first_seen_at=now, last_seen_at=now),
    ])
    url = reverse("admin:scheduling_resource_changelist")
    for query, found, hidden in [
        ("payments", "i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"),
        ("i-0bbbbbbbbbbbbbbbb", "i-0bbbbbbbbbbbbbbbb", "i-0aaaaaaaaaaaaaaaa"),
        ("billing", "i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"),
    ]:
        body = staff_client.get(url, {"q": query}).content.decode()
        assert found in body and hidden not in body, query


def test_staff_can_list_machines_backing_off(staff_client, acme):
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 3)
    Resource.objects.filter(resource_id=f"i-{0:017x}").update(
        failures=2, last_failure="IncorrectInstanceState: wrong state", retry_after=timezone.now() + dt.timedelta(minutes=20)
    )
    url = reverse("admin:scheduling_resource_changelist")
    listed = staff_client.get(url, {"backoff": "yes"}).context["cl"].result_list
    assert [r.resource_id for r in listed] == [f"i-{0:017x}"]
    assert len(staff_client.get(url, {"backoff": "no"}).context["cl"].result_list) == 2
    page = staff_client.get(reverse("admin:scheduling_resource_change", args=[listed[0].pk])).content.decode()
    assert "IncorrectInstanceState: wrong state" in page


@pytest.mark.parametrize("hostile", ["abc", "²", "99999999999999999999999", "1,2", "-1"])
def test_a_malformed_schedule_id_in_resource_admin_is_a_form_error(staff_client, acme, hostile):
    # The autocomplete widget redrew the refused form by querying "abc" as an id: a 500.
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1, tag="")
    resource = Resource.objects.get()
    response = staff_client.post(reverse("admin:scheduling_resource_change", args=[resource.pk]), {"schedule": hostile})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    resource.refresh_from_db()
    assert resource.schedule is None


@pytest.mark.parametrize("query", ["region__exact=a%00b", "q=i-%00", "schedule__id__exact=%00"])
def test_a_nul_character_in_a_resource_filter_is_a_bad_request(staff_client, acme, query):
    # PostgreSQL refuses NUL in any text it compares: this was a DataError, a 500.
    response = staff_client.get(reverse("admin:scheduling_resource_changelist") + "?" + query)
    assert response.status_code == 400


def test_the_resource_page_in_admin_explains_what_the_tick_will_do(staff_client, acme):
    office_hours(acme)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    bulk_resources(account, 0, 1, tag="nosuch")
    resource = Resource.objects.get()
    page = staff_client.get(reverse("admin:scheduling_resource_change", args=[resource.pk])).content.decode()
    assert "next tick: none — its tag names a schedule &#x27;nosuch&#x27; that does not exist" in page
