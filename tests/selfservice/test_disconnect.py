"""Disconnecting an account stops everything Parkway does in it, keeps its
configuration and history, and connecting it again brings the configuration back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling import parking
from scheduling.models import Override, ParkingAction, ParkingRun, Resource
from tenants import demo, services
from tenants.models import AuditEvent, CloudAccount
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT
from tests.selfservice.conftest import make_resources, office_hours

pytestmark = pytest.mark.django_db


def url(account: CloudAccount, name: str) -> str:
    return reverse(name, kwargs={"account_pk": account.pk})


@pytest.fixture
def configured(acme, standin):
    """A connected, claimed acme account with a scheduled machine, a snooze and a parking run."""
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    account = services.account_connect_role(
        tenant=acme, account_id=ACME_ACCOUNT, role_arn=f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess",
        regions=["us-east-1", "eu-west-1"], name="Production", actor="cli",
    )
    services.account_claim(account=account, actor="cli", proof="test")
    schedule = office_hours(acme)
    scheduled, snoozed = make_resources(account, 2)
    scheduled.schedule = schedule
    scheduled.save()
    Override.objects.create(resource=snoozed, state="running", until=timezone.now() + dt.timedelta(days=2))
    run = ParkingRun.objects.create(account=account, status="succeeded", tick_at=timezone.now(), started_at=timezone.now())
    ParkingAction.objects.create(run=run, resource=scheduled, action="stop", reason="test", outcome="succeeded")
    return account, schedule, scheduled, snoozed


def test_the_confirmation_page_says_what_stops_and_what_is_kept(acme_client, configured):
    account, *_ = configured
    page = acme_client.get(url(account, "tenants:account")).content.decode()
    assert url(account, "tenants:account_disconnect") in page
    html = acme_client.get(url(account, "tenants:account_disconnect")).content.decode()
    assert "no longer parks its <strong>2 machines</strong>" in html
    assert "1 machine with a schedule and 1 active snooze" in html
    account.refresh_from_db()
    assert account.disconnected_at is None  # a GET changes nothing


def test_disconnecting_stops_parking_and_hides_the_account_but_keeps_everything(acme_client, acme_member, configured):
    account, schedule, scheduled, snoozed = configured
    assert account in CloudAccount.objects.parkable()
    response = acme_client.post(url(account, "tenants:account_disconnect"), follow=True)
    assert "is disconnected" in response.content.decode()
    account.refresh_from_db()
    assert account.disconnected_at is not None and account.claimed_at is None
    assert account.active_credential() is None
    assert account not in CloudAccount.objects.parkable()
    assert parking.active_accounts().filter(pk=account.pk).count() == 0
    # Customers no longer see it or its machines; nothing was deleted.
    assert acme_client.get(url(account, "tenants:account")).status_code == 404
    assert acme_client.get(reverse("scheduling:resource", kwargs={"resource_pk": scheduled.pk})).status_code == 404
    assert scheduled.resource_id not in acme_client.get(reverse("scheduling:resources")).content.decode()
    assert Resource.objects.filter(account=account).count() == 2
    assert ParkingAction.objects.filter(resource=scheduled).exists()
    event = AuditEvent.objects.get(action="account.disconnected")
    assert event.actor == acme_member and event.details["machines"] == 2
    # The unverified-registration cleanup never forgets a disconnected account.
    assert services.accounts_forget_unverified(now=timezone.now() + dt.timedelta(days=30)) == 0
    assert CloudAccount.objects.filter(pk=account.pk).exists()


def test_staff_still_read_its_history(staff_client, configured):
    account, _, scheduled, _ = configured
    services.account_disconnect(account=account, actor="cli")
    page = staff_client.get(reverse("admin:tenants_cloudaccount_change", args=[account.pk])).content.decode()
    assert "Disconnected" in page
    runs = staff_client.get(reverse("admin:scheduling_parkingaction_changelist")).content.decode()
    assert scheduled.resource_id in runs


def test_connecting_the_same_account_again_restores_its_configuration(acme_client, acme, configured):
    account, schedule, scheduled, snoozed = configured
    acme_client.post(url(account, "tenants:account_disconnect"))
    overview = acme_client.get(reverse("tenants:overview")).content.decode()
    assert f"{reverse('tenants:connect')}?account_id={ACME_ACCOUNT}" in overview
    response = acme_client.post(
        reverse("tenants:connect"),
        {"account_id": ACME_ACCOUNT, "role_arn": f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess", "regions": "us-east-1", "name": ""},
        follow=True,
    )
    assert "is connected again: its machines keep their schedules and snoozes" in response.content.decode()
    account.refresh_from_db()
    assert CloudAccount.objects.filter(tenant=acme, account_id=ACME_ACCOUNT).count() == 1
    assert account.disconnected_at is None and account.claimed_at is not None
    assert account.name == "Production" and account.regions == ["us-east-1", "eu-west-1"]
    assert Resource.objects.get(pk=scheduled.pk).schedule == schedule
    assert Override.objects.active(at=timezone.now()).filter(resource=snoozed).exists()
    assert account in CloudAccount.objects.parkable()


def test_another_tenants_account_cannot_be_disconnected(acme_client, globex_world):
    target = url(globex_world.account, "tenants:account_disconnect")
    assert acme_client.get(target).status_code == 404
    assert acme_client.post(target).status_code == 404
    globex_world.account.refresh_from_db()
    assert globex_world.account.disconnected_at is None
