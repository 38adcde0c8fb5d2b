"""Pages that list things make the same number of queries whatever the number
of rows (the resources and activity pages are checked in their own modules)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.selfservice.conftest import make_resources, office_hours

pytestmark = pytest.mark.django_db


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_schedules_page_costs_the_same_for_2_or_20_schedules(acme_client, acme, acme_account):
    url = reverse("scheduling:schedules")
    office_hours(acme, name="s0")
    office_hours(None, name="t0")
    two = queries(acme_client, url)
    for n in range(1, 10):
        schedule = office_hours(acme, name=f"s{n}")
        office_hours(None, name=f"t{n}")
        make_resources(acme_account, 2, start=10 * n, schedule=schedule)
    assert queries(acme_client, url) == two <= 6
