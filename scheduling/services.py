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

from scheduling.due import accounts_mark_changed
from scheduling.instance_scheduler import ScheduleImportError, load_import_file
from scheduling.models import Period, Resource, Schedule
from scheduling.periods import ScheduleError
from tenants.models import Tenant
from tenants.audit import Actor, audit_record
from tenants.permissions import OPERATE, require

# Copied onto an existing schedule on update; everything else (pk, tenant,
# created_at) stays, so resources that point at it keep pointing at it. The name
# changes only through schedule_save (a rename); import goes by name.
_UPDATABLE_FIELDS = ("description", "timezone", "enforced", "retain_running", "stop_new_instances", "override_status", "asg_mode")

NO_PERIODS = (
    "A schedule needs at least one period, or an override (always running or always stopped): "
    "with neither it would keep its machines stopped for ever."
)


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
    if not periods and not schedule.override_status:
        # The engine would read it as "always stopped", and Instance Scheduler's
        # format (our export) cannot say that: refuse it everywhere instead.
        raise ValidationError({"periods": NO_PERIODS}, code="no_periods")
    return schedule, periods


def schedule_validate(*, spec: dict[str, Any], tenant: Tenant | None) -> None:
    """Raise ValidationError if ``spec`` is not a schedule that can be saved
    (forms call it to show every problem before anything is written)."""
    _build(spec=spec, tenant=tenant)


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
    details: dict[str, Any] = {}
    if existing is None:
        schedule.save()
        outcome = "created"
    else:
        if existing.name != schedule.name:
            details["renamed_from"] = existing.name
        for name in ("name", *_UPDATABLE_FIELDS):
            setattr(existing, name, getattr(schedule, name))
        existing.save()
        existing.periods.all().delete()
        schedule, outcome = existing, "updated"
    for period in periods:
        period.pk, period.schedule = None, schedule  # the periods are replaced, never edited in place
    Period.objects.bulk_create(periods)
    # What its machines want may change now, between its transitions: the next tick looks.
    accounts_mark_changed(tenant_ids=[schedule.tenant_id])
    audit_record(
        action=f"schedule.{outcome}",
        actor=actor,
        tenant=tenant,
        details={"schedule_id": schedule.pk, "name": schedule.name, "periods": len(periods), **details},
    )
    return schedule, outcome


@transaction.atomic
def schedule_save(*, spec: dict[str, Any], tenant: Tenant | None, actor: Actor, schedule: Schedule | None = None) -> Schedule:
    """Create the schedule ``spec`` describes (``schedule`` None), or make
    ``schedule`` match it, its name and periods included.

    Unlike schedule_save_from_spec (which goes by name, for imports), a name
    another of the owner's schedules already has is refused, never overwritten.
    Machines assigned to a renamed schedule keep following it; machines whose
    Schedule tag names the old name no longer find it (see `tag_users`).
    """
    require(actor, tenant, OPERATE)
    built, periods = _build(spec=spec, tenant=tenant)
    existing = None
    if schedule is not None:
        existing = Schedule.objects.select_for_update().get(pk=schedule.pk, tenant=tenant)
    clash = Schedule.objects.filter(tenant=tenant, name=built.name).exclude(pk=getattr(existing, "pk", None))
    if clash.exists():
        raise ValidationError(
            {"name": f"You already have a schedule named {built.name}: choose another name, or edit that one."},
            code="duplicate_name",
        )
    saved, _ = _write(schedule=built, periods=periods, existing=existing, tenant=tenant, actor=actor)
    return saved


def tag_users(*, tenant: Tenant | None, name: str) -> int:
    """How many current machines name ``name`` in their Schedule tag (for
    ``tenant``'s machines; None = every tenant's, for a global template)."""
    machines = Resource.objects.filter(schedule_tag=name, gone_at__isnull=True)
    if tenant is not None:
        machines = machines.filter(account__tenant=tenant)
    return machines.count()


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


def assigned_machines(schedules: Iterable[Schedule]) -> list[Resource]:
    """Current machines explicitly assigned to any of ``schedules`` (what blocks deleting them)."""
    return list(
        Resource.objects.filter(schedule__in=list(schedules), gone_at__isnull=True)
        .select_related("account", "schedule")
        .order_by("schedule__name", "name", "resource_id")
    )


def schedules_delete(*, schedules: Iterable[Schedule], actor: Actor) -> int:
    """Delete schedules, one audit event each. Returns how many.

    Refused (ValidationError naming them) while machines are explicitly assigned
    to one: they would silently fall back to their tag or to no schedule at all.
    Machines that only name a deleted schedule in their Schedule tag show it as
    an unknown schedule afterwards (the resolver says so)."""
    schedules = list(schedules)
    deleted = 0
    with transaction.atomic():
        blocking = assigned_machines(Schedule.objects.select_for_update().filter(pk__in=[s.pk for s in schedules]))
        if blocking:
            names = ", ".join(f"{r.name or r.resource_id} ({r.schedule.name})" for r in blocking[:20])
            more = f" and {len(blocking) - 20} more" if len(blocking) > 20 else ""
            raise ValidationError(
                f"Machines are assigned to this schedule: {names}{more}. Assign them another schedule first.",
                code="schedule_in_use",
            )
        for schedule in schedules:
            require(actor, schedule.tenant, OPERATE)
            details = {"schedule_id": schedule.pk, "name": schedule.name, "tagged_machines": tag_users(tenant=schedule.tenant, name=schedule.name)}
            tenant = schedule.tenant
            schedule.delete()
            accounts_mark_changed(tenant_ids=[tenant.pk if tenant is not None else None])
            audit_record(action="schedule.deleted", actor=actor, tenant=tenant, details=details)
            deleted += 1
    return deleted
