"""Reads that cross relations: what a resource should be doing now, and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from scheduling.models import Override, Resource, Schedule
from scheduling.periods import ScheduleError
from scheduling.periods.engine import cached_compile


@dataclass(frozen=True)
class DesiredNow:
    state: str  # running / stopped / any / "" (not scheduled)
    reason: str
    schedule: Schedule | None = None
    override: Override | None = None


def desired_now(resources: Iterable[Resource], *, at: dt.datetime) -> dict[int, DesiredNow]:
    """For each resource (with `account` loaded), its desired state at `at`.

    Three queries whatever the number of resources: schedules, their periods,
    and active overrides. Each schedule is compiled once.
    """
    resources = list(resources)
    if not resources:
        return {}
    tenant_ids = {r.account.tenant_id for r in resources}
    schedules = list(
        Schedule.objects.filter(Q(tenant_id__in=tenant_ids) | Q(tenant__isnull=True)).prefetch_related("periods")
    )
    by_pk = {s.pk: s for s in schedules}
    globals_by_name = {s.name: s for s in schedules if s.tenant_id is None}
    own_by_name = {(s.tenant_id, s.name): s for s in schedules if s.tenant_id is not None}
    overrides: dict[int, Override] = {}
    for override in Override.objects.filter(
        resource__in=[r.pk for r in resources], cancelled_at__isnull=True, until__gt=at
    ).order_by("resource_id", "-created_at"):
        overrides.setdefault(override.resource_id, override)

    result: dict[int, DesiredNow] = {}
    for resource in resources:
        override = overrides.get(resource.pk)
        if override is not None:
            result[resource.pk] = DesiredNow(override.state, f"snoozed until {override.until:%Y-%m-%d %H:%M %Z}", override=override)
            continue
        if resource.schedule_id is not None:
            schedule, source = by_pk.get(resource.schedule_id), "assigned"
        elif resource.schedule_tag:
            tenant_id = resource.account.tenant_id
            schedule = own_by_name.get((tenant_id, resource.schedule_tag)) or globals_by_name.get(resource.schedule_tag)
            source = "from tag"
            if schedule is None:
                result[resource.pk] = DesiredNow("", f"schedule '{resource.schedule_tag}' not found")
                continue
        else:
            result[resource.pk] = DesiredNow("", "not scheduled")
            continue
        try:
            state = cached_compile(schedule.to_spec()).desired_state(at)
        except ScheduleError as exc:
            result[resource.pk] = DesiredNow("", f"schedule {schedule.name} is invalid: {exc}", schedule=schedule)
            continue
        label = "no change" if state == "any" else state
        result[resource.pk] = DesiredNow(state, f"{label} — schedule {schedule.name} ({source})", schedule=schedule)
    return result
