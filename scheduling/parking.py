"""One parking tick for one account: lease, inventory, plan, act, record.

The worker's task and `manage.py run_parking` both call `park_account`, so
what an operator runs by hand is exactly what the cluster runs. The number of
database queries per account does not grow with its machines: inventory is
upserted per page, state changes are grouped, records are bulk-inserted.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scheduling import executor, planner
from scheduling.inventory import ScheduleBook, inventory_sync, schedules_for
from scheduling.models import Override, ParkingAction, ParkingLease, ParkingRun, Resource
from scheduling.periods import ScheduleError
from scheduling.periods.engine import cached_compile
from tenants import aws
from tenants.models import CloudAccount
from tenants.services import audit_record

logger = logging.getLogger(__name__)



def lease_seconds() -> int:
    """Longer than a task may run (Q_CLUSTER timeout), so a crashed worker's
    lease expires by itself and a later tick carries on."""
    return int(settings.Q_CLUSTER.get("timeout", 300)) + 60


@dataclass
class AccountResult:
    account: CloudAccount
    status: str  # succeeded / partial / failed / busy
    planned: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    aws_calls: dict[str, int] = field(default_factory=dict)
    error: str = ""
    decisions: list[tuple[Resource, planner.Decision]] = field(default_factory=list)
    run: ParkingRun | None = None


def active_accounts() -> Any:
    """Accounts the tick parks: the tenants app decides which (CloudAccount.objects.parkable)."""
    return CloudAccount.objects.parkable().select_related("tenant").order_by("pk")


def claim_lease(account_id: int, *, now: dt.datetime) -> bool:
    ParkingLease.objects.bulk_create(
        [ParkingLease(account_id=account_id, until=now - dt.timedelta(seconds=1))], ignore_conflicts=True
    )
    holder = f"{socket.gethostname()}:{os.getpid()}"[:100]
    claimed = ParkingLease.objects.filter(account_id=account_id, until__lt=now).update(
        until=now + dt.timedelta(seconds=lease_seconds()), holder=holder
    )
    return claimed == 1


def release_lease(account_id: int) -> None:
    ParkingLease.objects.filter(account_id=account_id).update(until=timezone.now() - dt.timedelta(seconds=1), holder="")


def _rules(schedules: ScheduleBook, resources: list[Resource]) -> tuple[dict[int, planner.ScheduleRules], dict[int, int]]:
    """Compile each schedule the resources use, once; map resource → schedule pk."""
    rules: dict[int, planner.ScheduleRules] = {}
    assignment: dict[int, int] = {}
    for resource in resources:
        schedule = schedules.schedule_of(resource)
        if schedule is None:
            continue
        if schedule.pk not in rules:
            try:
                compiled = cached_compile(schedule.to_spec())
            except ScheduleError:
                logger.warning("Schedule %s (%s) is invalid; its machines are left alone.", schedule.pk, schedule.name)
                continue
            rules[schedule.pk] = planner.ScheduleRules(
                name=schedule.name,
                compiled=compiled,
                enforced=schedule.enforced,
                retain_running=schedule.retain_running,
                stop_new_instances=schedule.stop_new_instances,
            )
        assignment[id(resource)] = schedule.pk
    return rules, assignment


def park_account(*, account_id: int, at: dt.datetime | None = None, dry_run: bool = False) -> AccountResult:
    """Park one account for the instant `at` (default: now)."""
    at = at or timezone.now()
    account = CloudAccount.objects.select_related("tenant").get(pk=account_id)
    now = timezone.now()
    if not dry_run and not claim_lease(account.pk, now=now):
        return AccountResult(account=account, status="busy", error="another worker is parking this account")
    try:
        return _park(account, at=at, now=now, dry_run=dry_run)
    finally:
        if not dry_run:
            release_lease(account.pk)


def _park(account: CloudAccount, *, at: dt.datetime, now: dt.datetime, dry_run: bool) -> AccountResult:
    result = AccountResult(account=account, status="succeeded")
    run = None if dry_run else ParkingRun.objects.create(account=account, tick_at=at, started_at=now)
    result.run = run
    with aws.counting_calls() as calls:
        try:
            session = aws.session_for(account)
            schedules = schedules_for(account)
            resources = inventory_sync(
                account=account, session=session, schedules=schedules, now=now, write=not dry_run
            )
            decisions = _plan(account, resources, schedules, at)
            result.decisions = decisions
            if not dry_run:
                _execute_and_record(account, session, decisions, run, result)
            else:
                result.planned = sum(1 for _, d in decisions if d.action in (planner.START, planner.STOP))
                result.skipped = sum(1 for _, d in decisions if d.action == planner.SKIP)
        except (aws.AwsError, executor.AccountFailure) as exc:
            error = exc.error if isinstance(exc, executor.AccountFailure) else exc
            result.status = "failed"
            result.error = error.message
            if not dry_run and error.permanent:
                _flag_account(account, error)
    result.aws_calls = dict(calls)
    if run is not None:
        run.finished_at = timezone.now()
        run.status = result.status
        run.planned, run.succeeded, run.failed, run.skipped = result.planned, result.succeeded, result.failed, result.skipped
        run.aws_calls = result.aws_calls
        run.error = result.error
        run.save(update_fields=["finished_at", "status", "planned", "succeeded", "failed", "skipped", "aws_calls", "error"])
    return result


def _plan(
    account: CloudAccount, resources: list[Resource], schedules: ScheduleBook, at: dt.datetime
) -> list[tuple[Resource, planner.Decision]]:
    rules, assignment = _rules(schedules, resources)
    pks = [r.pk for r in resources if r.pk is not None]
    overrides: dict[int, planner.OverrideView] = {}
    if pks:
        active = Override.objects.filter(
            resource__account=account, cancelled_at__isnull=True, until__gt=at
        ).order_by("resource_id", "-created_at")
        for override in active:
            overrides.setdefault(override.resource_id, planner.OverrideView(state=override.state, until=override.until))
    views = []
    by_key: dict[int, Resource] = {}
    for resource in resources:
        by_key[id(resource)] = resource
        views.append(
            planner.ResourceView(
                key=id(resource),
                state=resource.state,
                desired_state=resource.desired_state,
                retained_running=resource.retained_running,
                schedule=assignment.get(id(resource)),
                asg_name=resource.asg_name,
            )
        )
    override_by_key = {id(r): overrides[r.pk] for r in resources if r.pk in overrides}
    return [(by_key[d.key], d) for d in planner.plan(views, rules, override_by_key, at)]


def _execute_and_record(
    account: CloudAccount,
    session: Any,
    decisions: list[tuple[Resource, planner.Decision]],
    run: ParkingRun,
    result: AccountResult,
) -> None:
    batches: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for resource, decision in decisions:
        if decision.action in (planner.START, planner.STOP):
            batches[(resource.region, decision.action)].append(resource)
    result.planned = sum(len(v) for v in batches.values())
    outcomes: dict[int, executor.Outcome] = {}
    clients: dict[str, Any] = {}
    for (region, action), members in sorted(batches.items()):
        ec2 = clients.get(region) or clients.setdefault(region, aws.client(session, "ec2", region))
        by_id = executor.execute(ec2, action, [r.resource_id for r in members])
        for resource in members:
            outcomes[id(resource)] = by_id[resource.resource_id]

    actions: list[ParkingAction] = []
    # Stored-state changes, grouped by their new values: a handful of UPDATEs
    # per account however many machines it has.
    updates: dict[tuple[str, str, bool], list[int]] = defaultdict(list)
    for resource, decision in decisions:
        state = resource.state
        if decision.action in (planner.START, planner.STOP):
            outcome = outcomes[id(resource)]
            if outcome.ok:
                result.succeeded += 1
                state = outcome.new_state or ("stopping" if decision.action == planner.STOP else "pending")
                updates[(state, decision.desired_state, decision.retained_running)].append(resource.pk)
                actions.append(ParkingAction(run=run, resource=resource, action=decision.action, reason=decision.reason[:300], outcome=ParkingAction.Outcome.SUCCEEDED))
            else:
                result.failed += 1
                actions.append(ParkingAction(
                    run=run, resource=resource, action=decision.action, reason=decision.reason[:300],
                    outcome=ParkingAction.Outcome.FAILED, error_code=outcome.code[:100], error_message=outcome.message,
                ))
            continue
        if decision.action == planner.SKIP:
            result.skipped += 1
            actions.append(ParkingAction(run=run, resource=resource, action=ParkingAction.Action.SKIP, reason=decision.reason[:300], outcome=ParkingAction.Outcome.SKIPPED))
        updates[(state, decision.desired_state, decision.retained_running)].append(resource.pk)

    with transaction.atomic():
        for (state, desired, retained), pks in updates.items():
            Resource.objects.filter(pk__in=pks).update(state=state, desired_state=desired, retained_running=retained)
        ParkingAction.objects.bulk_create(actions, batch_size=1000)
        if result.failed:
            result.status = "partial"
        if account.status == CloudAccount.Status.ERROR or account.status == CloudAccount.Status.PENDING:
            # Parking works again (or for the first time): the account is reachable.
            CloudAccount.objects.filter(pk=account.pk).update(status=CloudAccount.Status.CONNECTED, last_error="")


def _flag_account(account: CloudAccount, error: aws.AwsError) -> None:
    changed = account.status != CloudAccount.Status.ERROR or account.last_error != error.message
    CloudAccount.objects.filter(pk=account.pk).update(status=CloudAccount.Status.ERROR, last_error=error.message)
    if changed:
        audit_record(
            action="parking.account_failed",
            actor="system",
            account=account,
            details={"code": error.code, "message": error.message},
        )


def run_tick(*, at: dt.datetime | None = None, account_ids: list[str] | None = None, dry_run: bool = False) -> list[AccountResult]:
    """One tick in-process, account after account (the `run_parking` command)."""
    accounts = active_accounts()
    if account_ids:
        accounts = accounts.filter(account_id__in=account_ids)
    return [park_account(account_id=pk, at=at, dry_run=dry_run) for pk in accounts.values_list("pk", flat=True).distinct()]
