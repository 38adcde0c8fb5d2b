"""Acting on resources (EC2 instances, databases, clusters, Auto Scaling groups) and recording it, so that nothing is done twice or done unrecorded.

Every start/stop, from a tick or from a person ("Park now"), goes through
`act_and_record_batches` (`act_and_record` for one batch), a write-ahead log
in three steps for all the batches of a run (one per region, kind and action):

1. the lease is kept (a run that lost it stops here, before acting);
2. the intents of every batch are written as `pending` ParkingActions, in one
   INSERT;
3. AWS is called batch after batch (the lease kept before every call), and
   its answers settle all the batches in one transaction: the actions'
   outcomes, the machines' states, their backoff, grouped by their new values.

So a busy account costs the same few statements for one region or ten. A
worker that dies between 2 and 3 (SIGKILL, task timeout, lost database)
leaves its run "running" with pending actions. The next run of that account
(`unsettled_reconcile`, asked only when the lease says the previous holder
left work open) closes such runs as "interrupted" and settles their pending
actions from AWS's real state, read by that run's fresh inventory: a stop AWS
did is recorded as done (and not repeated), a stop that never reached AWS is
recorded as not done (and the next plan retries it). A batch not sent because
an earlier one lost the lease or the account is settled as failed, not sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from portal.zones import format_when
from scheduling import executor, kinds, leases
from scheduling.models import ParkingAction, ParkingRun, Resource

logger = logging.getLogger(__name__)

RUNNING_STATES = frozenset({"running", "pending"})
STOPPED_STATES = frozenset({"stopped", "stopping"})
REACHED = {"stop": STOPPED_STATES, "start": RUNNING_STATES}
INTERRUPTED_CODE = "Interrupted"
MAX_BACKOFF = dt.timedelta(days=1)


@dataclass(frozen=True)
class Intent:
    """One machine to start or stop, and what to store when it works.

    `desired` / `retained` are the planner's stored fields (None: leave them,
    as "Park now" does so the schedule resumes at its next transition)."""

    resource: Resource
    reason: str
    desired: str | None = None
    retained: bool = False
    # How an Auto Scaling group is parked (its schedule's asg_mode): "scale" or "suspend".
    mode: str = "scale"


@dataclass
class BatchResult:
    succeeded: int = 0
    failed: int = 0
    unconfirmed: int = 0  # AWS did not answer: left pending for the next tick to confirm
    outcomes: dict[str, executor.Outcome] = field(default_factory=dict)  # by resource ID


def backoff_until(*, failures: int, now: dt.datetime) -> dt.datetime:
    """When a machine that failed `failures` times in a row is tried again:
    skip 1 tick, then 2, 4 … up to a day (half a tick of slack for jitter)."""
    tick = dt.timedelta(minutes=settings.PARKWAY_TICK_MINUTES)
    wait = tick * (2 ** min(max(failures - 1, 0), 16)) + tick / 2
    return now + min(wait, MAX_BACKOFF)


@dataclass(frozen=True)
class Batch:
    """Intents of one kind in one region, and the region's clients (`clients(service)`)."""

    action: str
    intents: Sequence[Intent]
    clients: Callable[[str], Any]


def act_and_record(
    *,
    run: ParkingRun,
    lease: leases.Lease,
    action: str,
    intents: Sequence[Intent],
    ec2: Any = None,
    clients: Callable[[str], Any] | None = None,
) -> BatchResult:
    """Start or stop `intents` (one kind in one region of one account) and
    record every outcome: `act_and_record_batches` for one batch.
    `clients(service)` gives the region's AWS clients (`ec2` alone serves EC2
    instances)."""
    if clients is None:
        clients = lambda service: ec2  # noqa: E731
    return act_and_record_batches(run=run, lease=lease, batches=[Batch(action, intents, clients)])[0]


