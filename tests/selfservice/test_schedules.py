"""Schedules in self-service: the tenant's own (create, edit periods and time
zone, week picture) and the global templates (read-only, copyable)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from scheduling.models import Period, Schedule
from tenants.models import AuditEvent
from tests.selfservice.conftest import office_hours

pytestmark = pytest.mark.django_db

NEW = reverse("scheduling:schedule_create")


def schedule_url(schedule: Schedule) -> str:
    return reverse("scheduling:schedule", kwargs={"schedule_pk": schedule.pk})


def form_data(*periods: dict[str, str], initial: int = 0, **fields: str) -> dict[str, str]:
    data = {
        "name": "office", "description": "", "timezone": "Europe/Berlin", "override_status": "",
        "stop_new_instances": "on",
        "periods-TOTAL_FORMS": str(len(periods)), "periods-INITIAL_FORMS": str(initial),
        "periods-MIN_NUM_FORMS": "0", "periods-MAX_NUM_FORMS": "20",
    } | fields
    for index, period in enumerate(periods):
        data |= {f"periods-{index}-{key}": value for key, value in period.items()}
    return data


WEEKDAYS = {"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}


def test_the_list_shows_own_schedules_and_global_templates(acme_client, acme, globex):
    office_hours(acme, name="acme-office")
    office_hours(None, name="weekdays-template")
    office_hours(globex, name="globex-office")
    response = acme_client.get(reverse("scheduling:schedules"))
    own = [s.name for s, _ in response.context["own"]]
    shared = [s.name for s, _ in response.context["shared"]]
    assert (own, shared) == (["acme-office"], ["weekdays-template"])
    html = response.content.decode()
    assert "Mon–Fri 09:00–17:00, UTC" in html and "globex-office" not in html


def test_create_a_schedule_with_periods(acme_client, acme, acme_member):
    assert acme_client.get(NEW).status_code == 200
    blank = {"begintime": "", "endtime": "", "weekdays": "", "monthdays": "", "months": ""}
    response = acme_client.post(NEW, form_data(WEEKDAYS, {"weekdays": "sat", "begintime": "10:00", "endtime": "12:00"}, blank))
    schedule = Schedule.objects.get(tenant=acme, name="office")
    assert response["Location"] == schedule_url(schedule)
    assert schedule.timezone == "Europe/Berlin"
    assert [p.to_spec() for p in schedule.periods.all()] == [
        {"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri", "monthdays": None, "months": None},
        {"begintime": "10:00", "endtime": "12:00", "weekdays": "sat", "monthdays": None, "months": None},
    ]
    event = AuditEvent.objects.get(action="schedule.created")
    assert (event.actor, event.tenant, event.details["periods"]) == (acme_member, acme, 2)
    page = acme_client.get(schedule_url(schedule)).content.decode()
    assert 'class="pw-week"' in page and "Europe/Berlin" in page and 'data-testid="schedule-form"' in page


def test_creating_never_overwrites_a_schedule_of_the_same_name(acme_client, acme):
    existing = office_hours(acme, name="office")
    response = acme_client.post(NEW, form_data(WEEKDAYS))
    assert response.status_code == 400
    assert "You already have a schedule named office" in response.content.decode()
    assert [p.to_spec()["begintime"] for p in existing.periods.all()] == ["09:00"]


@pytest.mark.parametrize(
    ("period", "field", "text"),
    [
        ({"weekdays": "funday"}, "weekdays", "funday"),
        ({"monthdays": "32"}, "monthdays", "32"),
        ({"months": "smarch"}, "months", "smarch"),
        ({"begintime": "25:00"}, "begintime", "Enter a valid time."),
    ],
)
def test_a_bad_period_is_refused_on_its_field(acme_client, acme, period, field, text):
    response = acme_client.post(NEW, form_data(period))
    assert response.status_code == 400
    errors = response.context["periods"].forms[0].errors
    assert text in " ".join(errors[field])
    assert f'data-testid="error-{field}"' in response.content.decode()
    assert not Schedule.objects.exists()


def test_a_bad_time_zone_is_refused(acme_client):
    response = acme_client.post(NEW, form_data(WEEKDAYS, timezone="Mars/Olympus_Mons"))
    assert response.status_code == 400
    assert "Select a valid choice" in " ".join(response.context["form"].errors["timezone"])
    assert not Schedule.objects.exists()


def test_edit_periods_and_time_zone_keeps_the_schedule(acme_client, acme, acme_member):
    schedule = office_hours(acme, name="office")
    first = schedule.periods.get()
    response = acme_client.post(
        schedule_url(schedule),
        form_data(
            {"begintime": "09:00", "endtime": "17:00", "weekdays": "mon-fri", "DELETE": "on"},
            {"begintime": "07:00", "endtime": "19:00", "weekdays": "mon-sat"},
            initial=1, name="office", timezone="America/New_York",
        ),
    )
    assert response["Location"] == schedule_url(schedule)
    schedule.refresh_from_db()
    assert (schedule.name, schedule.timezone) == ("office", "America/New_York")
    assert [p.to_spec()["weekdays"] for p in schedule.periods.all()] == ["mon-sat"]
    assert not Period.objects.filter(pk=first.pk).exists()
    assert AuditEvent.objects.get(action="schedule.updated").actor == acme_member


def test_an_edit_with_a_bad_period_changes_nothing(acme_client, acme):
    schedule = office_hours(acme, name="office")
    response = acme_client.post(schedule_url(schedule), form_data({"weekdays": "mon-funday"}, initial=1, timezone="UTC"))
    assert response.status_code == 400
    assert [p.weekdays for p in schedule.periods.all()] == ["mon-fri"]
    assert not AuditEvent.objects.filter(action="schedule.updated").exists()


def test_global_templates_are_read_only_and_can_be_copied(acme_client, acme):
    template = office_hours(None, name="weekdays")
    page = acme_client.get(schedule_url(template)).content.decode()
    assert 'class="pw-week"' in page and "read-only" in page and 'data-testid="schedule-form"' not in page
    assert acme_client.post(schedule_url(template), form_data(WEEKDAYS, name="weekdays")).status_code == 404
    assert template.periods.get().begintime == dt.time(9)

    copy = acme_client.get(NEW, {"from": template.pk})
    assert copy.context["form"].initial["name"] == "weekdays (copy)"
    assert copy.context["periods"].initial[0]["weekdays"] == "mon-fri"


@pytest.mark.parametrize("source", ["²", "1²", "٣", "99999999999999999999999", "-1", "0x1", " 1"])
def test_copying_from_a_malformed_schedule_id_is_a_404(acme_client, source):
    # "²".isdigit() is True, and int("²") raised: the page was a 500.
    assert acme_client.get(reverse("scheduling:schedule_create"), {"from": source}).status_code == 404


# ------------------------------------------------------- no periods; renaming


def test_removing_every_period_is_refused_with_a_message_and_changes_nothing(acme_client, acme):
    schedule = office_hours(acme, name="office")
    before = schedule.to_spec()
    response = acme_client.post(
        schedule_url(schedule),
        form_data({"begintime": "09:00", "endtime": "17:00", "weekdays": "mon-fri", "DELETE": "on"}, initial=1, timezone="UTC"),
    )
    assert response.status_code == 400
    assert "A schedule needs at least one period, or an override" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.to_spec() == before
    assert not AuditEvent.objects.filter(action="schedule.updated").exists()


def test_a_schedule_without_periods_is_fine_with_an_override(acme_client, acme):
    response = acme_client.post(NEW, form_data(override_status="running"))
    assert response.status_code == 302
    assert Schedule.objects.get(tenant=acme, name="office").override_status == "running"


def test_renaming_keeps_assigned_machines_and_warns_about_tags(acme_client, acme, acme_account):
    from tests.selfservice.conftest import make_resources

    schedule = office_hours(acme, name="office")
    assigned, tagged, other = make_resources(acme_account, 3)
    assigned.schedule = schedule
    assigned.save()
    tagged.schedule_tag = "office"
    tagged.save()
    page = acme_client.get(schedule_url(schedule)).content.decode()
    assert "1 machine names this schedule in a Schedule tag" in page

    response = acme_client.post(
        schedule_url(schedule), form_data(WEEKDAYS, initial=0, name="office-hours", timezone="UTC"), follow=True
    )
    html = response.content.decode()
    schedule.refresh_from_db()
    assigned.refresh_from_db()
    assert schedule.name == "office-hours" and assigned.schedule_id == schedule.pk
    assert "Renamed from office: 1 machine whose Schedule tag says office no longer finds it" in html
    event = AuditEvent.objects.get(action="schedule.updated")
    assert event.details["renamed_from"] == "office" and event.details["name"] == "office-hours"


def test_renaming_onto_another_schedules_name_is_refused(acme_client, acme):
    schedule = office_hours(acme, name="office")
    office_hours(acme, name="nights")
    response = acme_client.post(schedule_url(schedule), form_data(WEEKDAYS, name="nights", timezone="UTC"))
    assert response.status_code == 400
    assert "You already have a schedule named nights" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.name == "office"


# ------------------------------------------------------------------ deleting


def delete_url(schedule: Schedule) -> str:
    return reverse("scheduling:schedule_delete", kwargs={"schedule_pk": schedule.pk})


def test_deleting_a_schedule_with_assigned_machines_is_refused_and_lists_them(acme_client, acme, acme_account):
    from tests.selfservice.conftest import make_resources

    schedule = office_hours(acme, name="office")
    (assigned,) = make_resources(acme_account, 1, schedule=schedule)
    page = acme_client.get(delete_url(schedule)).content.decode()
    assert "cannot be deleted while machines are assigned" in page and assigned.resource_id in page
    assert 'data-testid="confirm-delete"' not in page
    response = acme_client.post(delete_url(schedule))
    assert response.status_code == 409 and assigned.resource_id in response.content.decode()
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    assert not AuditEvent.objects.filter(action="schedule.deleted").exists()


def test_deleting_a_schedule_warns_about_tags_then_those_machines_show_an_unknown_schedule(acme_client, acme, acme_account, acme_member):
    from tests.selfservice.conftest import make_resources

    schedule = office_hours(acme, name="office")
    (tagged,) = make_resources(acme_account, 1, schedule_tag="office")
    assert 'data-testid="delete-schedule"' in acme_client.get(schedule_url(schedule)).content.decode()
    page = acme_client.get(delete_url(schedule)).content.decode()
    assert "1 machine names it in a Schedule tag" in page
    response = acme_client.post(delete_url(schedule), follow=True)
    assert "Schedule office deleted." in response.content.decode()
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    event = AuditEvent.objects.get(action="schedule.deleted")
    assert event.actor == acme_member and event.details["tagged_machines"] == 1
    machine = acme_client.get(reverse("scheduling:resource", kwargs={"resource_pk": tagged.pk})).content.decode()
    assert "does not exist" in machine


def test_templates_and_other_tenants_schedules_cannot_be_deleted(acme_client, acme, globex_world):
    template = office_hours(None, name="template")
    for schedule in (template, globex_world.schedule):
        assert acme_client.get(delete_url(schedule)).status_code == 404
        assert acme_client.post(delete_url(schedule)).status_code == 404
        assert Schedule.objects.filter(pk=schedule.pk).exists()
