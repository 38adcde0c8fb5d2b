"""What people do to machines by hand: park or start now, snooze, clear a snooze,
assign a schedule.

Used by the admin and the self-service page; every change is audited, and
snoozes set or cancelled are told to the tenant's channels (one message per
action, notifications.snoozes).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications import snoozes as snooze_notices
from scheduling import executor, leases, planner, recording, resolver
from scheduling.due import accounts_mark_changed
from scheduling.models import Override, ParkingRun, Resource, Schedule
from tenants import aws
from tenants.models import CloudAccount
from tenants.audit import Actor, actor_label, audit_record
from tenants.permissions import OPERATE, require

MAX_SNOOZE = dt.timedelta(days=30)


@dataclass
class ActNowReport:
    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (resource id, message)


def resources_act_now(*, resources: Iterable[Resource], action: str, actor: Actor) -> ActNowReport:
    """Stop ("stop") or start ("start") machines now, batched per account and region.

    The stored desired state is left alone: the schedule resumes at its next
    transition, and until then this manual change is respected like any other.
    It acts and records exactly as a tick does (`recording.act_and_record`),
    under the account's lease, so it never races a tick on the same machines.
    """
    if action not in ("start", "stop"):
        raise ValueError(f"unknown action {action!r}")
    report = ActNowReport()
    groups: dict[int, dict[tuple[str, str], list[Resource]]] = defaultdict(lambda: defaultdict(list))
    accounts = {}
    resources = list(resources)
    for tenant in {resource.account.tenant for resource in resources}:
        require(actor, tenant, OPERATE)
    for resource in resources:
        if resource.gone_at is not None:
            report.failed.append((resource.resource_id, "no longer exists in AWS"))
            continue
        if resource.refusal:
            report.failed.append((resource.resource_id, resource.refusal))
            continue
        groups[resource.account_id][(resource.region, resource.kind)].append(resource)
        accounts[resource.account_id] = resource.account
    # A group is parked the way its schedule says (scale to zero or suspend).
    explained = resolver.resources_explain([r for r in resources if r.gone_at is None], at=timezone.now())
    modes = {pk: "suspend" for pk, e in explained.items() if e.schedule is not None and e.schedule.asg_mode == "suspend"}
    for account_id, regions in groups.items():
        account = accounts[account_id]
        lease = leases.lease_claim(account_id=account_id)
        if lease is None:
            busy = "a parking run is in progress for this account; try again in a minute"
            report.failed.extend((r.resource_id, busy) for members in regions.values() for r in members)
            continue
        try:
            _act_now_in_account(account, regions, modes, action=action, actor=actor, lease=lease, report=report)
        finally:
            leases.lease_release(lease)
    return report


def _act_now_in_account(
    account: CloudAccount,
    regions: dict[tuple[str, str], list[Resource]],
    modes: dict[int, str],
    *,
    action: str,
    actor: Actor,
    lease: leases.Lease,
    report: ActNowReport,
) -> None:
    reason = f"{action} now by {actor_label(actor)}"
    for (region, _kind), members in regions.items():
        now = timezone.now()
        run = ParkingRun.objects.create(account=account, trigger=ParkingRun.Trigger.MANUAL, tick_at=now, started_at=now)
        intents = [recording.Intent(resource=r, reason=reason, mode=modes.get(r.pk, "scale")) for r in members]
        batch = recording.BatchResult()
        error = ""
        with aws.counting_calls() as calls:
            try:
                session = aws.session_for(account)
                batch = recording.act_and_record(
                    run=run, lease=lease, action=action, intents=intents,
                    clients=lambda service: aws.client(session, service, region),  # noqa: B023
                )
            except aws.AwsError as exc:
                error = exc.message
            except executor.AccountFailure as exc:
                error = exc.error.message
            except leases.LeaseLost as exc:
                error = str(exc)
        for resource in members:
            outcome = batch.outcomes.get(resource.resource_id)
            if outcome is None:
                report.failed.append((resource.resource_id, error or "not attempted"))
            elif outcome.ok:
                report.succeeded.append(resource.resource_id)
            elif outcome.unknown:
                report.failed.append((resource.resource_id, "AWS did not answer; the next tick confirms what happened"))
            else:
                report.failed.append((resource.resource_id, f"{outcome.code}: {outcome.message}"))
        with transaction.atomic():
            status = ParkingRun.Status.FAILED if error and not batch.succeeded else (
                ParkingRun.Status.PARTIAL if batch.failed or error else ParkingRun.Status.SUCCEEDED
            )
            ParkingRun.objects.filter(pk=run.pk).update(
                status=status, planned=len(members), succeeded=batch.succeeded, failed=batch.failed,
                aws_calls=dict(calls), error=error, finished_at=timezone.now(),
            )
            audit_record(
                action=f"resource.{action}_now", actor=actor, account=account,
                details={"region": region, "resources": [r.resource_id for r in members], "failed": batch.failed},
            )


def override_create(
    *, resource: Resource, state: str, until: dt.datetime, actor: Actor, reason: str = "", now: dt.datetime | None = None,
    notify: bool = True,
) -> Override:
    """Snooze: keep `resource` running/stopped until `until` (at most 30 days ahead).
    `notify=False` leaves telling the channels to the caller (a selection is one message)."""
    require(actor, resource.account.tenant, OPERATE)
    now = now or timezone.now()
    if state not in Override.State.values:
        raise ValidationError({"state": "Choose keep running or keep stopped."})
    if until.tzinfo is None:
        raise ValidationError({"until": "The end of a snooze needs a time zone."})
    if until <= now:
        raise ValidationError({"until": "The snooze must end in the future."})
    if until - now > MAX_SNOOZE:
        raise ValidationError({"until": "A snooze lasts at most 30 days; assign another schedule instead."})
    override = Override(
        resource=resource, state=state, until=until, reason=reason,
        created_by=None if isinstance(actor, str) else actor, created_by_label=actor_label(actor),
    )
    # A reason longer than the column is refused ("at most 300 characters"), never cut.
    override.full_clean(exclude=["resource", "created_by"], validate_unique=False, validate_constraints=False)
    with transaction.atomic():
        override.save()
        accounts_mark_changed(account_ids=[resource.account_id])  # the snooze acts at the next tick
        audit_record(
            action="resource.snoozed", actor=actor, account=resource.account,
            details={"resource": resource.resource_id, "state": state, "until": until.isoformat(), "reason": reason},
        )
        if notify:
            snooze_notices.snoozes_set(overrides=[override], actor=actor)
    return override


def _override_clear(*, resource: Resource, actor: Actor, now: dt.datetime) -> list[Override]:
    require(actor, resource.account.tenant, OPERATE)
    active = list(Override.objects.active(at=now).filter(resource=resource))
    # Conditional: of two cancellations at once, each snooze is cancelled (and told) by one.
    cancelled = [o for o in active if Override.objects.filter(pk=o.pk, cancelled_at__isnull=True).update(
        cancelled_at=now, end_told_at=now) == 1]
    if cancelled:
        accounts_mark_changed(account_ids=[resource.account_id])
        audit_record(action="resource.snooze_cleared", actor=actor, account=resource.account, details={"resource": resource.resource_id})
    for override in cancelled:
        override.resource = resource
    return cancelled


def override_clear(*, resource: Resource, actor: Actor, now: dt.datetime | None = None) -> int:
    """Cancel the resource's active snoozes; they stay as history."""
    with transaction.atomic():
        cancelled = _override_clear(resource=resource, actor=actor, now=now or timezone.now())
        if cancelled:
            snooze_notices.snoozes_cancelled(overrides=cancelled, actor=actor)
    return len(cancelled)


