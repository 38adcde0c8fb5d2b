"""Nothing a customer creates is permanent by accident: disconnecting an account
and connecting it again keeps its configuration; a schedule can be renamed."""

import datetime as dt

import pytest
from django.utils import timezone

from scheduling import parking
from scheduling.models import Override, Period, Resource, Schedule
from tenants import demo, services
from tenants.models import CloudAccount
from tests.conftest import OUR_ACCOUNT
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)
ACCOUNT = "111111111111"


def office(tenant, name="office"):
    schedule = Schedule.objects.create(tenant=tenant, name=name, timezone="UTC")
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
    return schedule


def test_disconnect_then_reconnect_keeps_schedules_and_snoozes(page, customer, standin):
    demo.seed_role(ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=customer.external_id)
    account = services.account_connect_role(
        tenant=customer, account_id=ACCOUNT, regions=["us-east-1"], name="Production", actor="cli"
    )
    services.account_claim(account=account, actor="cli", proof="test")
    schedule = office(customer, "nights")
    demo.seed_instances(ACCOUNT, "us-east-1", 2)
    parking.park_account(account_id=account.pk, at=timezone.now())  # the inventory
    assigned, snoozed = Resource.objects.order_by("resource_id")
    Resource.objects.filter(pk=assigned.pk).update(schedule=schedule)
    Override.objects.create(resource=snoozed, state="running", until=timezone.now() + dt.timedelta(days=3))

    log_in(page)
    page.goto(f"/app/accounts/{account.pk}/")
    page.click("[data-testid=disconnect]")
    assert "2 machines" in page.locator("[data-testid=disconnect-confirm]").inner_text()
    page.click("[data-testid=confirm-disconnect]")
    page.wait_for_selector("[data-testid=disconnected-accounts]")
    assert "is disconnected" in page.locator("[data-testid=messages]").inner_text()
    assert CloudAccount.objects.get(pk=account.pk).active_credential() is None

    page.click("[data-testid=disconnected-accounts] a")
    assert page.input_value("#id_account_id") == ACCOUNT
    page.click("[data-testid=connect-submit]")
    page.wait_for_selector("[data-testid=messages]")
    assert "is connected again" in page.locator("[data-testid=messages]").inner_text()
    account.refresh_from_db()
    assert account.disconnected_at is None and account.claimed_at is not None and account.name == "Production"
    assert Resource.objects.get(pk=assigned.pk).schedule == schedule
    assert Override.objects.active(at=timezone.now()).filter(resource=snoozed).exists()
    page.goto(f"/app/resources/{assigned.pk}/")
    assert "nights" in page.locator("[data-testid=assign-form]").inner_text()


def test_rename_a_schedule_keeps_its_machines_and_warns_about_tags(page, customer):
    account = services.account_connect_role(tenant=customer, account_id=ACCOUNT, regions=["us-east-1"], actor="cli")
    schedule = office(customer, "ofice")  # the typo to fix
    now = timezone.now()
    Resource.objects.create(account=account, region="us-east-1", resource_id="i-0assigned", name="assigned",
                            state="running", schedule=schedule, first_seen_at=now, last_seen_at=now)
    Resource.objects.create(account=account, region="us-east-1", resource_id="i-0tagged", name="tagged",
                            state="running", schedule_tag="ofice", first_seen_at=now, last_seen_at=now)
    log_in(page)
    page.goto(f"/app/schedules/{schedule.pk}/")
    assert "1 machine names this schedule in a Schedule tag" in page.content()
    page.fill("#id_name", "office")
    page.click("[data-testid=save-schedule]")
    page.wait_for_selector("[data-testid=messages]")
    text = page.locator("[data-testid=messages]").inner_text()
    assert "Schedule office saved." in text and "Change their tags to office." in text
    schedule.refresh_from_db()
    assert schedule.name == "office"
    assert Resource.objects.get(resource_id="i-0assigned").schedule_id == schedule.pk
