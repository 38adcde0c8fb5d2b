import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.models import Period, Schedule
from tenants.models import AuditEvent, Tenant

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:scheduling_schedule_changelist"
ADD = "admin:scheduling_schedule_add"
UTC = dt.timezone.utc


def make_schedule(
    name: str, *, tenant: Tenant | None = None, timezone: str = "Europe/Berlin", **period: Any
) -> Schedule:
    schedule = Schedule.objects.create(name=name, tenant=tenant, timezone=timezone)
    Period.objects.create(
        schedule=schedule, **(period or {"begintime": dt.time(9), "endtime": dt.time(17), "weekdays": "mon-fri"})
    )
    return schedule


def form_data(*, periods: list[dict[str, str]], **fields: str) -> dict[str, str]:
    data = {
        "name": "office",
        "tenant": "",
        "description": "",
        "timezone": "Europe/Berlin",
        "override_status": "",
        "stop_new_instances": "on",
        "periods-TOTAL_FORMS": str(len(periods)),
        "periods-INITIAL_FORMS": "0",
        "periods-MIN_NUM_FORMS": "0",
        "periods-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for i, period in enumerate(periods):
        for key in ("begintime", "endtime", "weekdays", "monthdays", "months"):
            data[f"periods-{i}-{key}"] = period.get(key, "")
    return data


def field_errors(page: str, field_class: str) -> list[str]:
    """Error messages rendered inside the container of one field (main form or inline cell)."""
    match = re.search(rf'class="[^"]*\b{field_class}\b[^"]*">(.*?)</(?:td|div)>', page, re.S)
    assert match, f"no {field_class} on the page"
    return re.findall(r'<ul class="errorlist"[^>]*>\s*<li>(.*?)</li>', match.group(1), re.S)


def week_rows(page: str) -> list[tuple[str, list[str]]]:
    """(row label, cell states) for each row of the week picture."""
    table = re.search(r'<table class="pw-week">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table, re.S)
    return [(label, re.findall(r'<td class="pw-week-(\w+)"', cells)) for label, cells in rows]


# ---------------------------------------------------------------- changelist


def test_changelist_shows_owner_and_one_line_summary(staff_client, acme):
    make_schedule("office", tenant=acme)
    make_schedule("nights", timezone="UTC", begintime=dt.time(22), endtime=dt.time(6))
    Schedule.objects.create(name="always-on", override_status="running")

    page = staff_client.get(reverse(CHANGELIST)).content.decode()

    assert "Mon–Fri 09:00–17:00, Europe/Berlin" in page
    assert "daily 22:00–06:00 (next day), UTC" in page
    assert "always running (override)" in page
    assert '<td class="field-owner">Acme</td>' in page
    assert page.count('<td class="field-owner">global</td>') == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"scope": "global"}, {"template"}),
        ({"scope": "tenant"}, {"acme-office", "globex-office"}),
        ({"tenant__id__exact": "ACME"}, {"acme-office"}),
        ({"q": "office"}, {"acme-office", "globex-office"}),
        ({"q": "templ"}, {"template"}),
    ],
)
def test_changelist_filters_and_search(staff_client, acme, globex, query, expected):
    make_schedule("acme-office", tenant=acme)
    make_schedule("globex-office", tenant=globex)
    make_schedule("template")
    query = {k: str(acme.pk) if v == "ACME" else v for k, v in query.items()}

    response = staff_client.get(reverse(CHANGELIST), query)

    assert response.status_code == 200
    assert {s.name for s in response.context["cl"].result_list} == expected


def test_changelist_queries_do_not_grow_with_the_number_of_schedules(staff_client, acme):
    def add(start: int, count: int) -> None:
        for i in range(start, start + count):
            make_schedule(f"s{i:03d}", tenant=acme if i % 2 else None)

    add(0, 5)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse(CHANGELIST)).status_code == 200
    add(5, 195)
    with CaptureQueriesContext(connection) as big:
        response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100  # a full page was rendered
    assert len(big) == len(small), "\n".join(q["sql"] for q in big.captured_queries)


