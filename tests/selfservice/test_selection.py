"""Customers find machines (search by name, instance ID or tag) and act on a
selection: park/start now, assign a schedule, keep running — always after a
confirmation page that says what each machine will do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling import parking
from scheduling.models import Override, ParkingAction, Resource
from tenants.models import AuditEvent
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, states
from tests.selfservice.conftest import make_resources, office_hours

pytestmark = pytest.mark.django_db

LIST = reverse("scheduling:resources")
BULK = reverse("scheduling:resource_bulk")


def shown(response) -> list[str]:
    return [row.resource.resource_id for row in response.context["rows"]]


def test_search_by_name_instance_id_or_tag(acme_client, acme_account):
    web, db, other = make_resources(acme_account, 3)
    Resource.objects.filter(pk=web.pk).update(name="web-frontend", tags={"team": "web", "a__b": "x"})
    Resource.objects.filter(pk=db.pk).update(name="database", tags={"team": "data"})
    assert shown(acme_client.get(LIST, {"q": "FRONT"})) == [web.resource_id]
    assert shown(acme_client.get(LIST, {"q": db.resource_id[-6:]})) == [db.resource_id]
    assert shown(acme_client.get(LIST, {"q": "team=data"})) == [db.resource_id]
    assert shown(acme_client.get(LIST, {"q": " team = web "})) == [web.resource_id]
    assert shown(acme_client.get(LIST, {"q": "a__b=x"})) == [web.resource_id]  # one key, not a path
    assert shown(acme_client.get(LIST, {"q": "team=nobody"})) == []
    assert acme_client.get(LIST, {"q": "=", "state": "running"}).status_code == 200


def test_pagination_keeps_the_search(acme_client, acme_account):
    make_resources(acme_account, 60)
    first = acme_client.get(LIST, {"q": "web-"})
    assert "?q=web-&amp;page=2" in first.content.decode()


def test_another_tenants_machines_cannot_be_selected(acme_client, acme_account, globex_world):
    (mine,) = make_resources(acme_account, 1)
    response = acme_client.post(
        BULK, {"action": "assign", "schedule": "", "resource": [globex_world.resource.pk, "nonsense", "-1"]}, follow=True
    )
    assert "Select at least one machine first." in response.content.decode()
    response = acme_client.post(BULK, {"action": "snooze", "hours": "2", "resource": [mine.pk, globex_world.resource.pk]})
    assert [r.pk for r in response.context["resources"]] == [mine.pk]


def test_bulk_assign_previews_then_assigns_all(acme_client, acme, acme_account, acme_member):
    schedule = office_hours(acme)
    machines = make_resources(acme_account, 3)
    data = {"action": "assign", "schedule": str(schedule.pk), "resource": [m.pk for m in machines[:2]]}
    page = acme_client.post(BULK, data)
    assert page.status_code == 200 and "The next tick will" in page.content.decode()
    assert not Resource.objects.filter(schedule=schedule).exists()  # nothing until confirmed
    response = acme_client.post(BULK, {**data, "confirm": "1", "next": LIST}, follow=True)
    assert "2 machines now follow the schedule office." in response.content.decode()
    assert set(Resource.objects.filter(schedule=schedule).values_list("pk", flat=True)) == {m.pk for m in machines[:2]}
    assert AuditEvent.objects.filter(action="resource.schedule_assigned", actor=acme_member).count() == 2


def test_bulk_keep_running_says_which_stopped_machines_it_will_start(acme_client, acme_account):
    running, stopped = make_resources(acme_account, 1) + make_resources(acme_account, 1, start=1, state="stopped")
    data = {"action": "snooze", "hours": "4", "resource": [running.pk, stopped.pk]}
    page = acme_client.post(BULK, data).content.decode()
    assert "1 of them is stopped now and will be started at the next tick." in page
    acme_client.post(BULK, {**data, "confirm": "1"})
    assert Override.objects.filter(state="running").count() == 2


def test_bulk_snooze_without_hours_does_nothing_and_says_why(acme_client, acme_account):
    (machine,) = make_resources(acme_account, 1)
    response = acme_client.post(BULK, {"action": "snooze", "resource": [machine.pk], "confirm": "1"}, follow=True)
    assert "Nothing was done: Choose for how many hours." in response.content.decode()
    assert not Override.objects.exists()


def test_park_now_from_the_machine_page_after_confirmation(acme_client, acme, acme_member, standin):
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    parking.park_account(account_id=account.pk, at=TUESDAY_EVENING.replace(hour=12))  # inventory, in period
    machine = Resource.objects.order_by("pk").first()
    page = acme_client.get(reverse("scheduling:resource", kwargs={"resource_pk": machine.pk})).content.decode()
    assert 'data-testid="park-now"' in page
    confirm = acme_client.post(BULK, {"action": "stop", "resource": [machine.pk]})
    assert "Parkway stops these machines now." in confirm.content.decode()
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) == {"running"}  # not before confirming
    response = acme_client.post(BULK, {"action": "stop", "resource": [machine.pk], "confirm": "1"}, follow=True)
    assert "Stopped 1 machine:" in response.content.decode()
    assert states(ACME_ACCOUNT, "us-east-1")[machine.resource_id] == "stopped"
    assert ParkingAction.objects.filter(resource=machine, action="stop", outcome="succeeded").exists()
    assert AuditEvent.objects.filter(action="resource.stop_now", actor=acme_member).exists()


def test_a_get_on_the_selection_url_changes_nothing(acme_client):
    response = acme_client.get(BULK)
    assert response.status_code == 302
