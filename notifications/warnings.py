"""The pre-stop warning and its one-click "keep running 2 more hours" link.

Every tick asks the resolver — the answer pages and the worker share — for
the next change of each running machine of a tenant that listens; a machine
whose next change is a stop within PARKWAY_WARNING_MINUTES gets a
`StopWarning` row, unique per (machine, stop time), inserted by whichever
tick comes first. A tick sends only the rows it inserted, one message per
tenant, so several ticks or workers never repeat a warning. It reads the
database only: no AWS call.

The link's token is Django's signing of the row's nonce and the link's
expiry (the stop time + 2 h), with a salt of its own. Opening it (GET) only
shows what it would do, since mail scanners open links; its button (POST,
with Django's CSRF cookie, which needs no login) claims the row once with a
conditional update and snoozes the machine through the same service as the
pages (`scheduling.actions.override_create`), audited as done through the link.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications.delivery import deliveries_create
from notifications.models import Channel, Event, StopWarning
from notifications.texts import in_zone, machine_label, public_url
from portal.zones import zone_or_utc
from scheduling import planner, resolver
from scheduling.actions import override_create
from scheduling.models import Override, Resource
from tenants.models import CloudAccount

SALT = "parkway.notifications.keep-running-link"
KEEP_RUNNING_FOR = dt.timedelta(hours=2)
# Who the audit log and the snooze say did it: whoever held the link.
LINK_ACTOR = "keep-running link"
LINK_REASON = "kept running 2 more hours through the pre-stop warning's link"
CHUNK = 2000
NONCE = re.compile(r"[0-9a-f]{32}")


def warning_window() -> dt.timedelta:
    return dt.timedelta(minutes=settings.PARKWAY_WARNING_MINUTES)


def _listening_tenants() -> set[int]:
    channels = Channel.objects.filter(enabled=True).only("tenant_id", "events")
    return {c.tenant_id for c in channels if c.wants(Event.PRE_STOP_WARNING)}


def machines_about_to_stop(*, at: dt.datetime, tenant_ids: set[int] | None = None) -> list[resolver.Explanation]:
    """Running machines (of `tenant_ids`, default all) whose next change, by the
    resolver, is a stop after `at` and within the warning window."""
    window_end = at + warning_window()
    candidates = (
        Resource.objects.filter(
            account__in=CloudAccount.objects.parkable(now=at), gone_at__isnull=True,
            state__in=planner.RUNNING_STATES, refusal="", retained_running=False,
        )
        .filter(Q(schedule__isnull=False) | ~Q(schedule_tag=""))
        .select_related("account__tenant").order_by("pk")
    )
    if tenant_ids is not None:
        candidates = candidates.filter(account__tenant_id__in=tenant_ids)
    found = []
    chunk: list[Resource] = []
    for resource in candidates.iterator(chunk_size=CHUNK):
        chunk.append(resource)
        if len(chunk) == CHUNK:
            found += _stopping(chunk, at=at, window_end=window_end)
            chunk = []
    return found + _stopping(chunk, at=at, window_end=window_end)


def _stopping(resources: list[Resource], *, at: dt.datetime, window_end: dt.datetime) -> list[resolver.Explanation]:
    explained = resolver.resources_explain(resources, at=at).values()
    return [
        e for e in explained
        if e.next_change is not None and e.next_change.state == planner.STOPPED and at < e.next_change.at <= window_end
        and e.action != planner.STOP  # being stopped now: too late to warn
    ]


def stop_warnings_send(*, at: dt.datetime) -> int:
    """Warn about the machines stopping within the window: one message per
    tenant, each machine once per stop time. Returns how many machines."""
    listening = _listening_tenants()
    if not listening:
        return 0
    found = machines_about_to_stop(at=at, tenant_ids=listening)
    if not found:
        return 0
    claim = secrets.token_hex(16)
    StopWarning.objects.bulk_create(
        [
            StopWarning(
                tenant_id=e.resource.account.tenant_id, resource=e.resource, stop_at=e.next_change.at,
                zone=e.next_change.zone, nonce=secrets.token_hex(16), claim=claim,
            )
            for e in found if e.next_change is not None
        ],
        ignore_conflicts=True,  # warned already by another tick: that row is theirs
    )
    mine = StopWarning.objects.filter(claim=claim).select_related("tenant", "resource__account").order_by("stop_at", "pk")
    by_tenant: dict[int, list[StopWarning]] = defaultdict(list)
    for warning in mine:
        by_tenant[warning.tenant_id].append(warning)
    for warnings in by_tenant.values():
        _warning_send(warnings)
    return sum(len(w) for w in by_tenant.values())


def _warning_send(warnings: list[StopWarning]) -> None:
    tenant = warnings[0].tenant
    minutes = settings.PARKWAY_WARNING_MINUTES
    n = len(warnings)
    title = f"Parkway · {tenant.name}: {n} machine{'s' if n != 1 else ''} stop{'s' if n == 1 else ''} within {minutes} minutes"
    lines, machines = [], []
    for warning in warnings:
        resource = warning.resource
        url = keep_running_url(warning)
        lines.append(
            f"{machine_label(resource)} stops at {in_zone(warning.stop_at, warning.zone, '%H:%M %Z')} "
            f"({warning.zone}). Keep it running 2 more hours: {url}"
        )
        machines.append({
            "account": resource.account.account_id, "resource": resource.resource_id, "name": resource.name,
            "kind": resource.kind, "region": resource.region,
            "stop_at": warning.stop_at.astimezone(dt.UTC).isoformat(), "timezone": warning.zone,
            "stop_local": warning.stop_at.astimezone(zone_or_utc(warning.zone)).isoformat(),
            "keep_running_url": url,
        })
    message = {"title": title, "lines": lines, "data": {"minutes": minutes, "machines": machines}}
    deliveries_create(tenant=tenant, event=Event.PRE_STOP_WARNING, message=message)


def stop_warnings_prune(*, before: dt.datetime) -> int:
    """Forget warnings of stops before `before` (their links expired long ago); daily, with the parking history."""
    deleted, _ = StopWarning.objects.filter(stop_at__lt=before).delete()
    return deleted


# --------------------------------------------------------------------------- the link


def link_expires(warning: StopWarning) -> dt.datetime:
    return warning.stop_at + KEEP_RUNNING_FOR


def keep_running_token(warning: StopWarning) -> str:
    return signing.dumps({"n": warning.nonce, "e": int(link_expires(warning).timestamp())}, salt=SALT)


def keep_running_url(warning: StopWarning) -> str:
    return public_url(reverse("links:keep_running", kwargs={"link_token": keep_running_token(warning)}))


class LinkRefused(Exception):
    """Why a link does nothing, for its page (`status`: 400 not ours, 410 over, 409 used)."""

    def __init__(self, status: int, title: str, message: str, warning: StopWarning | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.warning = status, title, message, warning

    @property
    def used(self) -> bool:
        return self.status == 409


def _not_ours() -> LinkRefused:
    return LinkRefused(
        400, "This link is not valid",
        "Parkway did not make this link, or it was changed or cut on its way (some mail programs break long links). "
        "Open the link from the message exactly as it was sent. Nothing was changed.",
    )


@dataclass(frozen=True)
class Link:
    warning: StopWarning

    @property
    def resource(self) -> Resource:
        return self.warning.resource

    @property
    def until(self) -> dt.datetime:
        return link_expires(self.warning)

    def local(self, value: dt.datetime) -> str:
        return in_zone(value, self.warning.zone)


def keep_running_link_open(token: str, *, now: dt.datetime) -> Link:
    """The link's warning, if the link is ours, unexpired and unused; else LinkRefused."""
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise _not_ours() from None
    if not (isinstance(payload, dict) and isinstance(payload.get("n"), str) and type(payload.get("e")) is int):
        raise _not_ours()
    if not NONCE.fullmatch(payload["n"]):
        raise _not_ours()
    try:
        signed_expiry = dt.datetime.fromtimestamp(payload["e"], tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise _not_ours() from None
    warning = StopWarning.objects.select_related("tenant", "resource__account", "snooze").filter(nonce=payload["n"]).first()
    if warning is None:
        raise LinkRefused(410, "This link no longer works", "The machine it was about is no longer known to Parkway. Nothing was changed.")
    expires = min(link_expires(warning), signed_expiry)
    link = Link(warning)
    if warning.used_at is not None:
        until = f" until {link.local(warning.snooze.until)}" if warning.snooze is not None else ""
        raise LinkRefused(
            409, "This link was used already",
            f"It was used at {link.local(warning.used_at)}: {machine_label(warning.resource)} is kept running{until}. "
            "A link works once. Nothing was changed now.",
            warning,
        )
    if now >= expires:
        raise LinkRefused(
            410, "This link has expired",
            f"It worked until {link.local(expires)}, two hours after the stop it warned about. Nothing was changed. "
            "A person of your team with a Parkway login can still snooze the machine on its page.",
            warning,
        )
    if warning.resource.gone_at is not None:
        raise LinkRefused(410, "This machine no longer exists", "Parkway no longer sees it in AWS. Nothing was changed.", warning)
    return link


def keep_running_link_use(*, token: str, now: dt.datetime | None = None) -> Override:
    """Use the link once: snooze its machine (keep running until the stop + 2 h)
    through the pages' snooze service, as done through the link. LinkRefused otherwise."""
    now = now or timezone.now()
    link = keep_running_link_open(token, now=now)
    warning = link.warning
    with transaction.atomic():
        # Single use: of two clicks at once, one claims the row; the other is refused.
        if not StopWarning.objects.filter(pk=warning.pk, used_at__isnull=True).update(used_at=now):
            raise LinkRefused(409, "This link was used already", "A link works once. Nothing was changed now.", warning)
        try:
            snooze = override_create(
                resource=warning.resource, state=Override.State.RUNNING, until=link.until, actor=LINK_ACTOR,
                reason=LINK_REASON, now=now,
            )
        except ValidationError as exc:  # rolls the claim back too
            raise LinkRefused(410, "This link no longer works", " ".join(exc.messages), warning) from None
        StopWarning.objects.filter(pk=warning.pk).update(snooze=snooze)
    return snooze