def act_and_record_batches(
    *,
    run: ParkingRun,
    lease: leases.Lease,
    batches: Sequence[Batch],
    settled: Callable[[list[BatchResult]], None] | None = None,
) -> list[BatchResult]:
    """Act on every batch and record every outcome: one write-ahead INSERT and
    one settling transaction for all of them; a BatchResult per batch, also
    handed to `settled` as soon as they are recorded (even when what follows
    raises).

    Raises leases.LeaseLost before acting when the lease is gone (before the
    first call, or between calls: the rest is settled as not sent), and
    executor's AccountFailure after recording the batches as failed."""
    for batch in batches:
        if any(i.resource.kind != batch.intents[0].resource.kind for i in batch.intents):
            raise ValueError("one batch acts on one kind of resource")
    batches = [b for b in batches if b.intents]
    if not batches:
        return [BatchResult()]
    leases.lease_keep(lease)
    targets = [_targets(b.intents[0].resource.kind, b.action, b.intents) for b in batches]
    sized = [
        i.resource for b in batches for i in b.intents
        if i.resource.kind == kinds.ASG and b.action == "stop" and i.mode == "scale"
    ]
    if sized:
        # Stored ahead of the call: the sizes to restore are never only in
        # AWS's memory of a group we emptied (the group's tag keeps them too).
        Resource.objects.bulk_update(sized, ["saved_sizes"])
    pending = ParkingAction.objects.bulk_create(
        [
            ParkingAction(
                run=run, resource=i.resource, action=b.action, reason=i.reason[:300], outcome=ParkingAction.Outcome.PENDING
            )
            for b in batches
            for i in b.intents
        ]
    )
    # The lease is kept before every call (executor's before_call): a renewal
    # covers the calls made within RENEW_WITHIN_SECONDS of it.
    renew = lambda: leases.lease_keep(lease)  # noqa: E731
    answers: list[dict[str, executor.Outcome]] = []
    stop: Exception | None = None
    lost = False
    for batch, batch_targets in zip(batches, targets, strict=True):
        ids = [i.resource.resource_id for i in batch.intents]
        if stop is not None:
            answers.append({i: _not_sent(stop) for i in ids})
            continue
        kind = batch.intents[0].resource.kind
        try:
            if kind == kinds.EC2:
                outcomes = executor.execute(batch.clients("ec2"), batch.action, ids, before_call=renew)
            else:
                outcomes = executor.execute_kind(kind, batch.clients, batch.action, batch_targets, before_call=renew)
        except executor.Interrupted as exc:
            # Lease lost between two calls: what AWS answered is recorded; the rest was never sent.
            outcomes = dict(exc.outcomes)
            stop = leases.LeaseLost(str(exc.cause))
            stop.__cause__ = exc.cause
            lost = isinstance(exc.cause, leases.LeaseLost)
            for instance_id in ids:
                outcomes.setdefault(instance_id, _not_sent(stop))
        except executor.AccountFailure as exc:
            failed = executor.Outcome(False, code=exc.error.code[:100], message=exc.error.message, transient=True)
            outcomes = {i: failed for i in ids}
            stop = exc
        answers.append(outcomes)
    results = _settle(batches, pending, answers, lease, lost=lost)
    if settled is not None:
        settled(results)
    if stop is not None:
        raise stop
    return results


def _not_sent(cause: Exception) -> executor.Outcome:
    if isinstance(cause, leases.LeaseLost):
        return executor.Outcome(
            False, code=INTERRUPTED_CODE, message="not sent: the run lost its lease to another worker", transient=True
        )
    error = cause.error if isinstance(cause, executor.AccountFailure) else None
    message = error.message if error is not None else str(cause)
    return executor.Outcome(False, code=INTERRUPTED_CODE, message=f"not sent: {message}", transient=True)


def _targets(kind: str, action: str, intents: Sequence[Intent]) -> list[executor.Target]:
    """What the executor needs per resource; for a group being scaled to
    zero, its sizes now become the sizes to restore (set on the rows here,
    stored ahead of the call by act_and_record)."""
    targets = []
    for intent in intents:
        r = intent.resource
        details = r.details or {}
        sizes = r.saved_sizes
        if kind == kinds.ASG and action == "stop" and intent.mode == "scale" and r.max_size:
            sizes = {"min": r.min_size or 0, "desired": r.desired_size or 0, "max": r.max_size}
            r.saved_sizes = sizes
        targets.append(executor.Target(
            resource_id=r.resource_id, sizes=sizes, mode=intent.mode,
            members=tuple(details.get("members", [])) if kind == kinds.ASG else (),
            suspended="Launch" in details.get("suspended", []),
        ))
    return targets


