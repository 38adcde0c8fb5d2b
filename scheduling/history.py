"""Retention: parking history and the audit log are kept for a bounded time.

`history_prune` deletes parking runs (with their actions) older than
PARKWAY_HISTORY_DAYS and audit events older than PARKWAY_AUDIT_DAYS, a batch of
ids per DELETE, each batch its own transaction: memory and lock time stay
bounded however much has piled up, and a prune stopped halfway has still done
useful work. The command, the daily task and nothing else call it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import models, transaction

from portal.zones import format_when
from scheduling.models import ParkingAction, ParkingRun
from tenants.models import AuditEvent

logger = logging.getLogger(__name__)

MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class PruneReport:
    runs: int
    actions: int
    audit_events: int
    runs_before: dt.datetime
    audit_before: dt.datetime
    dry_run: bool

    def __str__(self) -> str:
        verb = "Would delete" if self.dry_run else "Deleted"
        return (
            f"{verb} {self.runs} parking run(s) and {self.actions} action(s) started before "
            f"{format_when(self.runs_before)}, and {self.audit_events} audit event(s) "
            f"before {format_when(self.audit_before)}"
        )


def runs_prunable(*, before: dt.datetime) -> models.QuerySet[ParkingRun]:
    """Runs started before `before` that the engine is done with.

    A run still *running*, or with a *pending* action, is kept whatever its age:
    the next run of its account reconciles those from AWS's real state, and
    deleting them would lose the record of a call that may have acted.
    """
    pending = ParkingAction.objects.filter(run=models.OuterRef("pk"), outcome=ParkingAction.Outcome.PENDING)
    return (
        ParkingRun.objects.filter(started_at__lt=before)
        .exclude(status=ParkingRun.Status.RUNNING)
        .exclude(models.Exists(pending))
    )


def history_prune(
    *, now: dt.datetime, history_days: int, audit_days: int, batch_size: int = 1000, dry_run: bool = False
) -> PruneReport:
    if history_days < 1 or audit_days < 1:
        raise ValueError("history_days and audit_days must be at least 1.")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}.")
    runs_before = now - dt.timedelta(days=history_days)
    audit_before = now - dt.timedelta(days=audit_days)
    runs = runs_prunable(before=runs_before)
    events = AuditEvent.objects.filter(created_at__lt=audit_before)
    if dry_run:
        return PruneReport(
            runs=runs.count(),
            actions=ParkingAction.objects.filter(run__in=runs).count(),
            audit_events=events.count(),
            runs_before=runs_before,
            audit_before=audit_before,
            dry_run=True,
        )

    deleted_runs = deleted_actions = 0
    while ids := list(runs.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            # The condition is applied again inside the transaction, so a run that
            # stopped qualifying since the ids were read is kept.
            _, per_model = runs.filter(pk__in=ids).delete()
        deleted_runs += per_model.get(ParkingRun._meta.label, 0)
        deleted_actions += per_model.get(ParkingAction._meta.label, 0)
        if per_model.get(ParkingRun._meta.label, 0) == 0:
            break  # every id read stopped qualifying: do not spin on them

    deleted_events = 0
    while ids := list(events.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            # A queryset delete: AuditEvent.delete() refuses single deletions on
            # purpose; retention is the one way audit events leave the database.
            count, _ = events.filter(pk__in=ids).delete()
        deleted_events += count
        if count == 0:
            break

    report = PruneReport(
        runs=deleted_runs,
        actions=deleted_actions,
        audit_events=deleted_events,
        runs_before=runs_before,
        audit_before=audit_before,
        dry_run=False,
    )
    logger.info("History prune: %s", report)
    return report
