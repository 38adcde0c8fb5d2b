"""The pre-stop warning: PARKWAY_WARNING_MINUTES before a scheduled stop, in
the schedule's zone (DST included), once per machine and stop, one message
per tenant; and its keep-running link: once, then refused; tampered or
expired, refused with nothing changed."""

from __future__ import annotations

import functools

import datetime as dt
import json
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from notifications import services, warnings
from notifications.delivery import delivery_attempt
from notifications.models import Delivery, StopWarning
from scheduling import resolver, tasks
from scheduling.models import Override, Period, Schedule
from tenants.models import AuditEvent, CloudAccount
from tests.notifications.conftest import deliveries, email_channel
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.selfservice.conftest import make_account, make_resources, tenant_snapshot

pytestmark = pytest.mark.django_db

UTC = dt.UTC
BERLIN = "Europe/Berlin"
# Tuesday 24 November 2026: Berlin is on CET (UTC+1), so 18:00 there is 17:00 UTC.
NOVEMBER_STOP = dt.datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
# Sunday 29 March 2026: Berlin moves to CEST (UTC+2) at 02:00, so 18:00 is 16:00 UTC that day.
DST_DAY_STOP = dt.datetime(2026, 3, 29, 16, 0, tzinfo=UTC)
MINUTE = dt.timedelta(minutes=1)


def daily(tenant, *, zone=BERLIN, name="office"):
    schedule = Schedule.objects.create(tenant=tenant, name=name, timezone=zone)
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(18))
    return schedule


def parked_fleet(tenant, account_id, *, count=2, zone=BERLIN):
    """A claimed account whose running machines follow 09:00-18:00 in `zone` (no AWS needed: the warning reads the database)."""
    account = make_account(tenant, account_id)
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=timezone.now(), status="connected")
    schedule = daily(tenant, zone=zone)
    return make_resources(account, count, schedule=schedule, desired_state="running")


listening = functools.partial(email_channel, events=("pre_stop_warning",))


warnings_of = functools.partial(deliveries, event="pre_stop_warning")


@pytest.fixture
def acme_fleet(acme):
    machines = parked_fleet(acme, ACME_ACCOUNT)
    listening(acme)
    return machines


def link_path(delivery: Delivery, n: int = 0) -> str:
    return urlsplit(delivery.message["data"]["machines"][n]["keep_running_url"]).path


@pytest.mark.parametrize("stop", [NOVEMBER_STOP, DST_DAY_STOP], ids=["CET", "DST-day-CEST"])
def test_the_warning_goes_at_the_right_minute_in_the_schedules_zone(acme_fleet, acme, settings, stop):
    settings.PARKWAY_WARNING_MINUTES = 15
    assert warnings.stop_warnings_send(at=stop - 15 * MINUTE - MINUTE) == 0
    assert warnings_of(acme) == []

    assert warnings.stop_warnings_send(at=stop - 15 * MINUTE) == 2
    (delivery,) = warnings_of(acme)  # one message for the tenant, listing both machines
    machines = delivery.message["data"]["machines"]
    assert [m["name"] for m in machines] == ["web-0", "web-1"]
    assert {m["stop_at"] for m in machines} == {stop.isoformat()}
    assert {m["stop_local"][11:16] for m in machines} == {"18:00"}
    assert "stops at 18:00 CE" in delivery.message["lines"][0]

    # The next ticks inside the window send nothing more; after the stop, nothing either.
    for later in (stop - 10 * MINUTE, stop - 5 * MINUTE, stop - MINUTE, stop, stop + 5 * MINUTE):
        assert warnings.stop_warnings_send(at=later) == 0
    assert len(warnings_of(acme)) == 1


def test_the_warning_minutes_come_from_the_setting(acme_fleet, acme, settings):
    settings.PARKWAY_WARNING_MINUTES = 30
    assert warnings.stop_warnings_send(at=NOVEMBER_STOP - 31 * MINUTE) == 0
    assert warnings.stop_warnings_send(at=NOVEMBER_STOP - 30 * MINUTE) == 2


