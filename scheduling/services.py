"""Services for schedules: saving from a spec, export and import, audited.

Admin, views and commands call these; they never write schedules from specs
themselves.  A schedule is identified by its name within its owner (a tenant,
or None for the global templates), which is what makes import idempotent:
importing the same file twice updates, never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from scheduling.instance_scheduler import ScheduleImportError, load_import_file
from scheduling.models import Period, Schedule
from scheduling.periods import ScheduleError
from tenants.models import Tenant
from tenants.audit import Actor, audit_record
from tenants.permissions import OPERATE, require

# Copied onto an existing schedule on update; everything else (pk, tenant,
# name, created_at) stays, so resources that point at it keep pointing at it.
_UPDATABLE_FIELDS = ("description", "timezone", "enforced", "retain_running", "stop_new_instances", "override_status")


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    # entry = schedule name, position in the file, or None for the whole file.
    errors: list[ScheduleImportError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{name}: {message}" for name, errors in exc.message_dict.items() for message in errors]
    return list(exc.messages)


def _build(*, spec: dict[str, Any], tenant: Tenant | None) -> tuple[Schedule, list[Period]]:
    """Unsaved, fully validated rows for ``spec``; raises ValidationError.

    compile_spec (inside from_spec) checks what the engine reads; full_clean
    adds what the database enforces (name length, override choices), so that an
    import reports those per entry instead of failing half-way on PostgreSQL.
    """
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "a schedule needs a non-empty name"})
    try:
        schedule, periods = Schedule.from_spec(spec, tenant=tenant)
    except ScheduleError as exc:
        raise ValidationError(str(exc)) from None
    # Uniqueness is not checked here: saving updates by name instead. The
    # tenant is ours to set (excluding it also saves one query per schedule).
    schedule.full_clean(exclude=["tenant"], validate_unique=False, validate_constraints=False)
    for period in periods:
        period.full_clean(exclude=["schedule"])
    return schedule, periods


def _existing_by_name(*, tenant: Tenant | None, names: list[str], lock: bool) -> dict[str, Schedule]:
    queryset = Schedule.objects.filter(tenant=tenant, name__in=names)
    if lock:
        # Two imports updating the same schedule must not interleave their
        # period replacements.
        queryset = queryset.select_for_update()
    return {schedule.name: schedule for schedule in queryset}


def _write(
    *, schedule: Schedule, periods: list[Period], existing: Schedule | None, tenant: Tenant | None, actor: Actor
) -> tuple[Schedule, str]:
    if existing is None:
        schedule.save()
        outcome = "created"
    else:
        for name in _UPDATABLE_FIELDS:
            setattr(existing, name, getattr(schedule, name))
        existing.save()
        existing.periods.all().delete()
        schedule, outcome = existing, "updated"
    for period in periods:
        period.schedule = schedule
    Period.objects.bulk_create(periods)
    audit_record(
        action=f"schedule.{outcome}",
        actor=actor,
        tenant=tenant,
        details={"schedule_id": schedule.pk, "name": schedule.name, "periods": len(periods)},
    )
    return schedule, outcome


@transaction.atomic
def schedule_save_from_spec(*, spec: dict[str, Any], tenant: Tenant | None, actor: Actor) -> tuple[Schedule, str]:
    """Create or update (by name, within ``tenant``; None = global) the schedule
    described by ``spec``, replacing its periods.

    Returns the schedule and "created" or "updated"; on update the schedule
    keeps its primary key.  Raises ValidationError for an invalid spec.
    """
    require(actor, tenant, OPERATE)
    schedule, periods = _build(spec=spec, tenant=tenant)
    existing = _existing_by_name(tenant=tenant, names=[schedule.name], lock=True).get(schedule.name)
    return _write(schedule=schedule, periods=periods, existing=existing, tenant=tenant, actor=actor)


def schedules_export(*, tenant: Tenant | None) -> list[dict[str, Any]]:
    """The specs of ``tenant``'s schedules (None = the global templates), by name.

    The output is the import format: exporting and importing it again changes
    nothing.
    """
    schedules = Schedule.objects.filter(tenant=tenant).prefetch_related("periods").order_by("name")
    return [schedule.to_spec() for schedule in schedules]


def schedules_import(*, data: Any, tenant: Tenant | None, actor: Actor, dry_run: bool = False) -> ImportReport:
    """Import schedules from an upload: Parkway's export, or Instance Scheduler's
    ``scheduler-cli describe-schedules`` / ``describe-periods`` output.

    All or nothing: every entry is validated first, and if any is bad nothing is
    written and the report lists each bad entry.  Otherwise all schedules are
    created or updated (by name) in one transaction.  A dry run validates the
    same way and reports what would be created or updated, writing nothing.
    """
    require(actor, tenant, OPERATE)
    report = ImportReport(dry_run=dry_run)
    try:
        specs, report.errors = load_import_file(data)
    except ScheduleImportError as exc:
        report.errors = [exc]
        return report

    built: list[tuple[Schedule, list[Period]]] = []
    for spec in specs:
        try:
            built.append(_build(spec=spec, tenant=tenant))
        except ValidationError as exc:
            report.errors.append(ScheduleImportError(spec["name"], "; ".join(_messages(exc))))
    if report.errors:
        return report

    names = [schedule.name for schedule, _ in built]
    if dry_run:
        existing = _existing_by_name(tenant=tenant, names=names, lock=False)
        for name in names:
            (report.updated if name in existing else report.created).append(name)
        return report

    with transaction.atomic():
        existing = _existing_by_name(tenant=tenant, names=names, lock=True)
        for schedule, periods in built:
            _, outcome = _write(
                schedule=schedule, periods=periods, existing=existing.get(schedule.name), tenant=tenant, actor=actor
            )
            (report.created if outcome == "created" else report.updated).append(schedule.name)
    return report


def schedules_delete(*, schedules: Iterable[Schedule], actor: Actor) -> int:
    """Delete schedules, one audit event each (their machines fall back to their
    schedule tag: Resource.schedule is SET_NULL). Returns how many."""
    deleted = 0
    with transaction.atomic():
        for schedule in schedules:
            require(actor, schedule.tenant, OPERATE)
            details = {"schedule_id": schedule.pk, "name": schedule.name}
            tenant = schedule.tenant
            schedule.delete()
            audit_record(action="schedule.deleted", actor=actor, tenant=tenant, details=details)
            deleted += 1
    return deleted
