import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from scheduling.models import Period, Schedule
from scheduling.periods import ScheduleError

pytestmark = pytest.mark.django_db

OFFICE_HOURS = {
    "name": "office-hours",
    "description": "Berlin office",
    "timezone": "Europe/Berlin",
    "enforced": True,
    "retain_running": False,
    "stop_new_instances": False,
    "override_status": None,
    "periods": [
        {"begintime": "09:00", "endtime": "17:30", "weekdays": "mon-fri", "monthdays": None, "months": None},
        {"begintime": None, "endtime": "12:00:30", "weekdays": "sat", "monthdays": "1-7", "months": "jan/3"},
    ],
}


def test_from_spec_then_to_spec_gives_back_the_same_spec(acme):
    schedule, periods = Schedule.from_spec(OFFICE_HOURS, tenant=acme)
    schedule.save()
    for period in periods:
        period.schedule = schedule
    Period.objects.bulk_create(periods)

    stored = Schedule.objects.prefetch_related("periods").get(pk=schedule.pk)
    assert stored.to_spec() == OFFICE_HOURS
    assert stored.periods.first().begintime == dt.time(9, 0)


def test_from_spec_joins_list_fields_and_refuses_an_invalid_spec():
    _, [period] = Schedule.from_spec(
        {"name": "x", "periods": [{"weekdays": ["mon", 2], "months": ["jan", "feb"]}]}, tenant=None
    )
    assert (period.weekdays, period.months) == ("mon,2", "jan,feb")
    with pytest.raises(ScheduleError):
        Schedule.from_spec({"name": "x", "periods": [{"weekdays": "fry"}]}, tenant=None)


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"weekdays": "fry"}, "weekdays"),
        ({"monthdays": "32"}, "monthdays"),
        ({"months": "smarch"}, "months"),
        ({"begintime": dt.time(9), "endtime": dt.time(9)}, "endtime"),
        ({}, "__all__"),  # a period that says nothing is about no single field
    ],
)
def test_period_clean_puts_the_error_on_the_field_it_is_about(fields, error_field):
    with pytest.raises(ValidationError) as caught:
        Period(**fields).clean()
    assert list(caught.value.update_error_dict({})) == [error_field]


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "UTC", "override_status": "sideways"}, "override_status"),
    ],
)
def test_schedule_clean_puts_the_error_on_the_field_it_is_about(fields, error_field):
    with pytest.raises(ValidationError) as caught:
        Schedule(name="x", **fields).clean()
    assert list(caught.value.update_error_dict({})) == [error_field]


def test_names_are_unique_per_tenant_and_among_global_templates(acme, globex):
    Schedule.objects.create(name="nights", tenant=acme)
    Schedule.objects.create(name="nights", tenant=globex)
    Schedule.objects.create(name="nights", tenant=None)
    for tenant in (acme, None):
        with pytest.raises(IntegrityError), transaction.atomic():
            Schedule.objects.create(name="nights", tenant=tenant)


def test_str_marks_global_templates(acme):
    assert str(Schedule(name="nights", tenant=acme)) == "nights"
    assert str(Schedule(name="nights")) == "nights (global)"
