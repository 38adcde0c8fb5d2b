"""Defect 10 (issue 11): of several bad period fields only the first error was
shown (the engine stops at its first). Every bad field of every period now
carries its own error, on its own row, in self-service and in the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling.models import Schedule
from tests.scheduling.test_schedule_admin import form_data as admin_form_data
from tests.selfservice.test_schedules import NEW, form_data

pytestmark = pytest.mark.django_db

BAD_ROWS = (
    {"weekdays": "funday", "months": "smarch", "begintime": "09:00", "endtime": "17:00"},
    {"monthdays": "32", "weekdays": "mon"},
    {"begintime": "10:00", "endtime": "10:00", "months": "never"},
)


def test_self_service_shows_every_bad_field_of_every_period(acme_client):
    response = acme_client.post(NEW, form_data(*BAD_ROWS))
    assert response.status_code == 400
    errors = [dict(f.errors) for f in response.context["periods"].forms]
    assert set(errors[0]) == {"weekdays", "months"}
    assert "funday" in errors[0]["weekdays"][0] and "smarch" in errors[0]["months"][0]
    assert set(errors[1]) == {"monthdays"} and "32" in errors[1]["monthdays"][0]
    assert set(errors[2]) == {"endtime", "months"}
    assert "equals begintime" in errors[2]["endtime"][0] and "never" in errors[2]["months"][0]
    html = response.content.decode()
    for message in ("funday", "smarch", "&#x27;32&#x27;", "equals begintime", "never"):
        assert message in html
    assert not Schedule.objects.exists()


def test_admin_inlines_show_every_bad_field_of_every_period(staff_client):
    response = staff_client.post(reverse("admin:scheduling_schedule_add"), admin_form_data(periods=list(BAD_ROWS)))
    assert response.status_code == 200
    (formset,) = [f.formset for f in response.context["inline_admin_formsets"]]
    errors = [dict(form.errors) for form in formset.forms]
    assert set(errors[0]) == {"weekdays", "months"}
    assert set(errors[1]) == {"monthdays"}
    assert set(errors[2]) == {"endtime", "months"}
    assert not Schedule.objects.exists()
