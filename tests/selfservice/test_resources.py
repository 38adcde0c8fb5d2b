"""The resources page: what each machine should be doing now and why, filters,
pagination with a fixed number of queries, schedule assignment and snoozes."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.models import Override, Resource
from tenants.models import AuditEvent
from tests.selfservice.conftest import GlobexWorld, make_account, make_resources, office_hours

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
TUESDAY_EVENING = dt.datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
RESOURCES = reverse("scheduling:resources")


def resource_url(resource: Resource, name: str = "scheduling:resource") -> str:
    return reverse(name, kwargs={"resource_pk": resource.pk})


def texts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def evening():
    with time_machine.travel(TUESDAY_EVENING, tick=False):
        yield


# --------------------------------------------------------------------------- the list


def test_each_machine_says_what_it_should_be_doing_now_and_why(acme_client, acme, acme_account, evening):
    office = office_hours(acme)
    assigned, tagged, untagged, snoozed = make_resources(acme_account, 4)
    Resource.objects.filter(pk=assigned.pk).update(schedule=office)
    Resource.objects.filter(pk=tagged.pk).update(schedule_tag="office")
    Resource.objects.filter(pk=snoozed.pk).update(schedule=office)
    Override.objects.create(resource=snoozed, state="running", until=TUESDAY_EVENING + dt.timedelta(hours=2))
    response = acme_client.get(RESOURCES)
    rows = {row.resource.pk: row.desired for row in response.context["rows"]}
    assert (rows[assigned.pk].state, rows[assigned.pk].schedule_source, rows[assigned.pk].action) == ("stopped", "explicit", "stop")
    assert "schedule office: first seen outside its period" in rows[assigned.pk].reason
    assert (rows[tagged.pk].state, rows[tagged.pk].schedule_source) == ("stopped", "tag")
    assert rows[assigned.pk].differs and rows[tagged.pk].differs
    assert rows[untagged.pk].reason == "not scheduled: no schedule assigned and no schedule tag"
    assert rows[snoozed.pk].state == "running" and rows[snoozed.pk].override is not None and not rows[snoozed.pk].differs
    html = response.content.decode()
    assert "schedule office: first seen outside its period" in html and 'data-testid="cancel-snooze"' in html and 'data-testid="quick-snooze"' in html


def test_filters_by_account_region_state_and_schedule(acme_client, acme, acme_account):
    office = office_hours(acme)
    other = make_account(acme, "333333333333", regions=["us-east-1", "eu-west-1"])
    make_resources(acme_account, 2, state="running")
    make_resources(acme_account, 1, start=10, state="stopped", schedule_tag="office")
    make_resources(other, 3, start=20, region="eu-west-1", schedule=office)

    def shown(**params) -> set[str]:
        response = acme_client.get(RESOURCES, params)
        assert response.status_code == 200
        return {row.resource.name for row in response.context["rows"]}

    assert len(shown()) == 6
    assert shown(account=other.pk) == {"web-20", "web-21", "web-22"}
    assert shown(region="eu-west-1") == {"web-20", "web-21", "web-22"}
    assert shown(state="stopped") == {"web-10"}
    assert shown(schedule="tag") == {"web-10"}
    assert shown(schedule="none") == {"web-0", "web-1"}
    # A schedule's machines: assigned, and those whose tag names it.
    assert shown(schedule=office.pk) == {"web-10", "web-20", "web-21", "web-22"}
    assert shown(account=acme_account.pk, schedule=office.pk) == {"web-10"}


def test_the_list_is_paginated_and_keeps_its_filters(acme_client, acme_account):
    make_resources(acme_account, 60)
    first = acme_client.get(RESOURCES, {"state": "running"})
    assert len(first.context["rows"]) == 50
    assert "?state=running&amp;page=2" in first.content.decode()
    second = acme_client.get(RESOURCES, {"state": "running", "page": 2})
    assert len(second.context["rows"]) == 10
    assert acme_client.get(RESOURCES, {"page": "abc"}).status_code == 200


def test_the_page_makes_the_same_few_queries_for_10_or_200_machines(acme_client, acme, acme_account):
    office = office_hours(acme)
    office_hours(None, name="global-office")

    def queries_for(count: int) -> int:
        Resource.objects.all().delete()
        resources = make_resources(acme_account, count, schedule_tag="office")
        for resource in resources[::3]:
            Override.objects.create(resource=resource, state="running", until=dt.datetime.now(UTC) + dt.timedelta(hours=1))
        Resource.objects.filter(pk__in=[r.pk for r in resources[::2]]).update(schedule=office)
        with CaptureQueriesContext(connection) as queries:
            response = acme_client.get(RESOURCES)
        assert response.status_code == 200 and len(response.context["rows"]) == min(count, 50)
        return len(queries)

    small, large = queries_for(10), queries_for(200)
    assert small == large
    assert large <= 12


# --------------------------------------------------------------------------- assignment


def test_assign_an_own_schedule_a_template_or_back_to_the_tag(acme_client, acme, acme_member, acme_account):
    own = office_hours(acme)
    template = office_hours(None, name="weekdays")
    (resource,) = make_resources(acme_account, 1, schedule_tag="office")
    url = resource_url(resource, "scheduling:resource_assign")

    response = acme_client.post(url, {"schedule": own.pk}, follow=True)
    assert "now follows the schedule office" in texts(response)[0]
    resource.refresh_from_db()
    assert resource.schedule == own

    acme_client.post(url, {"schedule": template.pk})
    resource.refresh_from_db()
    assert resource.schedule == template

    response = acme_client.post(url, {"schedule": "", "next": RESOURCES})
    assert response["Location"] == RESOURCES
    resource.refresh_from_db()
    assert resource.schedule is None
    events = AuditEvent.objects.filter(action="resource.schedule_assigned", actor=acme_member).order_by("pk")
    assert [(e.details["before"], e.details["after"]) for e in events] == [
        (None, "office"), ("office", "weekdays"), ("weekdays", None),
    ]


def test_another_tenants_schedule_cannot_be_assigned(acme_client, acme_account, globex_world: GlobexWorld):
    (resource,) = make_resources(acme_account, 1)
    response = acme_client.post(resource_url(resource, "scheduling:resource_assign"), {"schedule": globex_world.schedule.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    resource.refresh_from_db()
    assert resource.schedule is None
    assert not AuditEvent.objects.filter(action="resource.schedule_assigned").exists()


# --------------------------------------------------------------------------- snooze


def test_keep_running_for_two_hours_from_the_list(acme_client, acme_member, acme_account, evening):
    (resource,) = make_resources(acme_account, 1, state="stopped")
    back = f"{RESOURCES}?state=stopped"
    response = acme_client.post(
        resource_url(resource, "scheduling:resource_snooze"), {"state": "running", "hours": "2", "next": back}
    )
    assert response["Location"] == back
    override = Override.objects.get(resource=resource)
    assert (override.state, override.until) == ("running", TUESDAY_EVENING + dt.timedelta(hours=2))
    assert override.created_by == acme_member
    assert AuditEvent.objects.get(action="resource.snoozed").actor == acme_member


def test_keep_stopped_until_a_time_read_in_the_viewers_zone(acme_client, acme, acme_account, evening):
    acme.timezone = "Europe/Berlin"  # the tenant's default zone; this member chose none
    acme.save()
    tokyo = office_hours(acme, name="tokyo", zone="Asia/Tokyo")  # the schedule's zone does not matter
    (resource,) = make_resources(acme_account, 1, schedule=tokyo)
    page = acme_client.get(resource_url(resource)).content.decode()
    assert "until (Europe/Berlin time)" in page and 'data-testid="snooze-form"' in page
    response = acme_client.post(
        resource_url(resource, "scheduling:resource_snooze"),
        {"state": "stopped", "until": "2026-11-25T08:00", "reason": "maintenance"},
        follow=True,
    )
    assert "kept stopped until 2026-11-25 08:00 CET" in texts(response)[0]
    override = Override.objects.get(resource=resource)
    assert override.until == dt.datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 08:00 CET
    assert override.state == "stopped" and override.reason == "maintenance"


def test_keep_running_for_two_hours_names_the_end_in_the_zone_it_labels(acme_client, acme, acme_account, acme_member):
    """Defect: "kept running until 23:51 (Europe/Berlin)" when 23:51 was UTC (00:51 in Berlin)."""
    from tenants.services import user_settings_save

    user_settings_save(user=acme_member, timezone="Europe/Berlin")
    (resource,) = make_resources(acme_account, 1)
    with time_machine.travel(dt.datetime(2026, 11, 24, 21, 51, tzinfo=UTC), tick=False):
        response = acme_client.post(
            resource_url(resource, "scheduling:resource_snooze"), {"state": "running", "hours": "2"}, follow=True
        )
        page = response.content.decode()
    assert "until 2026-11-25 00:51 CET" in texts(response)[0]
    assert "23:51" not in texts(response)[0]
    # The page shows the snooze's end in the same zone, labelled the same way.
    assert "2026-11-25 00:51 CET" in page


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"state": "running", "until": "2026-11-24T19:00"}, "The snooze must end in the future."),
        ({"state": "running", "until": "2027-02-01T19:00"}, "at most 30 days"),
        ({"state": "running"}, "Choose for how long, or until when."),
        ({"state": "running", "hours": "2", "until": "2026-11-25T08:00"}, "not both"),
        ({"state": "running", "until": "tomorrow-ish"}, "Enter a valid date/time."),
        ({"state": "sleeping", "hours": "2"}, "Select a valid choice"),
        ({"state": "running", "hours": "9999"}, "Select a valid choice"),
    ],
)
def test_a_bad_snooze_is_refused_with_a_message(acme_client, acme_account, evening, data, text):
    (resource,) = make_resources(acme_account, 1)
    response = acme_client.post(resource_url(resource, "scheduling:resource_snooze"), data)
    assert response.status_code == 400
    assert text in response.content.decode()
    assert not Override.objects.exists()


def test_cancel_a_snooze(acme_client, acme_member, acme_account, evening):
    (resource,) = make_resources(acme_account, 1)
    Override.objects.create(resource=resource, state="running", until=TUESDAY_EVENING + dt.timedelta(hours=2))
    assert 'data-testid="active-snooze"' in acme_client.get(resource_url(resource)).content.decode()
    response = acme_client.post(resource_url(resource, "scheduling:resource_snooze_cancel"), follow=True)
    assert "Snooze cancelled" in texts(response)[0]
    assert Override.objects.get().cancelled_at == TUESDAY_EVENING
    assert AuditEvent.objects.get(action="resource.snooze_cleared").actor == acme_member
    response = acme_client.post(resource_url(resource, "scheduling:resource_snooze_cancel"), follow=True)
    assert "had no snooze" in texts(response)[0]


def test_next_never_leads_off_site(acme_client, acme_account):
    (resource,) = make_resources(acme_account, 1)
    response = acme_client.post(
        resource_url(resource, "scheduling:resource_snooze_cancel"), {"next": "https://evil.example/phish"}
    )
    assert response["Location"] == resource_url(resource)


def test_a_machine_that_backs_off_shows_why_and_until_when(acme_client, acme_account, evening):
    (resource,) = make_resources(
        acme_account, 1, failures=3, last_failure="IncorrectInstanceState: not in a state from which it can be stopped",
        retry_after=TUESDAY_EVENING + dt.timedelta(minutes=35),
    )
    page = acme_client.get(resource_url(resource)).content.decode()
    assert "3 failed attempts: IncorrectInstanceState" in page
    assert "tries again after 2026-11-24 20:35 UTC" in page


@pytest.mark.parametrize("hostile", ["overview", "admin:index", "login", "//evil.test/x", "/\\evil.test", "/\t/evil.test", "javascript:alert(1)"])
def test_next_is_only_ever_a_local_path_never_a_view_name(acme_client, acme_account, hostile):
    # "overview" was handed to redirect(), reversed as a view name: NoReverseMatch, a 500.
    (resource,) = make_resources(acme_account, 1)
    for name in ("scheduling:resource_snooze_cancel", "scheduling:resource_assign"):
        response = acme_client.post(resource_url(resource, name), {"next": hostile, "schedule": ""})
        assert response.status_code == 302 and response["Location"] == resource_url(resource), (name, hostile)
    page = acme_client.get(resource_url(resource) + "?next=" + hostile).content.decode()
    assert f'value="{hostile}"' not in page


@pytest.mark.parametrize("query", {"region": "us-east-1\x00", "q": "\x00"}.items())
def test_a_nul_character_in_a_query_is_a_bad_request(acme_client, acme_account, query):
    assert acme_client.get(RESOURCES, dict([query])).status_code == 400


def test_previewing_a_schedule_shows_what_the_next_tick_would_do_and_saves_nothing(acme_client, acme, acme_account, evening):
    office = office_hours(acme)
    (resource,) = make_resources(acme_account, 1)
    response = acme_client.post(resource_url(resource, "scheduling:resource_assign"), {"schedule": str(office.pk), "preview": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="assign-preview-result"' in page
    assert "the next tick would: <strong>stop</strong> — schedule office: first seen outside its period" in page
    resource.refresh_from_db()
    assert resource.schedule is None
    assert not AuditEvent.objects.filter(action="resource.schedule_assigned").exists()