def resources_snooze_clear(*, resources: Iterable[Resource], actor: Actor) -> int:
    """`override_clear` for a selection, told as one message per tenant."""
    now = timezone.now()
    with transaction.atomic():
        cancelled = [o for resource in resources for o in _override_clear(resource=resource, actor=actor, now=now)]
        snooze_notices.snoozes_cancelled(overrides=cancelled, actor=actor)
    return len(cancelled)


def resource_assign_schedule(*, resource: Resource, schedule: Schedule | None, actor: Actor) -> Resource:
    """Make `resource` follow `schedule` (its tenant's own or a global template);
    None hands it back to its schedule tag. Audited with before and after."""
    account = resource.account
    require(actor, account.tenant, OPERATE)
    if not resource.may_follow(schedule):
        # Never say whose schedule it is.
        raise ValidationError({"schedule": "Choose one of your schedules or a global template."})
    before = resource.schedule
    with transaction.atomic():
        resource.schedule = schedule
        if before != schedule:
            # A new assignment is a new decision: no backoff carried over.
            resource.failures, resource.last_failure, resource.retry_after = 0, "", None
        # The note explains a tag that names no schedule; an explicit choice makes it moot.
        resource.save(update_fields=["schedule", "failures", "last_failure", "retry_after"])
        if before != schedule:
            accounts_mark_changed(account_ids=[account.pk])  # the next tick reads AWS and plans it at once
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


def resources_assign_schedule(*, resources: Iterable[Resource], schedule: Schedule | None, actor: Actor) -> int:
    """`resource_assign_schedule` for a selection: all or none (one refusal changes nothing)."""
    resources = list(resources)
    with transaction.atomic():
        for resource in resources:
            resource_assign_schedule(resource=resource, schedule=schedule, actor=actor)
    return len(resources)


def resources_snooze(
    *, resources: Iterable[Resource], state: str, until: dt.datetime, actor: Actor, reason: str = ""
) -> int:
    """`override_create` for a selection: all or none, told as one message per tenant."""
    resources = list(resources)
    now = timezone.now()
    with transaction.atomic():
        created = [
            override_create(resource=resource, state=state, until=until, actor=actor, reason=reason, now=now, notify=False)
            for resource in resources
        ]
        snooze_notices.snoozes_set(overrides=created, actor=actor)
    return len(resources)


def resources_snooze_as_they_are(*, resources: Iterable[Resource], until: dt.datetime, actor: Actor, reason: str = "") -> int:
    """Snooze each machine in the state it is in now (stopped ones stopped, others running): all or none."""
    resources = list(resources)
    now = timezone.now()
    with transaction.atomic():
        created = [
            override_create(
                resource=resource, until=until, actor=actor, reason=reason, now=now, notify=False,
                state=Override.State.STOPPED if resource.state in planner.STOPPED_STATES else Override.State.RUNNING,
            )
            for resource in resources
        ]
        snooze_notices.snoozes_set(overrides=created, actor=actor)
    return len(resources)