def _settle(
    batches: Sequence[Batch],
    pending: Sequence[ParkingAction],
    answers: Sequence[dict[str, executor.Outcome]],
    lease: leases.Lease,
    *,
    lost: bool = False,
) -> list[BatchResult]:
    """One transaction: action outcomes, machine states, backoff, for every
    batch. A constant number of queries however many machines and batches.

    A run that lost its lease while AWS answered still records what AWS said
    about its own actions (unless the new holder already settled them from
    AWS's state), but leaves the machines' rows to the new holder, whose view
    is fresher; then it stops (LeaseLost)."""
    holder = not lost
    if holder:
        try:
            leases.lease_keep(lease)
        except leases.LeaseLost:
            holder = False
    now = timezone.now()
    results = [BatchResult(outcomes=dict(outcomes)) for outcomes in answers]
    succeeded_pks: list[int] = []
    failed_actions: list[ParkingAction] = []
    state_updates: dict[tuple[str, str | None, bool], list[int]] = defaultdict(list)
    backoffs: list[Resource] = []
    resized: list[Resource] = []
    records = iter(pending)
    for batch, outcomes, result in zip(batches, answers, results, strict=True):
        for intent in batch.intents:
            record = next(records)
            resource = intent.resource
            outcome = outcomes[resource.resource_id]
            if outcome.unknown:
                result.unconfirmed += 1
                record.error_code, record.error_message = outcome.code[:100], outcome.message
                failed_actions.append(record)  # stays pending, with the reason
                continue
            if outcome.ok:
                result.succeeded += 1
                succeeded_pks.append(record.pk)
                new_state = outcome.new_state or ("stopping" if record.action == "stop" else "pending")
                resource.state = new_state
                state_updates[(new_state, intent.desired, intent.retained)].append(resource.pk)
                if resource.kind == kinds.ASG:
                    sizes = resource.saved_sizes
                    if record.action == "stop" and intent.mode == "scale":
                        resource.min_size = resource.desired_size = resource.max_size = 0
                        resized.append(resource)
                    elif record.action == "start" and sizes and "Launch" not in (resource.details or {}).get("suspended", []):
                        # Restored exactly; the sizes are AWS's again (the tag stays, harmless).
                        resource.min_size, resource.desired_size, resource.max_size = sizes["min"], sizes["desired"], sizes["max"]
                        resource.saved_sizes = None
                        resized.append(resource)
                continue
            result.failed += 1
            record.outcome = ParkingAction.Outcome.FAILED
            record.error_code = outcome.code[:100]
            record.error_message = outcome.message
            record.settled_at = now
            failed_actions.append(record)
            if not outcome.transient:
                resource.failures = min(resource.failures + 1, 32767)
                resource.last_failure = f"{outcome.code}: {outcome.message}"[:300]
                resource.retry_after = backoff_until(failures=resource.failures, now=now)
                backoffs.append(resource)
    with transaction.atomic():
        if not holder:
            still_pending = set(
                ParkingAction.objects.filter(pk__in=[p.pk for p in pending], outcome=ParkingAction.Outcome.PENDING)
                .values_list("pk", flat=True)
            )
            succeeded_pks = [pk for pk in succeeded_pks if pk in still_pending]
            failed_actions = [a for a in failed_actions if a.pk in still_pending]
            state_updates.clear()
            backoffs.clear()
            resized.clear()
        if succeeded_pks:
            ParkingAction.objects.filter(pk__in=succeeded_pks).update(outcome=ParkingAction.Outcome.SUCCEEDED, settled_at=now)
        if failed_actions:
            ParkingAction.objects.bulk_update(failed_actions, ["outcome", "error_code", "error_message", "settled_at"])
        for (state, desired, retained), pks in state_updates.items():
            fields: dict[str, Any] = {"state": state, "failures": 0, "last_failure": "", "retry_after": None}
            # Since when Parkway holds it stopped: AWS's own restart of a database after 7 days is told by it.
            fields["parked_at"] = now if state in STOPPED_STATES else None
            if desired is not None:
                fields.update(desired_state=desired, retained_running=retained)
            Resource.objects.filter(pk__in=pks).update(**fields)
        if resized:
            Resource.objects.bulk_update(resized, ["min_size", "desired_size", "max_size", "saved_sizes"])
        if backoffs:
            Resource.objects.bulk_update(backoffs, ["failures", "last_failure", "retry_after"])
    if not holder and not lost:
        raise leases.LeaseLost(f"the parking lease of account {lease.account_id} was taken over while AWS answered")
    return results


def unsettled_exist(*, account_id: int, exclude_run_id: int | None = None) -> bool:
    """Whether an earlier run of the account left a run "running" or an
    action pending (one query): a run then reads the account completely
    before reconciling (scheduling.parking)."""
    return ParkingRun.objects.filter(account_id=account_id).filter(
        Q(status=ParkingRun.Status.RUNNING) | Q(actions__outcome=ParkingAction.Outcome.PENDING)
    ).exclude(pk=exclude_run_id).exists()