# ---------------------------------------------------------------- add / change


def test_add_schedule_with_periods(staff_client, acme):
    data = form_data(
        tenant=str(acme.pk),
        periods=[
            {"begintime": "09:00", "endtime": "17:00", "weekdays": "mon-fri"},
            {"weekdays": "sat", "monthdays": "1-7"},
        ],
    )

    response = staff_client.post(reverse(ADD), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    schedule = Schedule.objects.get(name="office", tenant=acme)
    assert list(schedule.periods.values_list("begintime", "endtime", "weekdays", "monthdays")) == [
        (dt.time(9), dt.time(17), "mon-fri", ""),
        (None, None, "sat", "1-7"),
    ]
    event = AuditEvent.objects.get(action="schedule.created")
    assert (event.actor_label, event.tenant, event.details["periods"]) == ("staff", acme, 2)


def test_bad_weekdays_are_reported_on_that_field_and_nothing_is_saved(staff_client):
    data = form_data(periods=[{"begintime": "09:00", "endtime": "17:00", "weekdays": "fry"}])

    response = staff_client.post(reverse(ADD), data)

    assert response.status_code == 200
    page = response.content.decode()
    [message] = field_errors(page, "field-weekdays")
    assert "&#x27;fry&#x27; is not a day" in message
    # The message is tied to the input (aria-describedby) and rendered right before it.
    assert re.search(r'id="id_periods-0-weekdays_error">.*?</ul>\s*<input[^>]*name="periods-0-weekdays"', page, re.S)
    assert field_errors(page, "field-begintime") == []
    assert not Schedule.objects.exists() and not Period.objects.exists()


def test_bad_timezone_is_reported_on_the_timezone_field(staff_client):
    data = form_data(timezone="Mars/Olympus_Mons", periods=[{"begintime": "09:00", "endtime": "17:00"}])

    response = staff_client.post(reverse(ADD), data)

    assert response.status_code == 200
    [message] = field_errors(response.content.decode(), "field-timezone")
    assert "is not a known IANA timezone" in message
    assert not Schedule.objects.exists()


def test_changing_a_schedule_replaces_its_periods_and_is_audited(staff_client):
    schedule = make_schedule("office")
    period = schedule.periods.get()
    data = form_data(periods=[{}])
    data.update(
        {
            "periods-INITIAL_FORMS": "1",
            "periods-0-id": str(period.pk),
            "periods-0-schedule": str(schedule.pk),
            "periods-0-begintime": "08:00",
            "periods-0-endtime": "18:00",
            "periods-0-weekdays": "mon-thu",
        }
    )

    response = staff_client.post(reverse("admin:scheduling_schedule_change", args=[schedule.pk]), data)

    assert response.status_code == 302
    assert list(schedule.periods.values_list("begintime", "endtime", "weekdays")) == [
        (dt.time(8), dt.time(18), "mon-thu")
    ]
    assert AuditEvent.objects.filter(action="schedule.updated", details__schedule_id=schedule.pk).exists()


def test_admin_refuses_a_schedule_with_no_periods_and_no_override(staff_client):
    schedule = make_schedule("office")
    period = schedule.periods.get()
    data = form_data(periods=[{}])
    data.update({
        "periods-INITIAL_FORMS": "1", "periods-0-id": str(period.pk), "periods-0-schedule": str(schedule.pk),
        "periods-0-begintime": "09:00", "periods-0-endtime": "17:00", "periods-0-weekdays": "mon-fri",
        "periods-0-DELETE": "on",
    })
    response = staff_client.post(reverse("admin:scheduling_schedule_change", args=[schedule.pk]), data)
    assert response.status_code == 200
    assert "A schedule needs at least one period, or an override" in response.content.decode()
    assert schedule.periods.count() == 1
    assert staff_client.post(reverse(ADD), form_data(periods=[])).status_code == 200
    assert not Schedule.objects.filter(name="office").exclude(pk=schedule.pk).exists()


def test_admin_renames_through_the_service_keeping_the_pk_and_the_tenant(staff_client, acme, globex):
    schedule = make_schedule("office", tenant=acme)
    period = schedule.periods.get()
    data = form_data(periods=[{}], name="office-hours", tenant=str(globex.pk))
    data.update({
        "periods-INITIAL_FORMS": "1", "periods-0-id": str(period.pk), "periods-0-schedule": str(schedule.pk),
        "periods-0-begintime": "09:00", "periods-0-endtime": "17:00", "periods-0-weekdays": "mon-fri",
    })
    response = staff_client.post(reverse("admin:scheduling_schedule_change", args=[schedule.pk]), data)
    assert response.status_code == 302
    schedule.refresh_from_db()
    # The tenant is read-only once created: a schedule never moves between tenants.
    assert (schedule.name, schedule.tenant) == ("office-hours", acme)
    event = AuditEvent.objects.get(action="schedule.updated")
    assert event.details["renamed_from"] == "office" and event.actor_label == "staff"


# ---------------------------------------------------------------- the week picture


@time_machine.travel(dt.datetime(2024, 5, 8, 12, tzinfo=UTC), tick=False)  # a Wednesday
def test_week_picture_shows_mon_to_fri_nine_to_five(staff_client):
    schedule = make_schedule("office")

    page = staff_client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])).content.decode()

    assert "Week of Mon 06 May 2024 (Europe/Berlin)" in page
    rows = week_rows(page)
    assert [label for label, _ in rows] == [
        "Mon 06 May", "Tue 07 May", "Wed 08 May", "Thu 09 May", "Fri 10 May", "Sat 11 May", "Sun 12 May"
    ]
    assert all(len(cells) == 96 for _, cells in rows)
    workday = ["stopped"] * 36 + ["running"] * 32 + ["stopped"] * 28  # 09:00 is cell 36, 17:00 cell 68
    assert [cells for _, cells in rows] == [workday] * 5 + [["stopped"] * 96] * 2
    assert 'title="Mon 06 May 09:00: running"' in page
    assert re.findall(r'<th colspan="4" scope="colgroup">(\d\d)</th>', page) == [f"{h:02d}" for h in range(24)]
    legend = re.search(r'<p class="pw-week-legend">(.*?)</p>', page, re.S).group(1)
    assert re.findall(r'<i class="pw-week-(\w+)"></i> ([\w ]+)</span>', legend) == [
        ("running", "running"), ("stopped", "stopped"), ("any", "no change")
    ]
    # The colours come with the page, from the stylesheet the admin and self-service share.
    assert "/static/parkway/week.css" in page
    week_css = (Path(settings.BASE_DIR) / "static/parkway/week.css").read_text()
    assert ".pw-week-running { background: #15803d; }" in week_css


