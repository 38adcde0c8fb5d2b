"""Channels: made, changed and removed by tenant admins (self-service) and staff
(admin), always through these functions, which check the role and audit."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from notifications.models import SELECTABLE_EVENTS, Channel, Event
from portal.outbound import safe_target
from tenants.audit import Actor, audit_record
from tenants.models import Tenant
from tenants.permissions import ADMINISTER, require

MAX_EMAILS = 20


def _emails(target: str) -> list[str]:
    addresses = [a.strip() for a in target.replace(",", "\n").splitlines() if a.strip()]
    if not addresses:
        raise ValidationError({"target": "Give at least one email address."})
    if len(addresses) > MAX_EMAILS:
        raise ValidationError({"target": f"At most {MAX_EMAILS} addresses."})
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"target": f"{address[:100]} is not an email address."}) from None
    return addresses


def email_addresses(channel: Channel) -> list[str]:
    return _emails(channel.target)


def _url(target: str) -> str:
    url = target.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValidationError({"target": "This is not a valid URL."}) from None
    allowed = ("https", "http") if settings.PARKWAY_WEBHOOK_ALLOW_PRIVATE else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ValidationError({"target": "Give an https:// URL."})
    if parts.username or parts.password:
        raise ValidationError({"target": "URLs with a user name or password are not accepted."})
    if len(url) > 2000:
        raise ValidationError({"target": "This URL is too long."})
    return url


def target_clean(kind: str, target: str) -> tuple[str, str]:
    """(target as stored, hint to show instead of it)."""
    if kind == Channel.Kind.EMAIL:
        addresses = _emails(target)
        return "\n".join(addresses), ", ".join(addresses)[:200]
    if kind not in Channel.Kind.values:
        raise ValidationError({"kind": "Choose a kind of channel."})
    url = _url(target)
    # Only the host: Slack and Teams URLs carry their token in the path.
    return url, f"{safe_target(url)}/…"


def _clean_events(events: list[str]) -> list[str]:
    allowed = {e.value for e in SELECTABLE_EVENTS}
    unknown = set(events) - allowed
    if unknown:
        raise ValidationError({"events": "Unknown event."})
    return [e.value for e in SELECTABLE_EVENTS if e.value in events]


def channel_create(*, tenant: Tenant, kind: str, name: str, target: str, events: list[str], actor: Actor) -> tuple[Channel, str]:
    """A new channel, and the signing secret of a webhook (shown once; '' for other kinds)."""
    require(actor, tenant, ADMINISTER)
    name = name.strip()[:100] or "Channel"
    stored, hint = target_clean(kind, target)
    secret = secrets.token_urlsafe(32) if kind == Channel.Kind.WEBHOOK else ""
    with transaction.atomic():
        channel = Channel.objects.create(
            tenant=tenant, kind=kind, name=name, target=stored, target_hint=hint, secret=secret, events=_clean_events(events),
        )
        audit_record(
            action="notifications.channel_created", actor=actor, tenant=tenant,
            details={"channel": channel.pk, "kind": kind, "name": name, "events": channel.events},
        )
    return channel, secret


def channel_update(
    *, channel: Channel, actor: Actor, name: str | None = None, events: list[str] | None = None,
    enabled: bool | None = None, target: str | None = None,
) -> Channel:
    """Change what a channel hears, its name, its target (staff), or switch it on again."""
    require(actor, channel.tenant, ADMINISTER)
    changes: dict[str, object] = {}
    if name is not None and name.strip()[:100] != channel.name:
        channel.name = changes["name"] = name.strip()[:100] or channel.name
    if events is not None and _clean_events(events) != channel.events:
        channel.events = changes["events"] = _clean_events(events)
    if target:
        channel.target, channel.target_hint = target_clean(channel.kind, target)
        changes["target"] = channel.target_hint
    if enabled is not None and enabled != channel.enabled:
        channel.enabled = changes["enabled"] = enabled
        if enabled:
            channel.disabled_reason, channel.consecutive_failures = "", 0
    if changes:
        with transaction.atomic():
            channel.save()
            audit_record(
                action="notifications.channel_changed", actor=actor, tenant=channel.tenant,
                details={"channel": channel.pk, "name": channel.name} | changes,
            )
    return channel


def channel_delete(*, channel: Channel, actor: Actor) -> None:
    require(actor, channel.tenant, ADMINISTER)
    with transaction.atomic():
        audit_record(
            action="notifications.channel_deleted", actor=actor, tenant=channel.tenant,
            details={"channel": channel.pk, "kind": channel.kind, "name": channel.name},
        )
        channel.delete()


def channel_send_test(*, channel: Channel, actor: Actor):
    """Queue a test message to this channel (even a disabled one: that is how a fix is checked)."""
    from notifications.delivery import deliveries_create

    require(actor, channel.tenant, ADMINISTER)
    message = {
        "title": f"Parkway test message for {channel.tenant.name}",
        "lines": [f"This channel ({channel.name}) is connected to Parkway."],
        "data": {},
    }
    (delivery,) = deliveries_create(tenant=channel.tenant, event=Event.TEST, message=message, channels=[channel])
    return delivery
