"""One parking tick for one account: lease, inventory, reconcile, plan, act, record.

Every kind (EC2 instances, RDS databases and clusters, Auto Scaling groups)
goes through the same steps; only the AWS calls differ (scheduling.executor).

The worker's task and `manage.py run_parking` both call `park_account`, so
what an operator runs by hand is exactly what the cluster runs. The number of
database queries per account does not grow with its machines: inventory is
upserted per page, each AWS batch is recorded in a constant number of
statements (scheduling.recording), the rest is grouped and bulk-inserted.

Trust under faults: the account's lease (scheduling.leases) is renewed before
every batch of AWS actions (and before any later call once the renewal is no
longer recent enough to cover it) and released only by its holder; each batch is written ahead
as pending and settled as soon as AWS answers; whatever a dead worker left
open is reconciled from AWS's real state by the next run of the account.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from notifications import credentials as credential_notices
from notifications import events as notification_events
from portal.logs import log_context, log_context_add
from scheduling import due, executor, leases, planner, recording, resolver
from scheduling.inventory import inventory_sync
from scheduling.resolver import ScheduleBook, schedules_for
from scheduling.models import ParkingAction, ParkingRun, Resource
from tenants import aws
from tenants.models import CloudAccount
from tenants.audit import audit_record

logger = logging.getLogger(__name__)


@dataclass
class AccountResult:
    account: CloudAccount
    status: str  # succeeded / partial / failed / interrupted / busy / error
    planned: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    unconfirmed: int = 0
    aws_calls: dict[str, int] = field(default_factory=dict)
    error: str = ""
    # Kinds not read this tick (a database or group describe that kept failing).
    unread: list[str] = field(default_factory=list)
    decisions: list[tuple[Resource, planner.Decision]] = field(default_factory=list)
    # This run's starts and stops as AWS answered them (what notifications tell).
    acted: list[tuple[Resource, str, executor.Outcome]] = field(default_factory=list)
    run: ParkingRun | None = None
    # When the whole inventory was read (None: a kind or region was not).
    inventoried_at: dt.datetime | None = None
    # The tick's enqueue claim was given back with the lease (scheduling.tasks need not).
    queue_released: bool = False
    # Actions were written ahead and never settled (the run stopped between): the next run reconciles.
    unsettled: bool = False

    @property
    def clean(self) -> bool:
        """Nothing left to retry or confirm: the due-work rule may wait for the next reason."""
        return self.status == "succeeded" and not self.failed and not self.unconfirmed


def active_accounts() -> Any:
    """Accounts the tick parks: the tenants app decides which (CloudAccount.objects.parkable)."""
    return CloudAccount.objects.parkable().select_related("tenant").order_by("pk")


def park_account(
    *, account_id: int, at: dt.datetime | None = None, dry_run: bool = False, claim: str | None = None
) -> AccountResult:
    """Park one account for the instant `at` (default: now).

    With `claim` (the tick's enqueue claim token, scheduling.claims), the claim
    is started with the lease and given back with it; raises leases.Superseded
    when a later tick's task has the account."""
    at = at or timezone.now()
    if dry_run:
        account = CloudAccount.objects.select_related("tenant").get(pk=account_id)
        with log_context(tenant=account.tenant.slug, account=account.account_id):
            return _park(account, at=at, lease=None)
    lease = leases.lease_claim(account_id=account_id, queued=claim, read=False)
    if lease is None:
        account = CloudAccount.objects.select_related("tenant").get(pk=account_id)
        return AccountResult(
            account=account, status="busy", error="another worker is parking this account", queue_released=claim is not None
        )
    outcome = ("error", "the tick stopped on an unexpected error; the next tick reconciles it")
    evaluated = None
    settled = False
    result = None
    try:
        # The account, its tenant, its credential, the lease row just claimed and
        # whether its summary has anywhere to go: one query.
        account = (
            CloudAccount.objects.with_active_credential()
            .select_related("tenant", "parking_lease")
            .annotate(**{notification_events.TENANT_HAS_CHANNELS: notification_events.tenant_has_channels()})
            .get(pk=account_id)
        )
        lease.read(account.parking_lease)
        with log_context(tenant=account.tenant.slug, account=account.account_id):
            result = _park(account, at=at, lease=lease)
        outcome = (result.status, result.error)
        evaluated = leases.Evaluated(at=at if result.clean else None, inventoried_at=result.inventoried_at)
        # Nothing left open for the next run to reconcile: every action settled, the run closed.
        settled = result.status in ("succeeded", "partial", "failed") and not result.unconfirmed and not result.unsettled
        return result
    finally:
        leases.lease_release(lease, outcome=outcome, evaluated=evaluated, settled=settled)
        if result is not None:
            result.queue_released = lease.queue_released


def _park(account: CloudAccount, *, at: dt.datetime, lease: leases.Lease | None) -> AccountResult:
    dry_run = lease is None
    now = timezone.now()
    result = AccountResult(account=account, status="succeeded")

    def run_now() -> ParkingRun:
        # Created only when there is something to keep: an idle tick writes no run.
        if result.run is None:
            result.run = ParkingRun.objects.create(account=account, tick_at=at, started_at=now)
            log_context_add(run=result.run.pk)
        return result.run
    with aws.counting_calls() as calls:
        try:
            session = aws.session_for(account)
            schedules = schedules_for(account)
            # Something left open (the lease row says so: no query otherwise)
            # is settled from a complete read: a pending stop of a machine a
            # filtered read leaves out (untagged, stopped by "Park now") would
            # otherwise look "not seen in AWS".
            unsettled = lease is not None and lease.unsettled
            partial_read = not unsettled and _inventory_fresh(account, lease, now=now)
            resources = inventory_sync(
                account=account, session=session, now=now, write=not dry_run,
                heartbeat=None if lease is None else lambda: leases.lease_keep(lease), unread=result.unread,
                known_kinds_only=partial_read, snoozes_at=at,
            )
            if result.unread:
                # Parked what could be read; the rest waits for the next tick.
                result.status = "partial"
                result.error = "; ".join(result.unread)[:2000]
            elif not partial_read:
                result.inventoried_at = now
            if unsettled:
                recording.unsettled_reconcile(account_id=account.pk, resources=resources)
            decisions = _plan(account, resources, schedules, at, now=now)
            result.decisions = decisions
            if lease is not None:
                _execute_and_record(account, session, schedules, decisions, run_now, lease, result)
            else:
                result.planned = sum(1 for _, d in decisions if d.action in (planner.START, planner.STOP))
                result.skipped = sum(1 for _, d in decisions if d.action == planner.SKIP)
        except leases.LeaseLost as exc:
            result.status = "interrupted"
            result.error = f"Stopped before acting again: {exc}."
        except (aws.AwsError, executor.AccountFailure) as exc:
            error = exc.error if isinstance(exc, executor.AccountFailure) else exc
            result.status = "failed"
            result.error = error.message
            if not dry_run and error.permanent:
                _flag_account(account, error)
    result.aws_calls = dict(calls)
    if not dry_run and (result.status != "succeeded" or result.failed or result.unconfirmed):
        run_now()  # runs with errors are kept
    run = result.run
    if run is not None:
        if result.status == "succeeded" and result.failed:
            result.status = "partial"
        if result.unconfirmed:
            result.error = (
                f"{result.error}\n{result.unconfirmed} action(s) unconfirmed: AWS did not answer; "
                "the next tick confirms them from AWS's state."
            ).strip()
        # Only a run still "running" is closed here: one the next holder of
        # the lease already closed as interrupted keeps that status.
        ParkingRun.objects.filter(pk=run.pk, status=ParkingRun.Status.RUNNING).update(
            finished_at=timezone.now(), status=result.status, planned=result.planned, succeeded=result.succeeded,
            failed=result.failed, skipped=result.skipped, aws_calls=result.aws_calls, error=result.error,
        )
    return result


def _inventory_fresh(account: CloudAccount, lease: leases.Lease | None, *, now: dt.datetime) -> bool:
    """Between complete inventories: the last run ended cleanly, read
    everything less than the tenant's interval ago, and nothing changed in
    Parkway since (a connection test, a schedule assigned… ask for a complete
    one at once). Then a run describes only the kinds the account has, and
    of EC2 only the machines that follow a schedule (inventory_sync's
    `known_kinds_only`); otherwise it reads everything."""
    return (
        lease is not None
        and not lease.changes
        and lease.last_status == due.CLEAN
        and lease.inventoried_at is not None
        and now - lease.inventoried_at < dt.timedelta(minutes=due.inventory_minutes(account))
    )


def _plan(
    account: CloudAccount, resources: list[Resource], schedules: ScheduleBook, at: dt.datetime, *, now: dt.datetime
) -> list[tuple[Resource, planner.Decision]]:
    """What the tick does, from the resolver every page and command asks too."""
    explained = resolver.explain(
        resources,
        books={account.tenant_id: schedules},
        # Asked only for machines with a snooze in force (flagged as the inventory read them).
        overrides=resolver.active_overrides((r.pk for r in resources if getattr(r, "snoozed", True)), at=at),
        at=at,
        now=now,
        next_changes=False,
    )
    return [(e.resource, e.decision) for e in explained if e.decision.for_the_tick]


def _execute_and_record(
    account: CloudAccount,
    session: Any,
    schedules: ScheduleBook,
    decisions: list[tuple[Resource, planner.Decision]],
    run_now: Callable[[], ParkingRun],
    lease: leases.Lease,
    result: AccountResult,
) -> None:
    # One batch per (region, kind, action): EC2 in calls of up to 1,000
    # machines, databases and groups one call (or two) each (scheduling.executor).
    batches: dict[tuple[str, str, str], list[recording.Intent]] = defaultdict(list)
    for resource, decision in decisions:
        if decision.action in (planner.START, planner.STOP):
            schedule = schedules.schedule_of(resource)
            batches[(resource.region, resource.kind, decision.action)].append(recording.Intent(
                resource=resource, reason=decision.reason, desired=decision.desired_state,
                retained=decision.retained_running,
                mode="suspend" if schedule is not None and schedule.asg_mode == "suspend" else "scale",
            ))
    result.planned = sum(len(v) for v in batches.values())
    to_act = [
        recording.Batch(action, intents, lambda service, region=region: aws.client(session, service, region))
        for (region, _kind, action), intents in sorted(batches.items())
    ]

    def count(done: list[recording.BatchResult]) -> None:
        result.unsettled = False
        for batch, answered in zip(to_act, done, strict=True):
            result.succeeded += answered.succeeded
            result.failed += answered.failed
            result.unconfirmed += answered.unconfirmed
            result.acted.extend(
                (intent.resource, batch.action, answered.outcomes[intent.resource.resource_id]) for intent in batch.intents
            )

    if to_act:
        # All batches written ahead at once and settled at once (recording.act_and_record_batches);
        # whatever stops it before they are settled leaves the lease unsettled.
        result.unsettled = True
        recording.act_and_record_batches(run=run_now(), lease=lease, batches=to_act, settled=count)

    # What changes only in the database: stored desired states and skips,
    # grouped by their new values (a handful of UPDATEs however many machines).
    actions: list[ParkingAction] = []
    updates: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for resource, decision in decisions:
        if decision.action in (planner.START, planner.STOP):
            continue
        if decision.action == planner.SKIP:
            result.skipped += 1
            if decision.changes:
                # A new decision not to act is history; the same skip again
                # every tick (a backoff, an Auto Scaling member) is not.
                actions.append(ParkingAction(
                    run=run_now(), resource=resource, action=ParkingAction.Action.SKIP, reason=decision.reason[:300],
                    outcome=ParkingAction.Outcome.SKIPPED, settled_at=timezone.now(),
                ))
        if decision.changes:
            updates[(decision.desired_state, decision.retained_running)].append(resource.pk)
    reconnected = account.status in (CloudAccount.Status.ERROR, CloudAccount.Status.PENDING)
    if not (updates or actions or reconnected):
        return  # an idle tick writes nothing here
    with transaction.atomic():
        for (desired, retained), pks in updates.items():
            Resource.objects.filter(pk__in=pks).update(desired_state=desired, retained_running=retained)
        ParkingAction.objects.bulk_create(actions, batch_size=1000)
        if reconnected:
            # Parking works again (or for the first time): the account is reachable.
            CloudAccount.objects.filter(pk=account.pk).update(status=CloudAccount.Status.CONNECTED, last_error="")
            credential_notices.connection_works(account=account)


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
    if credential_notices.is_credential_error(error):
        # Every tick finds it again: told once, until the account works again.
        try:
            with transaction.atomic():
                credential_notices.connection_failed(account=account, message=error.message, found_by="the parking tick")
        except Exception:  # telling people never turns a recorded failure into a crashed task
            logger.exception("Could not tell account %s's credential problem", account.account_id)


def run_tick(*, at: dt.datetime | None = None, account_ids: list[str] | None = None, dry_run: bool = False) -> list[AccountResult]:
    """One tick in-process, account after account (the `run_parking` command).

    Each account is isolated: whatever goes wrong in one (even the database
    dropping the connection) is reported as its result, and the others run."""
    accounts = active_accounts()
    if account_ids:
        accounts = accounts.filter(account_id__in=account_ids)
    results = []
    for account in list(accounts.distinct()):
        try:
            results.append(park_account(account_id=account.pk, at=at, dry_run=dry_run))
        except Exception as exc:
            logger.exception("Parking account %s failed", account.account_id)
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
            results.append(AccountResult(account=account, status="error", error=f"{type(exc).__name__}: {exc}"[:500]))
    return results