@pytest.mark.parametrize(
    ("now", "timezone", "monday"),
    [
        # Sunday 23:30 UTC is already Monday in Berlin, still Sunday in New York.
        (dt.datetime(2024, 5, 5, 23, 30, tzinfo=UTC), "Europe/Berlin", "Mon 06 May 2024"),
        (dt.datetime(2024, 5, 5, 23, 30, tzinfo=UTC), "America/New_York", "Mon 29 Apr 2024"),
        (dt.datetime(2024, 5, 5, 23, 30, tzinfo=UTC), "UTC", "Mon 29 Apr 2024"),
    ],
)
def test_week_picture_starts_on_monday_in_the_schedules_zone(staff_client, now, timezone, monday):
    schedule = make_schedule("office", timezone=timezone)
    with time_machine.travel(now, tick=False):
        page = staff_client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])).content.decode()
    assert f"Week of {monday} ({timezone})" in page


@time_machine.travel(dt.datetime(2024, 3, 27, 12, tzinfo=UTC), tick=False)
def test_week_picture_across_a_dst_change_skips_the_missing_hour(staff_client):
    # Berlin springs forward on Sun 31 Mar 2024: 02:00-03:00 never happens that day.
    schedule = make_schedule("two-to-three", begintime=dt.time(2), endtime=dt.time(3))

    page = staff_client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])).content.decode()

    rows = week_rows(page)
    assert all(len(cells) == 96 for _, cells in rows)
    normal_day = ["stopped"] * 8 + ["running"] * 4 + ["stopped"] * 84
    assert [cells for _, cells in rows[:6]] == [normal_day] * 6
    sunday_label, sunday = rows[6]
    assert sunday == ["stopped"] * 96
    assert "clocks change" in sunday_label and all("clocks change" not in label for label, _ in rows[:6])


