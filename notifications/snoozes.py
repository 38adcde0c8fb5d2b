"""Snoozes set and ended, told to the channels that chose them.

One message per tenant per action: snoozing forty machines at once is one
message, not forty. A snooze's end is told once (`Override.end_told_at`,
claimed by a conditional update): when a person cancels it, or, when it runs
out, by the next tick — which asks the resolver whether another snooze still
holds the machine (then nothing ended) and what the machine does now.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import F

from notifications.delivery import deliveries_create
from notifications.models import Event
from notifications.texts import in_zone, machine_label
from scheduling import resolver
from scheduling.models import Override
from tenants.audit import Actor, actor_label
from tenants.models import Tenant

# A snooze that ran out longer ago than this (the worker was down) is not told late.
TELL_ENDS_WITHIN = dt.timedelta(days=1)
MAX_LINES = 50


def _by_tenant(overrides: Iterable[Override]) -> dict[Tenant, list[Override]]:
    grouped: dict[Tenant, list[Override]] = defaultdict(list)
    for override in overrides:
        grouped[override.resource.account.tenant].append(override)
    return grouped


def _entry(override: Override, **extra: object) -> dict:
    resource = override.resource
    return {
        "account": resource.account.account_id, "resource": resource.resource_id, "name": resource.name,
        "state": override.state, "until": override.until.astimezone(dt.UTC).isoformat(),
        "by": override.created_by_label, "reason": override.reason,
    } | extra


def _send(tenant: Tenant, *, title: str, lines: list[str], action: str, snoozes: list[dict]) -> None:
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"… and {len(lines) - MAX_LINES} more"]
    message = {"title": title, "lines": lines, "data": {"action": action, "snoozes": snoozes}}
    deliveries_create(tenant=tenant, event=Event.SNOOZES, message=message)


def _machines(n: int) -> str:
    return f"{n} machine{'s' if n != 1 else ''}"


def snoozes_set(*, overrides: Sequence[Override], actor: Actor) -> None:
    """New snoozes (with `resource.account.tenant` loaded), from one action of `actor`."""
    who = actor_label(actor)
    for tenant, rows in _by_tenant(overrides).items():
        lines = [
            f"{machine_label(o.resource)}: {o.get_state_display().lower()} until {in_zone(o.until, tenant.timezone)}"
            + (f" ({o.reason})" if o.reason else "")
            for o in rows
        ]
        _send(
            tenant, title=f"Parkway · {tenant.name}: {_machines(len(rows))} snoozed by {who}", lines=lines,
            action="set", snoozes=[_entry(o) for o in rows],
        )


def snoozes_cancelled(*, overrides: Sequence[Override], actor: Actor) -> None:
    """Snoozes `actor` just cancelled (their end is told now, so never again by the tick)."""
    who = actor_label(actor)
    for tenant, rows in _by_tenant(overrides).items():
        lines = [f"{machine_label(o.resource)}: snooze (keep {o.state}) cancelled; it follows its schedule again" for o in rows]
        _send(
            tenant, title=f"Parkway · {tenant.name}: snooze of {_machines(len(rows))} cancelled by {who}", lines=lines,
            action="cancelled", snoozes=[_entry(o) for o in rows],
        )


def snooze_ends_send(*, at: dt.datetime) -> int:
    """Tell the snoozes that ran out by `at` and were not told yet; returns how many."""
    # Ran out too long ago (the worker was down): marked told, never told late.
    Override.objects.filter(
        end_told_at__isnull=True, cancelled_at__isnull=True, until__lte=at - TELL_ENDS_WITHIN
    ).update(end_told_at=F("until"))
    ended = list(
        Override.objects.filter(end_told_at__isnull=True, cancelled_at__isnull=True, until__lte=at)
        .select_related("resource__account__tenant").order_by("until", "pk")
    )
    if not ended:
        return 0
    # Claimed one by one: of several ticks, each snooze is told by exactly one.
    mine = [o for o in ended if Override.objects.filter(pk=o.pk, end_told_at__isnull=True).update(end_told_at=at) == 1]
    resources = {o.resource_id: o.resource for o in mine if o.resource.gone_at is None}
    still = resolver.active_overrides(resources.keys(), at=at)  # a newer snooze holds it: nothing ended
    now_doing = resolver.resources_explain([r for pk, r in resources.items() if pk not in still], at=at)
    told = [o for o in mine if o.resource_id in now_doing]
    for tenant, rows in _by_tenant(told).items():
        lines = []
        for o in rows:
            explained = now_doing[o.resource_id]
            then = f"the next tick will {explained.action}" if explained.action in ("start", "stop") else "nothing to do now"
            lines.append(
                f"{machine_label(o.resource)}: {o.get_state_display().lower()} ended at {in_zone(o.until, tenant.timezone)}; "
                f"{then} ({explained.reason})"
            )
        _send(
            tenant, title=f"Parkway · {tenant.name}: snooze of {_machines(len(rows))} ended", lines=lines,
            action="ended",
            snoozes=[_entry(o, next_action=now_doing[o.resource_id].action) for o in rows],
        )
    return len(told)
