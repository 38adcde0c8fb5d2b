"""Schedules: your own (read, create, change, delete) and the global templates
(read only), the week grid, and import / export in the management commands'
formats. The same services as the schedule pages and commands."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status

from api.auth import principal_of
from api.endpoints.common import ERRORS, ID, Error
from api.errors import ApiError
from scheduling.models import Schedule
from scheduling.periods import ScheduleError, week_grid
from scheduling.selectors import schedule_summary, visible_schedules
from scheduling.services import schedule_save, schedules_delete, schedules_export, schedules_import, tag_users
from tenants.permissions import OPERATE

router = Router(tags=["schedules"])

MAX_PERIODS = 20


class PeriodSpec(Schema):
    begintime: str | None = Field(None, max_length=5, description="HH:MM, the schedule's zone; null: from midnight.")
    endtime: str | None = Field(None, max_length=5, description="HH:MM; null: to the end of the day.")
    weekdays: str | None = Field(None, max_length=200, description="e.g. mon-fri, sat#1, friL")
    monthdays: str | None = Field(None, max_length=200, description="e.g. 1-15, L, 15W")
    months: str | None = Field(None, max_length=200, description="e.g. jan-mar")


class ScheduleSpec(Schema):
    """The schedule format of `export_schedules` / `import_schedules`."""

    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    timezone: str = Field("UTC", max_length=64, description="IANA zone, e.g. Europe/Berlin.")
    enforced: bool = False
    retain_running: bool = False
    stop_new_instances: bool = True
    override_status: Literal["running", "stopped"] | None = Field(None, description="Always running / stopped, whatever the periods.")
    asg_mode: Literal["scale", "suspend"] = "scale"
    periods: list[PeriodSpec] = Field(default_factory=list, max_length=MAX_PERIODS)


class ScheduleOut(ScheduleSpec):
    id: int
    is_global: bool = Field(..., description="A template every organisation may use; read only.")
    summary: str
    machines: int = Field(..., description="Current machines assigned to it (tagged ones not counted).")
    tagged_machines: int = Field(..., description="Current machines whose Schedule tag names it.")
    created_at: dt.datetime
    updated_at: dt.datetime


class WeekDay(Schema):
    date: dt.date
    states: list[str] = Field(..., description="96 quarter hours from local midnight: running | stopped | any")


class WeekOut(Schema):
    schedule: int
    timezone: str
    week_of: dt.date = Field(..., description="The Monday the grid starts on, in the schedule's zone.")
    days: list[WeekDay]


class ImportErrorOut(Schema):
    entry: str | None
    message: str


class ImportOut(Schema):
    dry_run: bool
    created: list[str]
    updated: list[str]


def spec_of(schedule: Schedule) -> dict[str, Any]:
    spec = schedule.to_spec()
    return spec | {"asg_mode": schedule.asg_mode or "scale", "override_status": schedule.override_status or None}


def schedule_json(schedule: Schedule, *, machines: int | None = None) -> dict:
    tenant = schedule.tenant
    if machines is None:
        machines = schedule.resources.filter(gone_at__isnull=True).count()
    return spec_of(schedule) | {
        "id": schedule.pk, "is_global": schedule.is_global, "summary": schedule_summary(schedule),
        "machines": machines, "tagged_machines": tag_users(tenant=tenant, name=schedule.name) if tenant else 0,
        "created_at": schedule.created_at, "updated_at": schedule.updated_at,
    }


def _visible(request: HttpRequest, schedule_pk: int) -> Schedule:
    return get_object_or_404(visible_schedules(principal_of(request).tenant).prefetch_related("periods"), pk=schedule_pk)


def _own(request: HttpRequest, schedule_pk: int) -> Schedule:
    """The tenant's own schedule: a global template is not theirs to change (404, as on the pages)."""
    return get_object_or_404(Schedule.objects.filter(tenant=principal_of(request).tenant).prefetch_related("periods"),
                             pk=schedule_pk)


def _spec(payload: ScheduleSpec) -> dict[str, Any]:
    spec = payload.dict()
    spec["periods"] = [{k: v for k, v in p.items() if v not in (None, "")} for p in spec["periods"]]
    return spec


@router.get("/schedules", response={200: list[ScheduleOut], **ERRORS}, summary="Your schedules and the global templates")
def list_schedules(request: HttpRequest) -> list[dict]:
    tenant = principal_of(request).tenant
    schedules = (
        visible_schedules(tenant).prefetch_related("periods")
        .annotate(machines=Count("resources", filter=Q(resources__gone_at__isnull=True, resources__account__tenant=tenant)))
        .order_by("tenant_id", "name")
    )
    return [schedule_json(s, machines=s.machines) for s in schedules]