def test_which_machines_stop_is_the_resolvers_next_change(acme_fleet, acme):
    snoozed, plain = acme_fleet
    Override.objects.create(resource=snoozed, state="running", until=NOVEMBER_STOP + dt.timedelta(hours=1), created_by_label="tom")
    at = NOVEMBER_STOP - 10 * MINUTE
    explained = resolver.resources_explain(acme_fleet, at=at)
    assert warnings.stop_warnings_send(at=at) == 1
    (delivery,) = warnings_of(acme)
    (machine,) = delivery.message["data"]["machines"]
    assert machine["resource"] == plain.resource_id
    assert machine["stop_at"] == explained[plain.pk].next_change.at.isoformat()
    # The snoozed one stops when its snooze ends (the resolver's next change): warned then.
    assert warnings.stop_warnings_send(at=NOVEMBER_STOP + 45 * MINUTE) == 1
    assert warnings_of(acme)[-1].message["data"]["machines"][0]["resource"] == snoozed.resource_id


def test_stopped_machines_and_machines_without_a_stop_are_not_warned(acme, acme_fleet):
    first, second = acme_fleet
    first.state = "stopped"
    first.save()
    second.schedule = None
    second.save()
    assert warnings.stop_warnings_send(at=NOVEMBER_STOP - 10 * MINUTE) == 0


def test_one_message_per_tenant_and_only_to_tenants_that_listen(acme, globex, acme_fleet):
    parked_fleet(globex, GLOBEX_ACCOUNT, count=3)  # globex has no channel for warnings
    quiet = listening(globex, events=["parking_summary"])
    assert warnings.stop_warnings_send(at=NOVEMBER_STOP - 10 * MINUTE) == 2
    assert len(warnings_of(acme)) == 1
    assert not Delivery.objects.filter(channel=quiet).exists()
    assert not StopWarning.objects.filter(tenant=globex).exists()


def test_several_ticks_at_once_warn_once(acme_fleet, acme):
    """Each pass sends only the rows it inserted: a second worker finds them taken."""
    at = NOVEMBER_STOP - 10 * MINUTE
    assert warnings.stop_warnings_send(at=at) == 2
    assert warnings.stop_warnings_send(at=at) == 0
    assert StopWarning.objects.count() == 2 and len(warnings_of(acme)) == 1


def test_the_tick_sends_the_warning_without_aws(acme_fleet, acme):
    # No AWS stand-in here: a warning that called AWS would fail.
    tasks.tick((NOVEMBER_STOP - 10 * MINUTE).isoformat())
    (delivery,) = warnings_of(acme)
    assert len(delivery.message["data"]["machines"]) == 2


def test_a_receiver_gets_the_warning_and_its_link_keeps_the_machine_running(acme, receiver, client):
    machine, _ = parked_fleet(acme, ACME_ACCOUNT)
    channel, _ = services.channel_create(
        tenant=acme, kind="webhook", name="hook", target=receiver.url(), events=["pre_stop_warning"], actor="cli"
    )
    with time_machine.travel(NOVEMBER_STOP - 10 * MINUTE, tick=False):
        warnings.stop_warnings_send(at=timezone.now())
        (delivery,) = warnings_of(acme)
        assert delivery_attempt(delivery_id=delivery.pk) == "sent"
        (request,) = receiver.requests
        payload = json.loads(request.body)
        assert payload["event"] == "pre_stop_warning" and request.headers["X-Parkway-Event"] == "pre_stop_warning"
        url = payload["data"]["machines"][0]["keep_running_url"]
        assert url.startswith("http://127.0.0.1:8000/app/keep-running/")
        assert url in payload["lines"][0]
        response = client.post(urlsplit(url).path)
    assert response.status_code == 302
    snooze = Override.objects.get(resource=machine)
    assert (snooze.state, snooze.until) == ("running", NOVEMBER_STOP + dt.timedelta(hours=2))


# --------------------------------------------------------------------------- the link


@pytest.fixture
def warned(acme_fleet, acme):
    """The warning went out 10 minutes before the stop; its link for web-0."""
    at = NOVEMBER_STOP - 10 * MINUTE
    warnings.stop_warnings_send(at=at)
    (delivery,) = warnings_of(acme)
    traveller = time_machine.travel(at, tick=False)
    traveller.start()
    yield acme_fleet[0], link_path(delivery)
    traveller.stop()


def test_opening_the_link_shows_a_button_and_changes_nothing(warned, acme):
    machine, path = warned
    before = tenant_snapshot(acme)
    response = Client().get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="keep-running-confirm"' in page and "web-0" in page
    assert "Tue 2026-11-24 18:00 CET" in page  # the stop, in the schedule's zone
    assert "20:00 CET" in page  # kept running until the stop + 2 h
    assert tenant_snapshot(acme) == before