def test_week_picture_escapes_what_it_shows(staff_client):
    schedule = make_schedule("office")
    # A zone name that got into the database unvalidated must be shown, not run.
    Schedule.objects.filter(pk=schedule.pk).update(timezone="<script>alert(1)</script>")

    page = staff_client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "This schedule cannot be evaluated" in page
    changelist = staff_client.get(reverse(CHANGELIST)).content.decode()
    assert "<script>alert(1)</script>" not in changelist and "invalid: timezone" in changelist


def test_add_page_explains_the_week_picture_appears_after_saving(staff_client):
    page = staff_client.get(reverse(ADD)).content.decode()
    assert "Save the schedule to see its week." in page


@pytest.mark.parametrize("hostile", ["abc", "²", "99999999999999999999999", "-1"])
def test_a_malformed_tenant_id_in_the_schedule_form_is_a_form_error(staff_client, hostile):
    response = staff_client.post(reverse(ADD), form_data(periods=[{"begintime": "09:00", "endtime": "17:00"}], tenant=hostile))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Schedule.objects.exists()


def test_a_schedule_form_builds_at_most_twenty_periods_whatever_total_forms_says(staff_client):
    # Django built (and rendered back) up to 2,000 inline forms per POST.
    data = form_data(periods=[{"begintime": "09:00", "endtime": "17:00"}])
    data["periods-TOTAL_FORMS"] = "99999999999999999999"
    response = staff_client.post(reverse(ADD), data)
    assert response.status_code == 200
    (periods,) = response.context["inline_admin_formsets"]
    assert len(periods.formset.forms) <= 20
    assert not Schedule.objects.exists()


def test_deleting_schedules_in_admin_goes_through_the_service_and_is_audited(staff_client, acme):
    first = Schedule.objects.create(tenant=acme, name="one", timezone="UTC")
    second = Schedule.objects.create(tenant=acme, name="two", timezone="UTC")
    url = reverse("admin:scheduling_schedule_changelist")
    response = staff_client.post(url, {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"})
    assert response.status_code == 302
    assert not Schedule.objects.filter(pk__in=[first.pk, second.pk]).exists()
    events = AuditEvent.objects.filter(action="schedule.deleted", tenant=acme)
    assert sorted(e.details["name"] for e in events) == ["one", "two"]
    single = Schedule.objects.create(tenant=acme, name="three", timezone="UTC")
    staff_client.post(reverse("admin:scheduling_schedule_delete", args=[single.pk]), {"post": "yes"})
    assert AuditEvent.objects.filter(action="schedule.deleted", details__name="three").exists()


def test_admin_cannot_delete_a_schedule_machines_are_assigned_to(staff_client, acme):
    from tests.selfservice.conftest import make_account, make_resources
    from tests.conftest import ACME_ACCOUNT

    schedule = make_schedule("office", tenant=acme)
    (machine,) = make_resources(make_account(acme, ACME_ACCOUNT), 1, schedule=schedule)
    page = staff_client.get(reverse("admin:scheduling_schedule_delete", args=[schedule.pk])).content.decode()
    assert f"{machine.resource_id}) is assigned to office: assign it another schedule first" in page
    staff_client.post(reverse("admin:scheduling_schedule_delete", args=[schedule.pk]), {"post": "yes"})
    changelist = reverse("admin:scheduling_schedule_changelist")
    staff_client.post(changelist, {"action": "delete_selected", "_selected_action": [schedule.pk], "post": "yes"})
    assert Schedule.objects.filter(pk=schedule.pk).exists()