@router.get("/schedules/export", response={200: list[ScheduleSpec], **ERRORS},
            summary="Your schedules in the export_schedules format")
def export_schedules(request: HttpRequest) -> list[dict]:
    """What `manage.py export_schedules --tenant <you>` writes; POST it to
    /schedules/import (here or in another organisation) to get the same schedules."""
    return schedules_export(tenant=principal_of(request).tenant)


@router.post(
    "/schedules/import", response={200: ImportOut, **ERRORS}, summary="Import schedules (all or nothing)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "description": "Parkway's export (a list of schedules), or Instance Scheduler's `scheduler-cli "
                       "describe-schedules` / `describe-periods` output (one object with both, or a list of the two).",
        "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}],
    }}}}},
)
def import_schedules(request: HttpRequest, dry_run: bool = Query(False, description="Check and report; write nothing.")) -> dict:
    """Creates or updates (by name) every schedule of the document. If any entry
    is invalid nothing is written: 422, each bad entry under `fields`."""
    principal = principal_of(request)
    principal.require(OPERATE)
    report = schedules_import(data=request.body, tenant=principal.tenant, actor=principal.user, dry_run=dry_run)
    if report.errors:
        fields: dict[str, list[str]] = {}
        for error in report.errors:
            fields.setdefault("__all__" if error.entry is None else str(error.entry), []).append(error.message)
        count = len(report.errors)
        raise ApiError(422, f"{count} invalid entr{'y' if count == 1 else 'ies'}; nothing was written.", fields=fields)
    return {"dry_run": report.dry_run, "created": report.created, "updated": report.updated}


@router.get("/schedules/{schedule_pk}", response={200: ScheduleOut, **ERRORS}, summary="Read a schedule")
def read_schedule(request: HttpRequest, schedule_pk: int = Path(..., **ID)) -> dict:
    return schedule_json(_visible(request, schedule_pk))


@router.post("/schedules", response={201: ScheduleOut, **ERRORS}, summary="Create a schedule")
def create_schedule(request: HttpRequest, payload: ScheduleSpec) -> Status:
    principal = principal_of(request)
    principal.require(OPERATE)
    schedule = schedule_save(spec=_spec(payload), tenant=principal.tenant, actor=principal.user)
    return Status(201, schedule_json(_visible(request, schedule.pk)))


@router.put("/schedules/{schedule_pk}", response={200: ScheduleOut, **ERRORS}, summary="Change a schedule (all of it)")
def update_schedule(request: HttpRequest, payload: ScheduleSpec, schedule_pk: int = Path(..., **ID)) -> dict:
    """Replaces the schedule, its periods included; machines assigned to it keep
    following it, renamed or not (machines whose tag names the old name no longer do)."""
    principal = principal_of(request)
    schedule = _own(request, schedule_pk)
    principal.require(OPERATE)
    schedule_save(spec=_spec(payload), tenant=principal.tenant, actor=principal.user, schedule=schedule)
    return schedule_json(_visible(request, schedule.pk))


@router.delete("/schedules/{schedule_pk}", response={204: None, 409: Error, **ERRORS}, summary="Delete a schedule")
def delete_schedule(request: HttpRequest, schedule_pk: int = Path(..., **ID)) -> Status:
    """Refused (409, code `schedule_in_use`) while machines are assigned to it."""
    principal = principal_of(request)
    schedule = _own(request, schedule_pk)
    principal.require(OPERATE)
    try:
        schedules_delete(schedules=[schedule], actor=principal.user)
    except ValidationError as exc:
        if exc.code == "schedule_in_use":
            raise ApiError(409, " ".join(exc.messages), code="schedule_in_use") from None
        raise
    return Status(204, None)


@router.get("/schedules/{schedule_pk}/week", response={200: WeekOut, **ERRORS},
            summary="The week grid: the wanted state every quarter hour")
def schedule_week(request: HttpRequest, schedule_pk: int = Path(..., **ID),
                  week_of: dt.date | None = Query(None, description="Any day of the week (default: this week).")) -> dict:
    schedule = _visible(request, schedule_pk)
    try:
        compiled = schedule.compiled()
    except ScheduleError as exc:
        raise ApiError(409, f"This schedule cannot be evaluated: {exc}", code="schedule_invalid") from None
    day = week_of or timezone.now().astimezone(compiled.zone).date()
    monday = day - dt.timedelta(days=day.weekday())
    if monday.year < 2 or day.year > 9998:
        raise ApiError(422, "Choose a week between the years 2 and 9998.", fields={"week_of": ["Out of range."]})
    grid = week_grid(compiled, monday)
    return {"schedule": schedule.pk, "timezone": compiled.timezone, "week_of": monday,
            "days": [{"date": monday + dt.timedelta(days=i), "states": states} for i, states in enumerate(grid)]}
