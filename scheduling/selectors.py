"""Selectors shared by the self-service pages and the REST API: which machines
and schedules a tenant sees, and the resources list's filters and search."""

from __future__ import annotations

from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from scheduling.models import Resource, Schedule
from scheduling.periods import ScheduleError, summarize
from tenants.models import Tenant


def visible_schedules(tenant: Tenant) -> QuerySet[Schedule]:
    """The tenant's own schedules and the global templates."""
    return Schedule.objects.filter(Q(tenant=tenant) | Q(tenant__isnull=True))


def schedule_choices(tenant: Tenant) -> list[Schedule]:
    return sorted(visible_schedules(tenant), key=lambda s: (s.tenant_id is None, s.name.lower()))


def schedule_summary(schedule: Schedule) -> str:
    try:
        return summarize(schedule.to_spec())
    except ScheduleError as exc:
        return f"cannot be evaluated: {exc}"


def search_resources(resources: QuerySet[Resource], text: str) -> QuerySet[Resource]:
    """``key=value``: machines with that tag; anything else: in the name or the instance ID."""
    text = text.strip()
    if not text:
        return resources
    key, sep, value = text.partition("=")
    if sep and key.strip():
        # A transform, not a lookup built from the key: "a__b" stays one tag key.
        # Cast: compared as text on every database (SQLite would read the value as JSON).
        tag = Cast(KeyTextTransform(key.strip(), "tags"), output_field=TextField())
        return resources.annotate(tag_value=tag).filter(tag_value=value.strip())
    return resources.filter(Q(name__icontains=text) | Q(resource_id__icontains=text))


def filter_resources(resources: QuerySet[Resource], data: dict[str, str], schedules: list[Schedule]) -> QuerySet[Resource]:
    resources = search_resources(resources, data.get("q") or "")
    if data.get("account"):
        resources = resources.filter(account_id=data["account"])
    if data.get("region"):
        resources = resources.filter(region=data["region"])
    if data.get("kind"):
        resources = resources.filter(kind=data["kind"])
    if data.get("state"):
        resources = resources.filter(state=data["state"])
    wanted = data.get("schedule")
    if wanted == "tag":
        resources = resources.filter(schedule__isnull=True).exclude(schedule_tag="")
    elif wanted == "none":
        resources = resources.filter(schedule__isnull=True, schedule_tag="")
    elif wanted:
        schedule = next(s for s in schedules if str(s.pk) == wanted)
        # Machines follow it when assigned, or through their tag unless the
        # tenant's own schedule of the same name wins over this template.
        shadowed = schedule.is_global and any(not s.is_global and s.name == schedule.name for s in schedules)
        match = Q(schedule=schedule)
        if not shadowed:
            match |= Q(schedule__isnull=True, schedule_tag=schedule.name)
        resources = resources.filter(match)
    return resources


def tenant_resources(tenant: Tenant) -> QuerySet[Resource]:
    """The machines a tenant's pages show: those of its accounts that are not disconnected."""
    return Resource.objects.filter(account__tenant=tenant, account__disconnected_at__isnull=True)
