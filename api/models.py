"""API tokens: the secret is shown once and stored only as its SHA-256 hash."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import Membership


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, *, now: dt.datetime | None = None) -> ApiTokenQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiToken(models.Model):
    """A bearer token for /api/v1/.

    A member token belongs to one membership (a user in one tenant) and acts
    with that membership's role as it is at each request: a demoted member's
    token loses its rights at once, a removed member's tokens go with the
    membership. A staff token (membership empty, created in the admin) acts as
    its staff user, in the tenant each request names (see api.auth).
    """

    class Kind(models.TextChoices):
        MEMBER = "member", "Member"
        STAFF = "staff", "Staff"

    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.MEMBER)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens",
        help_text="The tenant membership a member token acts in; empty for a staff token.",
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “ci-bot”: shown in the audit log.")
    # The first characters of the token: not enough to use it, enough to recognise it.
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="api_token_member_has_membership",
                condition=models.Q(kind="staff", membership__isnull=True) | models.Q(kind="member", membership__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, *, now: dt.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
