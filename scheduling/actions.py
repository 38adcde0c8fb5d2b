"""What people do to machines by hand: park or start now, snooze, clear a snooze,
assign a schedule.

Used by the admin and the self-service page; every change is audited.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from scheduling import executor
from scheduling.inventory import schedules_for
from scheduling.models import Override, ParkingAction, ParkingRun, Resource, Schedule
from tenants import aws
from tenants.services import Actor, actor_label, audit_record

MAX_SNOOZE = dt.timedelta(days=30)


@dataclass
class ActNowReport:
    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (resource id, message)


def resources_act_now(*, resources: Iterable[Resource], action: str, actor: Actor) -> ActNowReport:
    """Stop ("stop") or start ("start") machines now, batched per account and region.

    The stored desired state is left alone: the schedule resumes at its next
    transition, and until then this manual change is respected like any other.
    """
    if action not in ("start", "stop"):
        raise ValueError(f"unknown action {action!r}")
    report = ActNowReport()
    groups: dict[tuple[int, str], list[Resource]] = defaultdict(list)
    for resource in resources:
        if resource.gone_at is not None:
            report.failed.append((resource.resource_id, "no longer exists in AWS"))
            continue
        groups[(resource.account_id, resource.region)].append(resource)
    for (_, region), members in groups.items():
        account = members[0].account
        now = timezone.now()
        run = ParkingRun.objects.create(account=account, tick_at=now, started_at=now)
        records = []
        reason = f"{action} now by {actor_label(actor)}"
        try:
            with aws.counting_calls() as calls:
                ec2 = aws.client(aws.session_for(account), "ec2", region)
                outcomes = executor.execute(ec2, action, [r.resource_id for r in members])
        except (aws.AwsError, executor.AccountFailure) as exc:
            message = exc.error.message if isinstance(exc, executor.AccountFailure) else exc.message
            report.failed.extend((r.resource_id, message) for r in members)
            ParkingRun.objects.filter(pk=run.pk).update(status=ParkingRun.Status.FAILED, error=message, finished_at=timezone.now())
            continue
        for resource in members:
            outcome = outcomes[resource.resource_id]
            if outcome.ok:
                report.succeeded.append(resource.resource_id)
                Resource.objects.filter(pk=resource.pk).update(state=outcome.new_state or resource.state)
            else:
                report.failed.append((resource.resource_id, f"{outcome.code}: {outcome.message}"))
            records.append(ParkingAction(
                run=run, resource=resource, action=action, reason=reason,
                outcome=ParkingAction.Outcome.SUCCEEDED if outcome.ok else ParkingAction.Outcome.FAILED,
                error_code=outcome.code[:100], error_message=outcome.message,
            ))
        with transaction.atomic():
            ParkingAction.objects.bulk_create(records)
            failed = sum(1 for r in records if r.outcome == ParkingAction.Outcome.FAILED)
            ParkingRun.objects.filter(pk=run.pk).update(
                status=ParkingRun.Status.PARTIAL if failed else ParkingRun.Status.SUCCEEDED,
                planned=len(records), succeeded=len(records) - failed, failed=failed,
                aws_calls=dict(calls), finished_at=timezone.now(),
            )
            audit_record(
                action=f"resource.{action}_now", actor=actor, account=account,
                details={"region": region, "resources": [r.resource_id for r in members], "failed": failed},
            )
    return report


def override_create(
    *, resource: Resource, state: str, until: dt.datetime, actor: Actor, reason: str = "", now: dt.datetime | None = None
) -> Override:
    """Snooze: keep `resource` running/stopped until `until` (at most 30 days ahead)."""
    now = now or timezone.now()
    if state not in Override.State.values:
        raise ValidationError({"state": "Choose keep running or keep stopped."})
    if until.tzinfo is None:
        raise ValidationError({"until": "The end of a snooze needs a time zone."})
    if until <= now:
        raise ValidationError({"until": "The snooze must end in the future."})
    if until - now > MAX_SNOOZE:
        raise ValidationError({"until": "A snooze lasts at most 30 days; assign another schedule instead."})
    with transaction.atomic():
        override = Override.objects.create(
            resource=resource, state=state, until=until, reason=reason[:300],
            created_by=None if isinstance(actor, str) else actor, created_by_label=actor_label(actor),
        )
        audit_record(
            action="resource.snoozed", actor=actor, account=resource.account,
            details={"resource": resource.resource_id, "state": state, "until": until.isoformat(), "reason": reason[:300]},
        )
    return override


def override_clear(*, resource: Resource, actor: Actor, now: dt.datetime | None = None) -> int:
    """Cancel the resource's active snoozes; they stay as history."""
    now = now or timezone.now()
    with transaction.atomic():
        cancelled = Override.objects.filter(resource=resource, cancelled_at__isnull=True, until__gt=now).update(cancelled_at=now)
        if cancelled:
            audit_record(action="resource.snooze_cleared", actor=actor, account=resource.account, details={"resource": resource.resource_id})
    return cancelled


def resource_assign_schedule(*, resource: Resource, schedule: Schedule | None, actor: Actor) -> Resource:
    """Make `resource` follow `schedule` (its tenant's own or a global template);
    None hands it back to its schedule tag. Audited with before and after."""
    account = resource.account
    if not resource.may_follow(schedule):
        # Never say whose schedule it is.
        raise ValidationError({"schedule": "Choose one of your schedules or a global template."})
    before = resource.schedule
    with transaction.atomic():
        resource.schedule = schedule
        # The note explains a tag that names no schedule; an explicit choice makes it moot.
        resource.assignment_note = "" if schedule is not None else schedules_for(account).note_for(resource)
        resource.save(update_fields=["schedule", "assignment_note"])
        audit_record(
            action="resource.schedule_assigned",
            actor=actor,
            account=account,
            details={
                "resource": resource.resource_id,
                "before": before.name if before else None,
                "after": schedule.name if schedule else None,
                "tag": resource.schedule_tag or None,
            },
        )
    return resource
