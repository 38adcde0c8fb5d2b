"""Sending a message to a channel: one Delivery row per (message, channel),
attempted by a django-q2 task after the creating transaction commits, retried
with back-off while the failure is transient, and counted against the channel
when it is permanent (the channel is disabled, with its reason, after
PARKWAY_NOTIFY_MAX_FAILURES in a row).

Nothing here logs a target: Slack and Teams URLs are secrets, and a webhook's
key never leaves the signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from notifications.models import Channel, Delivery
from notifications.services import email_addresses
from portal import outbound
from tenants.audit import audit_record
from tenants.models import Tenant

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Parkway-Signature"
TIMESTAMP_HEADER = "X-Parkway-Timestamp"
LEASE_SECONDS = 120
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: v1= and the hex HMAC-SHA256 of `timestamp + "." + body` (docs/notifications.md)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def deliveries_create(
    *, tenant: Tenant, event: str, message: dict, channels: Iterable[Channel] | None = None
) -> list[Delivery]:
    """One delivery per enabled channel of `tenant` that wants `event` (or per
    channel given), each sent by a task once this transaction commits."""
    if channels is None:
        channels = [c for c in Channel.objects.filter(tenant=tenant, enabled=True) if c.wants(event)]
    deliveries = [Delivery.objects.create(channel=c, event=event, message=message) for c in channels]
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(ids: list[int]) -> None:
    for pk in ids:
        async_task("notifications.tasks.deliver", pk, task_name=f"notify-{pk}", group="notifications")


def backoff_seconds(attempts: int) -> int:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, attempts - 1))


def _claim(delivery_id: int) -> bool:
    now = timezone.now()
    return Delivery.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING],
    ).update(lease_until=now + dt.timedelta(seconds=LEASE_SECONDS)) == 1


def delivery_attempt(*, delivery_id: int) -> str:
    """Try to send one delivery once; returns its status. A duplicate or early task does nothing."""
    if not _claim(delivery_id):
        return "skipped"
    delivery = Delivery.objects.select_related("channel__tenant").get(pk=delivery_id)
    channel = delivery.channel
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.lease_until = None
    delivery.next_attempt_at = None
    if not channel.enabled and delivery.event != "test":
        delivery.status, delivery.error = Delivery.Status.FAILED, "Not sent: the channel is disabled."
        delivery.save()
        return delivery.status
    try:
        delivery.status_code = _send(channel, delivery)
    except outbound.OutboundError as exc:
        delivery.status_code = exc.status
        delivery.error = exc.message[:500]
        if not exc.permanent and delivery.attempts <= settings.PARKWAY_NOTIFY_RETRIES:
            delivery.status = Delivery.Status.RETRYING
            delivery.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(delivery.attempts))
            delivery.save()
            _schedule_retry(delivery)
        else:
            delivery.status = Delivery.Status.FAILED
            delivery.save()
            _retry_unschedule(delivery)
            if exc.permanent:
                _count_permanent_failure(channel, exc.message)
        logger.warning(
            "Notification %s to channel %s (%s) failed: %s", delivery.pk, channel.pk, channel.kind, exc.message
        )
        return delivery.status
    delivery.status, delivery.error = Delivery.Status.SENT, ""
    delivery.save()
    _retry_unschedule(delivery)
    Channel.objects.filter(pk=channel.pk).update(consecutive_failures=0)
    return delivery.status


def retry_schedule_name(delivery_id: int) -> str:
    return f"notify-retry-{delivery_id}"


def _schedule_retry(delivery: Delivery) -> None:
    # repeats=-1: django-q2 deletes a ONCE schedule with negative repeats when
    # it fires; a positive count only drops to 0 and the row stays for ever.
    Schedule.objects.update_or_create(
        name=retry_schedule_name(delivery.pk),
        defaults={
            "func": "notifications.tasks.deliver", "args": repr((delivery.pk,)), "schedule_type": Schedule.ONCE,
            "next_run": delivery.next_attempt_at, "repeats": -1,
        },
    )


def _retry_unschedule(delivery: Delivery) -> None:
    """A settled delivery keeps no retry (one left when another task delivered it first)."""
    if delivery.attempts > 1:  # only a retried delivery ever had one
        Schedule.objects.filter(name=retry_schedule_name(delivery.pk)).delete()


def _count_permanent_failure(channel: Channel, reason: str) -> None:
    Channel.objects.filter(pk=channel.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.PARKWAY_NOTIFY_MAX_FAILURES
    disabled_reason = f"Disabled after {limit} failed deliveries in a row; the last: {reason}"[:500]
    if Channel.objects.filter(pk=channel.pk, enabled=True, consecutive_failures__gte=limit).update(
        enabled=False, disabled_reason=disabled_reason
    ):
        audit_record(
            action="notifications.channel_disabled", actor="system", tenant=channel.tenant,
            details={"channel": channel.pk, "name": channel.name, "reason": disabled_reason},
        )


# --------------------------------------------------------------------------- formats


def _text(message: dict) -> str:
    return "\n".join([message.get("title", "")] + [f"• {line}" for line in message.get("lines", [])])


def webhook_body(delivery: Delivery) -> bytes:
    message = delivery.message
    payload = {
        "id": delivery.pk,
        "event": delivery.event,
        "tenant": delivery.channel.tenant.slug,
        "created_at": delivery.created_at.isoformat(),
        "title": message.get("title", ""),
        "lines": message.get("lines", []),
        "data": message.get("data", {}),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _send(channel: Channel, delivery: Delivery) -> int | None:
    message = delivery.message
    if channel.kind == Channel.Kind.EMAIL:
        send_mail(
            subject=message.get("title", "Parkway")[:200], message=_text(message),
            from_email=None, recipient_list=email_addresses(channel),
        )
        return None
    if channel.kind == Channel.Kind.SLACK:
        body = json.dumps({"text": _text(message)}).encode()
        return outbound.post(channel.target, body=body).status
    if channel.kind == Channel.Kind.TEAMS:
        card = {
            "@type": "MessageCard", "@context": "https://schema.org/extensions",
            "summary": message.get("title", ""), "title": message.get("title", ""),
            "text": "<br>".join(message.get("lines", [])) or message.get("title", ""),
        }
        return outbound.post(channel.target, body=json.dumps(card).encode()).status
    body = webhook_body(delivery)
    timestamp = str(int(time.time()))
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret=channel.secret, timestamp=timestamp, body=body),
        "X-Parkway-Event": delivery.event,
        "X-Parkway-Delivery": str(delivery.pk),
    }
    return outbound.post(channel.target, body=body, headers=headers).status
