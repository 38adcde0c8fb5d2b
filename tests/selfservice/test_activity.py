"""The activity page: parking runs, the machines they started and stopped, and
the tenant's audit log, each paginated, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import ParkingAction, ParkingRun
from tenants.services import audit_record
from tests.selfservice.conftest import GlobexWorld, make_resources

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
