"""Notifications end to end: the tick's summary reaches a local receiver once
per tenant, signed as docs/notifications.md says; retries and disabling."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import json

import pytest
import time_machine
from django.apps import apps as django_apps
from django.db import connection
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule
from django_q import scheduler as django_q_scheduler

from notifications import services
from notifications.delivery import delivery_attempt, retry_schedule_name
from notifications.models import Channel, Delivery
from scheduling import tasks
from tenants import aws, demo
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT, OUR_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours

pytestmark = pytest.mark.django_db

AT = TUESDAY_EVENING.isoformat()
SECOND_ACME_ACCOUNT = "333333333333"


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does, following docs/notifications.md."""
    timestamp = headers["X-Parkway-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Parkway-Signature"], f"v1={expected}")


def run_queue(capture) -> list:
    """What workers do: run every queued task (and what those enqueue) until the queue is empty."""
    from notifications import tasks as notification_tasks

    results = []
    while OrmQ.objects.exists():
        for q in OrmQ.objects.order_by("pk"):
            func, args = q.task["func"], q.task["args"]
            q.delete()
            with capture(execute=True):
                if func == "scheduling.tasks.park_account":
                    results.append(tasks.park_account(*args))
                else:
                    assert func == "notifications.tasks.deliver"
                    results.append(notification_tasks.deliver(*args))
    return results


def webhook(tenant, receiver, *, events=("parking_summary",), path="/hook/T0KEN"):
    return services.channel_create(
        tenant=tenant, kind="webhook", name=f"{tenant.slug} hook", target=receiver.url(path), events=list(events), actor="cli"
    )


def test_one_signed_summary_per_tenant_per_tick(acme, globex, standin, receiver, django_capture_on_commit_callbacks):
    for tenant in (acme, globex):
        office_hours(tenant)
    connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    connect(acme, SECOND_ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    connect(globex, GLOBEX_ACCOUNT, per_region=1, regions=["us-east-1"])
    acme_hook, acme_secret = webhook(acme, receiver, path="/acme")
    globex_hook, globex_secret = webhook(globex, receiver, path="/globex")

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.tick(AT) == 3
    run_queue(django_capture_on_commit_callbacks)

    by_path = {r.path: r for r in receiver.requests}
    assert sorted(r.path for r in receiver.requests) == ["/acme", "/globex"]  # one each, not one per machine/account
    acme_request = by_path["/acme"]
    assert verify(acme_secret, acme_request.headers, acme_request.body)
    assert not verify(globex_secret, acme_request.headers, acme_request.body)
    assert verify(globex_secret, by_path["/globex"].headers, by_path["/globex"].body)
    payload = json.loads(acme_request.body)
    assert payload["event"] == "parking_summary" and payload["tenant"] == "acme"
    assert payload["data"] | {"failures": []} == {"stopped": 3, "started": 0, "failed": 0, "failures": []}
    assert json.loads(by_path["/globex"].body)["data"]["stopped"] == 1

    # The next tick has nothing to do: no message at all.
    receiver.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick(AT)
    run_queue(django_capture_on_commit_callbacks)
    assert receiver.requests == []
    assert Delivery.objects.filter(status="sent").count() == 2


def test_a_failure_reaches_channels_that_chose_failures(acme, standin, receiver, django_capture_on_commit_callbacks):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    webhook(acme, receiver, events=["failures"])
    # The customer's role no longer trusts us: the account cannot be reached.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUR_ACCOUNT}:root"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "someone-else"}},
    }]}
    demo.account_client("iam", ACME_ACCOUNT).update_assume_role_policy(RoleName="ParkwayAccess", PolicyDocument=json.dumps(policy))
    aws.clear_session_cache()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick(AT)
    run_queue(django_capture_on_commit_callbacks)
    (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["event"] == "failures"
    assert payload["data"]["failed"] == 1
    assert "could not be parked" in payload["lines"][0]


def test_targets_and_secrets_are_encrypted_at_rest(acme, receiver):
    channel, secret = webhook(acme, receiver, path="/services/T0/B0/VERYSECRET")
    with connection.cursor() as cursor:
        cursor.execute("SELECT target, secret, target_hint FROM notifications_channel WHERE id = %s", [channel.pk])
        raw_target, raw_secret, hint = cursor.fetchone()
    assert "VERYSECRET" not in raw_target and raw_target.startswith("gAAAA")
    assert secret not in raw_secret and raw_secret.startswith("gAAAA")
    assert "VERYSECRET" not in hint
    assert Channel.objects.get(pk=channel.pk).secret == secret


def test_a_500_is_retried_with_back_off_then_delivered(acme, receiver, django_capture_on_commit_callbacks):
    receiver.status = 500
    channel, _ = webhook(acme, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.channel_send_test(channel=channel, actor="cli")
    OrmQ.objects.all().delete()
    assert delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert delivery.status_code == 500 and delivery.attempts == 1 and delivery.next_attempt_at is not None
    retry = Schedule.objects.get(name=f"notify-retry-{delivery.pk}")
    assert retry.func == "notifications.tasks.deliver" and retry.next_run == delivery.next_attempt_at
    # Too early: a duplicate task does nothing.
    assert delivery_attempt(delivery_id=delivery.pk) == "skipped"
    receiver.status = 200
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1)):
        assert delivery_attempt(delivery_id=delivery.pk) == "sent"
    assert len(receiver.requests) == 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code, delivery.error) == ("sent", 2, 200, "")


