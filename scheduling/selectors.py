"""Reads that cross relations: what a resource should be doing now, and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


from scheduling.inventory import ScheduleBook, usable_schedules
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
    rows = usable_schedules(tenant_ids)
    books = {tenant_id: ScheduleBook.from_rows(rows, tenant_id=tenant_id) for tenant_id in tenant_ids}
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
        book = books[resource.account.tenant_id]
        schedule = book.schedule_of(resource)
        if schedule is None:
            result[resource.pk] = DesiredNow("", book.note_for(resource) or "not scheduled")
            continue
        source = "assigned" if resource.schedule_id is not None else "from tag"
        try:
            state = cached_compile(schedule.to_spec()).desired_state(at)
        except ScheduleError as exc:
            result[resource.pk] = DesiredNow("", f"schedule {schedule.name} is invalid: {exc}", schedule=schedule)
            continue
        label = "no change" if state == "any" else state
        result[resource.pk] = DesiredNow(state, f"{label} — schedule {schedule.name} ({source})", schedule=schedule)
    return result