def test_the_link_snoozes_once_then_refuses(warned, acme):
    machine, path = warned
    browser = Client(enforce_csrf_checks=True)  # signed out, CSRF as in production
    page = browser.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = browser.post(path, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == path

    (snooze,) = Override.objects.filter(resource=machine)
    assert (snooze.state, snooze.until, snooze.created_by_label) == ("running", NOVEMBER_STOP + dt.timedelta(hours=2), warnings.LINK_ACTOR)
    event = AuditEvent.objects.get(action="resource.snoozed")
    assert event.actor_label == "keep-running link" and "link" in event.details["reason"]
    assert event.account.tenant == acme and event.actor is None
    # The resolver (pages, worker) now says it runs until then.
    explained = resolver.resources_explain([machine], at=timezone.now())[machine.pk]
    assert explained.override == snooze and explained.next_change.at == snooze.until

    done = browser.get(path)
    assert done.status_code == 200 and 'data-testid="keep-running-done"' in done.content.decode()

    before = tenant_snapshot(acme)
    again = browser.post(path, {"csrfmiddlewaretoken": token})
    assert again.status_code == 409 and "used already" in again.content.decode()
    assert Client().get(path).status_code == 409  # anyone else who opens it sees it used
    assert tenant_snapshot(acme) == before


def test_the_link_needs_the_csrf_token_of_its_page(warned, acme):
    machine, path = warned
    before = tenant_snapshot(acme)
    assert Client(enforce_csrf_checks=True).post(path).status_code == 403
    assert tenant_snapshot(acme) == before


def _tampered(path: str) -> list[str]:
    token = path.rstrip("/").rsplit("/", 1)[1]
    payload = signing.loads(token, salt=warnings.SALT)
    other_nonce = signing.dumps(payload | {"n": "0" * 32}, salt="another-salt")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    value, _, signature = token.rpartition(":")
    later = signing.dumps(payload | {"e": payload["e"] + 86400}, salt=warnings.SALT)
    forged = later.rpartition(":")[0] + ":" + signature  # a longer expiry with the old signature
    return [flipped, token[:-5], other_nonce, forged, value, token + "x"]


def test_a_tampered_link_changes_nothing(warned, acme):
    machine, path = warned
    before = tenant_snapshot(acme)
    for bad in _tampered(path):
        bad_path = f"/app/keep-running/{bad}/"
        for method in ("get", "post"):
            response = getattr(Client(), method)(bad_path)
            assert response.status_code == 400, (bad, method)
            assert "not valid" in response.content.decode()
    assert tenant_snapshot(acme) == before
    assert not StopWarning.objects.filter(used_at__isnull=False).exists()


def test_an_expired_link_is_refused_and_changes_nothing(warned, acme):
    machine, path = warned
    before = tenant_snapshot(acme)
    with time_machine.travel(NOVEMBER_STOP + dt.timedelta(hours=2), tick=False):
        for method in ("get", "post"):
            response = getattr(Client(), method)(path)
            assert response.status_code == 410
            assert "expired" in response.content.decode()
    assert tenant_snapshot(acme) == before
    # A minute before, it still works.
    with time_machine.travel(NOVEMBER_STOP + dt.timedelta(hours=2) - MINUTE, tick=False):
        assert Client().post(path).status_code == 302


def test_a_kept_machine_is_warned_again_before_its_new_stop(warned, acme):
    machine, path = warned
    Client().post(path)
    new_stop = NOVEMBER_STOP + dt.timedelta(hours=2)
    assert warnings.stop_warnings_send(at=new_stop - 10 * MINUTE) == 1
    latest = warnings_of(acme)[-1].message["data"]["machines"]
    assert [(m["resource"], m["stop_at"]) for m in latest] == [(machine.resource_id, new_stop.isoformat())]


def test_old_warnings_are_forgotten_with_the_parking_history(acme_fleet, acme, settings):
    settings.PARKWAY_HISTORY_DAYS = 30
    warnings.stop_warnings_send(at=NOVEMBER_STOP - 10 * MINUTE)
    with time_machine.travel(NOVEMBER_STOP + dt.timedelta(days=29), tick=False):
        assert "0 pre-stop warning(s) forgotten" in tasks.prune_history()
    with time_machine.travel(NOVEMBER_STOP + dt.timedelta(days=31), tick=False):
        assert "2 pre-stop warning(s) forgotten" in tasks.prune_history()
    assert not StopWarning.objects.exists()