def test_transient_failures_stop_after_the_set_retries(acme, receiver, settings, django_capture_on_commit_callbacks):
    settings.PARKWAY_NOTIFY_RETRIES = 1
    receiver.status = 503
    channel, _ = webhook(acme, receiver)
    delivery = services.channel_send_test(channel=channel, actor="cli")
    assert delivery_attempt(delivery_id=delivery.pk) == "retrying"
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)):
        assert delivery_attempt(delivery_id=delivery.pk) == "failed"
    channel.refresh_from_db()
    assert channel.enabled and channel.consecutive_failures == 0  # transient failures never disable


def test_410_disables_the_channel_after_the_set_number_of_failures(acme, receiver, settings, client, acme_member):
    settings.PARKWAY_NOTIFY_MAX_FAILURES = 3
    receiver.status = 410
    channel, _ = webhook(acme, receiver)
    for n in range(1, 4):
        delivery = Delivery.objects.create(channel=channel, event="parking_summary", message={"title": "t"})
        assert delivery_attempt(delivery_id=delivery.pk) == "failed"
        channel.refresh_from_db()
        assert channel.consecutive_failures == n
        assert channel.enabled == (n < 3)
    assert "410" in channel.disabled_reason
    assert len(receiver.requests) == 3
    # Disabled: further messages are not sent, and the reason is on the page.
    delivery = Delivery.objects.create(channel=channel, event="parking_summary", message={"title": "t"})
    assert delivery_attempt(delivery_id=delivery.pk) == "failed"
    assert len(receiver.requests) == 3
    client.force_login(acme_member)
    page = client.get(f"/app/notifications/{channel.pk}/").content.decode()
    assert 'data-testid="channel-disabled"' in page and "410" in page


def test_a_success_resets_the_count_of_failures(acme, receiver):
    receiver.status = 404
    channel, _ = webhook(acme, receiver)
    delivery_attempt(delivery_id=Delivery.objects.create(channel=channel, event="test", message={}).pk)
    receiver.status = 200
    delivery_attempt(delivery_id=Delivery.objects.create(channel=channel, event="test", message={}).pk)
    channel.refresh_from_db()
    assert channel.consecutive_failures == 0 and channel.enabled


