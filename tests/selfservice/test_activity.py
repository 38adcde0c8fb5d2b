"""The activity page: parking runs, the machines they started and stopped, and
the tenant's audit log, each paginated, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import ParkingAction, ParkingRun
from tenants.models import AuditEvent
from tenants.audit import audit_record
from tests.selfservice.conftest import GlobexWorld, make_account, make_resources

pytestmark = pytest.mark.django_db

ACTIVITY = reverse("scheduling:activity")


def test_activity_shows_runs_actions_and_audit_events_in_plain_words(acme_client, acme, acme_account, staff, globex_world: GlobexWorld):
    (resource,) = make_resources(acme_account, 1)
    now = timezone.now()
    run = ParkingRun.objects.create(account=acme_account, tick_at=now, started_at=now, status="partial", planned=1, failed=1)
    ParkingAction.objects.create(
        run=run, resource=resource, action="stop", reason="outside office", outcome="failed", error_message="IncorrectInstanceState"
    )
    audit_record(action="account.updated", actor=staff, account=acme_account, details={"regions": {"before": ["us-east-1"], "after": ["eu-west-1"]}})
    response = acme_client.get(ACTIVITY)
    html = response.content.decode()
    assert "Some actions failed" in html and "IncorrectInstanceState" in html and "outside office" in html
    assert "Account settings changed" in html and "regions: us-east-1 → eu-west-1" in html
    # Staff appear as Parkway support, never by their username.
    assert "Parkway support" in html and ">staff<" not in html
    assert "Account connected by IAM role" in html
    assert "globex" not in html.lower()


def test_each_list_is_paginated_in_a_fixed_number_of_queries(acme_client, acme, acme_account):
    (resource,) = make_resources(acme_account, 1)

    def queries_with(count: int) -> int:
        now = timezone.now()
        for _ in range(count):
            run = ParkingRun.objects.create(account=acme_account, tick_at=now, started_at=now, status="succeeded")
            ParkingAction.objects.create(run=run, resource=resource, action="stop", reason="night", outcome="succeeded")
            audit_record(action="resource.snoozed", actor="system", account=acme_account, details={"resource": resource.resource_id})
        with CaptureQueriesContext(connection) as queries:
            response = acme_client.get(ACTIVITY)
        assert response.status_code == 200
        return len(queries)

    assert queries_with(2) == queries_with(40)
    response = acme_client.get(ACTIVITY, {"events_page": 2, "runs_page": 2})
    assert response.context["events"].number == 2 and response.context["runs"].number == 2
    assert len(response.context["runs"].object_list) == 42 - 25


# --------------------------------------------------------------------------- filters

DAY = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)


def add_run(account, resource, *, status: str = "succeeded", at: dt.datetime = DAY, reason: str = "night") -> ParkingRun:
    run = ParkingRun.objects.create(account=account, tick_at=at, started_at=at, status=status)
    action = ParkingAction.objects.create(run=run, resource=resource, action="stop", reason=reason, outcome="succeeded")
    ParkingAction.objects.filter(pk=action.pk).update(created_at=at)
    return run


def add_event(account, *, at: dt.datetime = DAY, message: str) -> AuditEvent:
    return AuditEvent.objects.create(
        created_at=at, actor_label="system", tenant=account.tenant, account=account, action="resource.snoozed", details={"message": message}
    )


def shown(response) -> tuple[set[int], set[str], set[str]]:
    """Run ids, action reasons and event messages on the page."""
    context = response.context
    return (
        {run.pk for run in context["runs"].object_list},
        {action.reason for action in context["actions"].object_list},
        {row.summary for row in context["event_rows"]},
    )


@pytest.fixture
def two_accounts(acme, acme_account):
    other = make_account(acme, "333333333333", name="acme staging")
    (prod_machine,) = make_resources(acme_account, 1)
    (staging_machine,) = make_resources(other, 1)
    AuditEvent.objects.all().delete()  # the "connected" events of the fixtures, at the wall clock
    return acme_account, prod_machine, other, staging_machine


def test_the_account_filter_shows_only_that_accounts_runs_actions_and_events(acme_client, two_accounts):
    prod, prod_machine, staging, staging_machine = two_accounts
    prod_run = add_run(prod, prod_machine, reason="prod night")
    add_run(staging, staging_machine, reason="staging night")
    add_event(prod, message="prod change")
    add_event(staging, message="staging change")
    response = acme_client.get(ACTIVITY, {"account": prod.pk})
    assert response.status_code == 200 and not response.context["form"].errors
    assert shown(response) == ({prod_run.pk}, {"prod night"}, {"prod change"})
    assert len(shown(acme_client.get(ACTIVITY))[0]) == 2


def test_another_tenants_account_is_refused_and_shows_none_of_their_data(acme_client, acme_account, globex_world: GlobexWorld):
    add_event(globex_world.account, message="globex change")
    response = acme_client.get(ACTIVITY, {"account": globex_world.account.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert "account" in response.context["form"].errors and 'data-testid="error-account"' in html
    assert shown(response) == (set(), set(), set())
    assert "globex" not in html.lower() and "No parking run matches these filters." in html
    # Nor does the unfiltered page show it.
    assert globex_world.run.pk not in shown(acme_client.get(ACTIVITY))[0]


def test_the_outcome_filter_narrows_runs_and_their_actions_not_the_audit_log(acme_client, two_accounts):
    prod, machine, *_ = two_accounts
    runs = {status: add_run(prod, machine, status=status, reason=f"{status} run") for status in ("succeeded", "partial", "failed", "interrupted", "running")}
    add_event(prod, message="a change")
    for status in ("succeeded", "partial", "failed", "interrupted"):
        response = acme_client.get(ACTIVITY, {"outcome": status})
        assert shown(response) == ({runs[status].pk}, {f"{status} run"}, {"a change"})
    assert "does not apply to changes" in response.content.decode()
    response = acme_client.get(ACTIVITY, {"outcome": "running"})
    assert "outcome" in response.context["form"].errors and shown(response) == (set(), set(), set())


def test_the_day_range_is_inclusive_and_in_utc(acme_client, two_accounts):
    prod, machine, *_ = two_accounts
    before = add_run(prod, machine, at=dt.datetime(2024, 5, 6, 23, 59, 59, tzinfo=dt.UTC), reason="before")
    first = add_run(prod, machine, at=dt.datetime(2024, 5, 7, 0, 0, tzinfo=dt.UTC), reason="first day")
    last = add_run(prod, machine, at=dt.datetime(2024, 5, 9, 23, 59, 59, tzinfo=dt.UTC), reason="last day")
    add_run(prod, machine, at=dt.datetime(2024, 5, 10, 0, 0, tzinfo=dt.UTC), reason="after")
    add_event(prod, at=dt.datetime(2024, 5, 6, 12, tzinfo=dt.UTC), message="early change")
    add_event(prod, at=dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC), message="change within")
    response = acme_client.get(ACTIVITY, {"since": "2024-05-07", "until": "2024-05-09"})
    assert shown(response) == ({first.pk, last.pk}, {"first day", "last day"}, {"change within"})
    assert shown(acme_client.get(ACTIVITY, {"until": "2024-05-06"}))[0] == {before.pk}
    assert len(shown(acme_client.get(ACTIVITY, {"since": "2024-05-10"}))[0]) == 1


def test_filters_combine(acme_client, two_accounts):
    prod, prod_machine, staging, staging_machine = two_accounts
    wanted = add_run(prod, prod_machine, status="failed", reason="wanted")
    add_run(prod, prod_machine, status="succeeded")
    add_run(staging, staging_machine, status="failed")
    add_run(prod, prod_machine, status="failed", at=DAY - dt.timedelta(days=3))
    response = acme_client.get(ACTIVITY, {"account": prod.pk, "outcome": "failed", "since": "2024-05-08", "until": "2024-05-08"})
    assert shown(response)[:2] == ({wanted.pk}, {"wanted"})


def test_a_reversed_day_range_is_a_form_error_not_a_page_of_nothing_explained(acme_client, two_accounts):
    prod, machine, *_ = two_accounts
    add_run(prod, machine)
    response = acme_client.get(ACTIVITY, {"since": "2024-05-09", "until": "2024-05-08"})
    assert response.status_code == 200
    assert "The “From” day is after the “To” day." in response.content.decode()
    assert shown(response) == (set(), set(), set())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"account": "²"}, "account"),
        ({"account": "99999999999999999999999"}, "account"),
        ({"account": str(2**63)}, "account"),
        ({"account": "-1"}, "account"),
        ({"account": "0"}, "account"),
        ({"account": " {pk}"}, "account"),
        ({"account": "0{pk}"}, "account"),
        ({"account": "{pk}.0"}, "account"),
        ({"account": "<script>alert(1)</script>"}, "account"),
        ({"outcome": "' OR 1=1 --"}, "outcome"),
        ({"outcome": "pending"}, "outcome"),
        ({"since": "2024-13-45"}, "since"),
        ({"since": "0000-01-01"}, "since"),
        ({"until": "99999-01-01"}, "until"),
        ({"until": "x" * 5000}, "until"),
    ],
)
def test_hostile_filter_values_are_form_errors_never_a_server_error(acme_client, two_accounts, params, field):
    prod, machine, *_ = two_accounts
    add_run(prod, machine)
    params = {key: value.format(pk=prod.pk) for key, value in params.items()}
    response = acme_client.get(ACTIVITY, params)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert shown(response) == (set(), set(), set())
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_the_ends_of_the_calendar_are_valid_days(acme_client, two_accounts):
    prod, machine, *_ = two_accounts
    run = add_run(prod, machine)
    response = acme_client.get(ACTIVITY, {"since": "0001-01-01", "until": "9999-12-31"})
    assert response.status_code == 200 and not response.context["form"].errors
    assert shown(response)[0] == {run.pk}


def test_page_links_keep_the_filters_and_the_other_lists_pages(acme_client, two_accounts):
    prod, machine, *_ = two_accounts
    for _ in range(30):
        add_run(prod, machine, status="failed")
    response = acme_client.get(ACTIVITY, {"outcome": "failed", "events_page": "1"})
    html = response.content.decode()
    assert "?outcome=failed&amp;events_page=1&amp;runs_page=2" in html
    assert "?outcome=failed&amp;events_page=1&amp;actions_page=2" in html
    assert response.context["runs"].paginator.count == 30


def test_a_filtered_page_makes_a_fixed_number_of_queries(acme_client, two_accounts):
    prod, machine, *_ = two_accounts
    params = {"account": prod.pk, "outcome": "succeeded", "since": "2024-05-01", "until": "2024-05-31"}

    def queries_with(count: int) -> int:
        for _ in range(count):
            add_run(prod, machine)
            add_event(prod, message="change")
        with CaptureQueriesContext(connection) as queries:
            response = acme_client.get(ACTIVITY, params)
        assert response.status_code == 200 and len(shown(response)[0]) == min(ParkingRun.objects.count(), 25)
        return len(queries)

    assert queries_with(2) == queries_with(40)