def unsettled_reconcile(
    *, account_id: int, resources: Iterable[Resource], exclude_run_id: int | None = None
) -> list[ParkingRun]:
    """Settle what earlier runs of the account left open, from `resources`
    (freshly read from AWS): runs a dead worker left "running" are closed as
    "interrupted"; pending actions (the worker died, or AWS never answered)
    become succeeded when AWS shows the intended state, failed otherwise.

    Only call while holding the account's lease: then no other run of the
    account can be legitimately in progress. `resources` must hold every
    machine of the account AWS still has (a complete read): one missing
    would have its pending action settled as "not seen in AWS". One query
    when there is nothing to reconcile. Returns the runs it touched."""
    # One query in the common case (nothing open): the details only when there is something.
    if not unsettled_exist(account_id=account_id, exclude_run_id=exclude_run_id):
        return []
    abandoned = list(
        ParkingRun.objects.filter(account_id=account_id, status=ParkingRun.Status.RUNNING).exclude(pk=exclude_run_id)
    )
    pending = list(
        ParkingAction.objects.filter(run__account_id=account_id, outcome=ParkingAction.Outcome.PENDING)
        .exclude(run_id=exclude_run_id)
        .select_related("run")
    )
    if not abandoned and not pending:
        return []
    now = timezone.now()
    fresh = {r.pk: r for r in resources if r.pk is not None}
    reached_by_target: dict[str, list[int]] = defaultdict(list)
    for record in pending:
        resource = fresh.get(record.resource_id)
        state = resource.state if resource is not None else "unknown (not seen in AWS)"
        record.settled_at = now
        restarted = _started_again_since(record, resource)
        if resource is not None and (state in REACHED.get(record.action, ()) or restarted):
            record.outcome = ParkingAction.Outcome.SUCCEEDED
            record.error_code = ""
            record.error_message = f"confirmed from AWS afterwards: {state}"
            if restarted:
                # It was stopped (by this action), then someone started it: the
                # later start is theirs and is respected, the stop not repeated.
                record.error_message = (
                    f"started again at {format_when(resource.launch_time, '%Y-%m-%d %H:%M:%S %Z')} after this stop; that start is respected"
                )
            if record.run.trigger == ParkingRun.Trigger.TICK:
                reached_by_target["stopped" if record.action == "stop" else "running"].append(record.resource_id)
        else:
            record.outcome = ParkingAction.Outcome.FAILED
            record.error_code = INTERRUPTED_CODE
            record.error_message = (
                f"AWS never confirmed this {record.action} and shows {state}; the next tick decides again"
            )
    runs = {run.pk: run for run in abandoned} | {record.run_id: record.run for record in pending}
    with transaction.atomic():
        if pending:
            ParkingAction.objects.bulk_update(pending, ["outcome", "error_code", "error_message", "settled_at"])
        for desired, pks in reached_by_target.items():
            # The decision was carried out: store it, so it is not taken again.
            Resource.objects.filter(pk__in=pks).update(
                desired_state=desired, retained_running=False, failures=0, last_failure="", retry_after=None,
                parked_at=now if desired == "stopped" else None,
            )
            for pk in pks:
                if pk in fresh:
                    fresh[pk].desired_state, fresh[pk].retained_running = desired, False
        counts = {
            row["run_id"]: row
            for row in ParkingAction.objects.filter(run__in=list(runs))
            .values("run_id")
            .annotate(
                ok=Count("pk", filter=Q(outcome=ParkingAction.Outcome.SUCCEEDED)),
                bad=Count("pk", filter=Q(outcome=ParkingAction.Outcome.FAILED)),
                skip=Count("pk", filter=Q(outcome=ParkingAction.Outcome.SKIPPED)),
            )
        }
        for run in runs.values():
            row = counts.get(run.pk, {"ok": 0, "bad": 0, "skip": 0})
            run.succeeded, run.failed, run.skipped = row["ok"], row["bad"], row["skip"]
            run.planned = max(run.planned, row["ok"] + row["bad"])
            if run.status == ParkingRun.Status.RUNNING:
                run.status = ParkingRun.Status.INTERRUPTED
                run.finished_at = now
                note = f"Interrupted: the worker stopped before finishing; reconciled from AWS at {format_when(now, '%Y-%m-%d %H:%M:%S %Z')}."
                run.error = f"{run.error}\n{note}".strip()
            elif run.status == ParkingRun.Status.SUCCEEDED and row["bad"]:
                run.status = ParkingRun.Status.PARTIAL
        ParkingRun.objects.bulk_update(
            list(runs.values()), ["status", "finished_at", "succeeded", "failed", "skipped", "planned", "error"]
        )
    logger.warning(
        "Account %s: reconciled %d unsettled action(s) and %d interrupted run(s) from AWS",
        account_id, len(pending), len(abandoned),
    )
    return list(runs.values())


def _started_again_since(record: ParkingAction, resource: Resource | None) -> bool:
    """A pending stop whose machine runs now with a launch time (EC2: its last
    start) after the stop was written: the machine was stopped, then started."""
    return (
        record.action == "stop"
        and resource is not None
        and resource.state in RUNNING_STATES
        and resource.launch_time is not None
        and resource.launch_time > record.created_at
    )