def test_slack_and_teams_get_their_formats(acme, receiver):
    for kind in ("slack", "teams"):
        channel, secret = services.channel_create(
            tenant=acme, kind=kind, name=kind, target=receiver.url(f"/{kind}"), events=["parking_summary"], actor="cli"
        )
        assert secret == ""
        delivery = services.channel_send_test(channel=channel, actor="cli")
        assert delivery_attempt(delivery_id=delivery.pk) == "sent"
    slack, teams = (json.loads(r.body) for r in receiver.requests)
    assert "Parkway test message for Acme" in slack["text"]
    assert teams["@type"] == "MessageCard" and "Acme" in teams["title"]


def test_email_channels_send_to_their_list(acme, mailoutbox):
    channel, _ = services.channel_create(
        tenant=acme, kind="email", name="ops", target="a@acme.test\nb@acme.test", events=["failures"], actor="cli"
    )
    delivery = services.channel_send_test(channel=channel, actor="cli")
    assert delivery_attempt(delivery_id=delivery.pk) == "sent"
    (mail,) = mailoutbox
    assert mail.to == ["a@acme.test", "b@acme.test"] and "Acme" in mail.subject


def test_a_retry_schedule_is_deleted_when_it_fires(acme, receiver, monkeypatch):
    """django-q2 keeps a ONCE schedule whose repeats are positive (it only drops
    them to 0): retries would pile up, one dead schedule per retried delivery."""
    # The scheduler first closes the process's database connections, as a
    # worker should; here that connection holds the test's transaction.
    monkeypatch.setattr(django_q_scheduler, "close_old_django_connections", lambda: None)
    receiver.status = 500
    channel, _ = webhook(acme, receiver)
    delivery = services.channel_send_test(channel=channel, actor="cli")
    assert delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    name = retry_schedule_name(delivery.pk)
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1)):
        django_q_scheduler.scheduler(broker=get_broker())  # what the cluster's scheduler does every 30 s
    assert not Schedule.objects.filter(name=name).exists()
    queued = [q.task for q in OrmQ.objects.all()]
    assert [(t["func"], t["args"]) for t in queued] == [("notifications.tasks.deliver", (delivery.pk,))]


def test_a_delivery_settled_before_its_retry_fired_leaves_no_schedule(acme, receiver):
    receiver.status = 503
    channel, _ = webhook(acme, receiver)
    delivery = services.channel_send_test(channel=channel, actor="cli")
    assert delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert Schedule.objects.filter(name=retry_schedule_name(delivery.pk)).exists()
    receiver.status = 200
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1)):
        assert delivery_attempt(delivery_id=delivery.pk) == "sent"  # another task got there first
    assert not Schedule.objects.filter(name=retry_schedule_name(delivery.pk)).exists()


def test_the_migration_deletes_retry_schedules_left_by_earlier_versions(acme):
    migration = importlib.import_module("notifications.migrations.0002_warnings_and_credential_notices")
    Schedule.objects.create(name="notify-retry-1", func="notifications.tasks.deliver", schedule_type=Schedule.ONCE, repeats=0)
    Schedule.objects.create(name="notify-retry-2", func="notifications.tasks.deliver", schedule_type=Schedule.ONCE, repeats=-1)
    Schedule.objects.create(name="parkway-tick", func="scheduling.tasks.tick", schedule_type=Schedule.MINUTES, repeats=0)
    migration.fired_retry_schedules_delete(django_apps, None)
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["notify-retry-2", "parkway-tick"]


def test_a_kind_that_could_not_be_read_is_told_as_a_failure(acme, standin, receiver, django_capture_on_commit_callbacks):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    webhook(acme, receiver, events=["failures"])
    standin.faults.throttle("rds:DescribeDBInstances", times=None, account_id=ACME_ACCOUNT)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick(AT)
    run_queue(django_capture_on_commit_callbacks)
    (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["data"]["failed"] == 1
    assert any("RDS databases in us-east-1 not read" in line for line in payload["lines"]), payload["lines"]
