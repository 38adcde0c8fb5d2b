"""Every time shown to a person is in one zone, labelled: their own setting,
else their organisation's, else UTC; the same in admin and self-service."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from scheduling.models import Override
from tenants.models import UserSettings
from tests.selfservice.conftest import make_resources

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
SETTINGS = reverse("tenants:settings")


def test_a_member_chooses_a_zone_and_every_page_follows_it(acme_client, acme, acme_account, acme_member):
    (resource,) = make_resources(acme_account, 1)
    Override.objects.create(resource=resource, state="running", until=dt.datetime(2026, 11, 25, 6, 30, tzinfo=UTC))
    url = reverse("scheduling:resource", kwargs={"resource_pk": resource.pk})
    with time_machine.travel(dt.datetime(2026, 11, 24, 20, tzinfo=UTC), tick=False):
        assert "2026-11-25 06:30 UTC" in acme_client.get(url).content.decode()
        acme.timezone = "America/New_York"
        acme.save()
        assert "2026-11-25 01:30 EST" in acme_client.get(url).content.decode()  # the organisation's default
        response = acme_client.post(SETTINGS, {"timezone": "Asia/Kolkata"}, follow=True)
        assert "Saved: times are shown in Asia/Kolkata." in response.content.decode()
        html = acme_client.get(url).content.decode()
    assert "2026-11-25 12:00 IST" in html and "06:30" not in html
    assert UserSettings.objects.get(user=acme_member).timezone == "Asia/Kolkata"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "x" * 500, "localtime"])
def test_an_unknown_zone_is_refused_with_a_message(acme_client, acme_member, zone):
    response = acme_client.post(SETTINGS, {"timezone": zone})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not UserSettings.objects.filter(user=acme_member).exclude(timezone="").exists()


def test_staff_choose_their_zone_and_the_admin_shows_times_in_it(staff_client, staff, acme, acme_account):
    (resource,) = make_resources(acme_account, 1)
    Override.objects.create(resource=resource, state="stopped", until=dt.datetime(2026, 7, 1, 12, tzinfo=UTC), reason="x")
    assert staff_client.get(SETTINGS).status_code == 200
    assert staff_client.post(SETTINGS, {"timezone": "Europe/Berlin"}).status_code == 302
    page = staff_client.get(reverse("admin:scheduling_override_changelist")).content.decode()
    assert "2026-07-01 14:00 CEST" in page  # Django's own admin rendering: the same format, in Berlin time
    assert "Times in Europe/Berlin" in page


def test_signed_out_people_are_asked_to_sign_in(client):
    response = client.get(SETTINGS)
    assert response.status_code == 302 and "login" in response["Location"]
