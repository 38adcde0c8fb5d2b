"""/app/notifications/: tenant admins add channels, see a webhook's secret once,
never see a target again, send a test and read the delivery log."""

from __future__ import annotations

import json

import pytest
from django_q.models import OrmQ

from notifications import tasks
from notifications.models import Channel, Delivery
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, acme_member):
    client.force_login(acme_member)
    return client


def test_a_webhook_secret_is_shown_once_and_its_url_never(admin_client, acme, receiver, django_capture_on_commit_callbacks):
    url = receiver.url("/services/T0/B0/VERYSECRET")
    response = admin_client.post(
        "/app/notifications/", {"kind": "webhook", "name": "ops hook", "target": url, "events": ["parking_summary"]}
    )
    channel = Channel.objects.get(tenant=acme)
    assert response.status_code == 302 and response["Location"] == f"/app/notifications/{channel.pk}/"
    first = admin_client.get(response["Location"]).content.decode()
    assert channel.secret in first and 'data-testid="channel-secret"' in first
    second = admin_client.get(response["Location"]).content.decode()
    assert channel.secret not in second
    listing = admin_client.get("/app/notifications/").content.decode()
    for html in (first, second, listing):
        assert "VERYSECRET" not in html
    assert AuditEvent.objects.filter(tenant=acme, action="notifications.channel_created").count() == 1

    # Send a test: queued after commit, delivered by the worker, logged on the page.
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(f"/app/notifications/{channel.pk}/test/").status_code == 302
    (queued,) = OrmQ.objects.all()
    assert queued.task["func"] == "notifications.tasks.deliver"
    assert tasks.deliver(*queued.task["args"]) == "sent"
    (request,) = receiver.requests
    assert json.loads(request.body)["event"] == "test"
    page = admin_client.get(f"/app/notifications/{channel.pk}/").content.decode()
    assert 'data-testid="delivery"' in page and "Sent" in page


def test_bad_targets_are_refused_on_the_form(admin_client, acme):
    for kind, target in (("email", "not an address"), ("slack", "http://hooks.slack.com/x"), ("webhook", "ftp://x/y")):
        response = admin_client.post("/app/notifications/", {"kind": kind, "name": "x", "target": target})
        assert response.status_code == 400, (kind, target)
    assert not Channel.objects.exists()


def test_editing_events_and_re_enabling_a_disabled_channel(admin_client, acme):
    channel = Channel.objects.create(
        tenant=acme, kind="email", name="ops", target="ops@acme.test", events=["parking_summary"],
        enabled=False, disabled_reason="Disabled after 3 failed deliveries", consecutive_failures=3,
    )
    response = admin_client.post(f"/app/notifications/{channel.pk}/", {"name": "ops", "events": ["failures"], "enabled": "on"})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.events, channel.enabled, channel.disabled_reason, channel.consecutive_failures) == (["failures"], True, "", 0)


def test_deleting_a_channel(admin_client, acme):
    channel = Channel.objects.create(tenant=acme, kind="email", name="ops", target="ops@acme.test")
    Delivery.objects.create(channel=channel, event="test")
    assert admin_client.post(f"/app/notifications/{channel.pk}/delete/").status_code == 302
    assert not Channel.objects.exists() and not Delivery.objects.exists()
    assert AuditEvent.objects.filter(action="notifications.channel_deleted").exists()


def test_staff_manage_channels_in_admin_without_seeing_targets(client, staff, acme):
    client.force_login(staff)
    response = client.post("/admin/notifications/channel/add/", {
        "tenant": acme.pk, "kind": "slack", "name": "acme slack", "events": ["parking_summary"], "enabled": "on",
        "new_target": "https://hooks.slack.com/services/T0/B0/VERYSECRET",
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
        "deliveries-MIN_NUM_FORMS": "0", "deliveries-MAX_NUM_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get(tenant=acme)
    assert channel.target.endswith("VERYSECRET")
    for url in ("/admin/notifications/channel/", f"/admin/notifications/channel/{channel.pk}/change/"):
        html = client.get(url).content.decode()
        assert "VERYSECRET" not in html and "hooks.slack.com" in html
    response = client.post("/admin/notifications/channel/", {"action": "send_test", "_selected_action": [channel.pk]})
    assert response.status_code == 302
    assert Delivery.objects.filter(channel=channel, event="test").count() == 1
