"""The account overview (issue 11, build 4): per account, machines by state,
scheduled or not, the last tick and its status, and problems with their fix,
in a fixed number of queries whatever the number of accounts and machines."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import ParkingLease, Resource
from tenants.models import CloudAccount, CloudCredential
from tests.conftest import OUR_ACCOUNT
from tests.selfservice.conftest import make_account, make_resources, office_hours

pytestmark = pytest.mark.django_db
OVERVIEW = reverse("tenants:overview")


def claimed(account: CloudAccount, **fields) -> CloudAccount:
    CloudAccount.objects.filter(pk=account.pk).update(
        claimed_at=timezone.now(), status=fields.pop("status", CloudAccount.Status.CONNECTED), **fields
    )
    account.refresh_from_db()
    return account


def ticked(account: CloudAccount, status: str = "succeeded", error: str = "") -> ParkingLease:
    return ParkingLease.objects.create(
        account=account, until=timezone.now(), last_tick_at=timezone.now() - dt.timedelta(minutes=3),
        last_status=status, last_error=error,
    )


def overview_of(response, account: CloudAccount):
    (found,) = [o for o in response.context["overviews"] if o.account.pk == account.pk]
    return found


def test_machines_by_state_scheduled_or_not_and_the_last_tick(acme_client, acme, globex_world):
    account = claimed(make_account(acme, "100000000001", name="Production"))
    office = office_hours(acme)
    office_hours(None, name="nights")  # a global template, named by a tag
    make_resources(account, 2, schedule=office)  # assigned
    make_resources(account, 1, start=2, state="stopped", schedule_tag="nights")  # by tag
    make_resources(account, 1, start=3, schedule_tag="nope")  # a tag naming no schedule
    make_resources(account, 1, start=4, state="stopped")  # nothing
    make_resources(account, 1, start=5, state="pending", schedule=office)
    (gone,) = make_resources(account, 1, start=6, schedule=office)
    Resource.objects.filter(pk=gone.pk).update(gone_at=timezone.now())
    ticked(account)

    response = acme_client.get(OVERVIEW)
    assert response.status_code == 200
    o = overview_of(response, account)
    assert o.states == [("running", 3), ("pending", 1), ("stopped", 2)]
    assert (o.machines, o.scheduled, o.not_scheduled) == (6, 4, 2)
    assert o.unknown_tags == ["nope"] and o.last_tick_ok and o.last_tick_status == "succeeded"
    assert [p.what for p in o.problems] == [
        "1 machine carries a Schedule tag naming no schedule (“nope”), so Parkway leaves it alone."
    ]
    assert "Create a schedule with that name" in o.problems[0].fix
    html = response.content.decode()
    assert "3 running · 1 pending · 2 stopped" in html
    assert "4 scheduled, 2 not" in html
    assert 'data-testid="last-tick"' in html and "succeeded" in html
    # Another tenant's account never shows.
    assert [o.account.tenant_id for o in response.context["overviews"]] == [acme.pk]
    assert globex_world.account.account_id not in html


def test_problems_come_with_their_fix(acme_client, acme):
    unverified = make_account(acme, "100000000002", name="Staging")
    failing = claimed(make_account(acme, "100000000003", name="Data"), status=CloudAccount.Status.ERROR,
                      last_error="Parkway could not assume the role arn:aws:iam::100000000003:role/ParkwayAccess.")
    ticking_badly = claimed(make_account(acme, "100000000004", name="Web"))
    make_resources(ticking_badly, 2)
    ticked(ticking_badly, status="failed", error="AWS is throttling requests to this account right now.")
    empty = claimed(make_account(acme, "100000000005", name="Empty"), regions=["eu-west-1"])
    ticked(empty)
    backing_off = claimed(make_account(acme, "100000000006", name="Batch"))
    (stuck,) = make_resources(backing_off, 1, failures=3, last_failure="IncorrectInstanceState",
                              retry_after=timezone.now() + dt.timedelta(hours=1))
    ours = CloudAccount.objects.create(tenant=acme, account_id=OUR_ACCOUNT, regions=["us-east-1"], claimed_at=timezone.now(),
                                       status=CloudAccount.Status.CONNECTED)
    CloudCredential.objects.create(account=ours, kind="role", role_arn=ours.conventional_role_arn)

    response = acme_client.get(OVERVIEW)
    problems = {o.account.pk: o.problems for o in response.context["overviews"]}
    (p,) = problems[unverified.pk]
    assert p.what.startswith("Not verified yet") and "Test again" in p.fix
    (p,) = problems[failing.pk]
    assert "could not assume the role" in p.what and "Test again" in p.fix
    (p,) = problems[ticking_badly.pk]
    assert p.what == "The last parking tick ended “failed”: AWS is throttling requests to this account right now."
    (p,) = problems[empty.pk]
    assert p.what == "Parkway found no machines in eu-west-1." and "add them on the account page" in p.fix
    (p,) = problems[backing_off.pk]
    assert p.what.startswith("1 machine failed to start or stop")
    (p,) = problems[ours.pk]
    assert "Parkway's own AWS account" in p.what and "Enter the ID of your account" in p.fix
    html = response.content.decode()
    assert html.count('data-testid="problem"') == 6
    assert "Fix: " in html


def queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(OVERVIEW).status_code == 200
    return len(captured)


def test_the_overview_costs_the_same_whatever_the_accounts_machines_and_problems(acme_client, acme):
    office = office_hours(acme)
    first = claimed(make_account(acme, "100000000100"))
    make_resources(first, 3, schedule=office)
    ticked(first)
    one = queries(acme_client)
    for n in range(1, 25):
        account = make_account(acme, f"1000000001{n:02d}")
        if n % 2:
            claimed(account)
            ticked(account, status="failed" if n % 3 else "succeeded", error="boom")
        make_resources(account, n, state="stopped" if n % 2 else "running", schedule_tag=f"tag-{n % 4}")
        make_resources(account, 2, start=100, schedule=office, retry_after=timezone.now() + dt.timedelta(hours=1))
    many = queries(acme_client)
    # session, user, the viewer's zone, memberships, then the selector's two queries,
    # then the savings selector's four (resources, their actions, schedules, periods)
    assert many == one <= 10
