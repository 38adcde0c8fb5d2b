"""Where a tenant hears about parking (channels), what was sent (deliveries),
the per-tick tallies that become one summary per tenant per tick, and the
records that make every other message go out once (pre-stop warnings and
their links, credential notices)."""

from __future__ import annotations

from django.db import models

from tenants.crypto import EncryptedTextField
from tenants.models import Tenant


class Event(models.TextChoices):
    PARKING_SUMMARY = "parking_summary", "Parking summary (one message per tick: stopped, started, failed)"
    FAILURES = "failures", "Failures (an action failed, an account unreachable)"
    CREDENTIALS = "credential_problems", (
        "Credential problems (a connection test failed, a role revoked, legacy keys near their deadline)"
    )
    SNOOZES = "snoozes", "Snoozes set and ended"
    PRE_STOP_WARNING = "pre_stop_warning", "Pre-stop warning (machines about to stop, each with a keep-running link)"
    TEST = "test", "Test message"


SELECTABLE_EVENTS = [Event.PARKING_SUMMARY, Event.FAILURES, Event.CREDENTIALS, Event.SNOOZES, Event.PRE_STOP_WARNING]


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


class StopWarning(models.Model):
    """One machine warned about before one scheduled stop. Unique per (machine,
    stop time), so the warning goes out once whatever the number of ticks and
    workers; the row is also the one-click link's: the token carries its
    nonce, and `used_at` (set by a conditional update) makes it single use."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    resource = models.ForeignKey("scheduling.Resource", on_delete=models.CASCADE, related_name="+")
    stop_at = models.DateTimeField()
    # The schedule's zone, in which the message and the link's page say the time.
    zone = models.CharField(max_length=64, default="UTC")
    nonce = models.CharField(max_length=32, unique=True)
    # The pass that inserted the row (rows of other passes are theirs to send).
    claim = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    snooze = models.ForeignKey("scheduling.Override", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["resource", "stop_at"], name="notifications_one_warning_per_stop")]
        indexes = [models.Index(fields=["claim"])]


class CredentialNotice(models.Model):
    """A credential problem told about, so it is told once: a failing
    connection until it works again (the row is then deleted), each
    legacy-deadline threshold once per account."""

    class Topic(models.TextChoices):
        FAILING = "failing", "Connection failing"
        LEGACY_DEADLINE = "legacy_deadline", "Legacy keys near their deadline"

    account = models.ForeignKey("tenants.CloudAccount", on_delete=models.CASCADE, related_name="+")
    topic = models.CharField(max_length=20, choices=Topic.choices)
    # Legacy deadline: the threshold in days ("30", "7", "1"); "" for a failing connection.
    key = models.CharField(max_length=10, blank=True, default="")
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "topic", "key"], name="notifications_one_notice_per_account_topic_key")
        ]
