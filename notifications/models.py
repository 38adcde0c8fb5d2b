"""Where a tenant hears about parking (channels), what was sent (deliveries),
and the per-tick tallies that become one summary per tenant per tick."""

from __future__ import annotations

from django.db import models

from tenants.crypto import EncryptedTextField
from tenants.models import Tenant


class Event(models.TextChoices):
    PARKING_SUMMARY = "parking_summary", "Parking summary (one message per tick: stopped, started, failed)"
    FAILURES = "failures", "Failures (an action failed, an account unreachable)"
    TEST = "test", "Test message"


SELECTABLE_EVENTS = [Event.PARKING_SUMMARY, Event.FAILURES]


class Channel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack (incoming webhook)"
        TEAMS = "teams", "Microsoft Teams (webhook)"
        WEBHOOK = "webhook", "Webhook (JSON, signed with HMAC-SHA256)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="notification_channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100)
    # Email: addresses, one per line. Slack/Teams/webhook: the URL, a secret
    # in itself (Slack and Teams URLs carry the token), hence encrypted.
    target = EncryptedTextField()
    # Webhook only: the HMAC-SHA256 key, shown once when the channel is made.
    secret = EncryptedTextField(blank=True, default="")
    # A short, non-secret reminder of the target, shown instead of it.
    target_hint = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def wants(self, event: str) -> bool:
        return event == Event.TEST or event in self.events

    def event_labels(self) -> list[str]:
        return [Event(e).label.split(" (")[0] for e in self.events if e in Event.values]


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=30, choices=Event.choices)
    # What the message says (no secret): title, lines, data for webhooks.
    message = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A claim, so that a task delivered twice sends once.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["channel", "-created_at"]), models.Index(fields=["status", "next_attempt_at"])]
        verbose_name_plural = "deliveries"


class TickTally(models.Model):
    """What one tick did in one tenant, added up account by account; the
    account that completes it (or the next tick, for a lost task) sends one summary."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    tick = models.CharField(max_length=64)
    expected = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    stopped = models.PositiveIntegerField(default=0)
    started = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "tick"], name="notifications_one_tally_per_tenant_tick")]
