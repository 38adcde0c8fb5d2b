"""Due work: does this tick need to look at an account at all?

Most ticks change nothing: a schedule moves twice a day, a snooze ends once.
Describing every account every five minutes would cost AWS and the database
the same on a quiet day as at 18:00. So the tick asks this module which
accounts are due, and enqueues a `park_account` task (which describes the
account's machines and plans) for those only. An account is due in the window
(the instant its last clean run evaluated, this tick] iff:

* it was never evaluated, or its last run did not end cleanly (failed,
  partial, interrupted, an action failed or was left unconfirmed): retried
  every tick, and its window keeps starting at its last clean run;
* something changed in Parkway since a run last looked at it (`changes`): a
  schedule saved or imported, a machine assigned, a snooze set or cleared, a
  connection test (which finds new machines at once);
* a run was left running or an action pending (a worker died): reconciled;
* one of its machines follows an enforced schedule (re-asserted every tick);
* a schedule one of its machines follows changes what it wants in the window
  (the engine's `next_change`, DST-safe: instants are compared in UTC);
* a snooze ends, or a machine's backoff runs out, in the window;
* its inventory is older than the tenant's interval (`Tenant.inventory_minutes`,
  else PARKWAY_INVENTORY_MINUTES): machines launched or retagged in AWS are
  noticed within it.

Nothing else makes an account due. `due_reason` is the rule itself (pure);
`accounts_due` gathers its inputs for every account of a tick in a fixed
number of queries, whatever the number of accounts and machines.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Now

from portal.zones import format_when
from scheduling.models import Override, ParkingAction, ParkingLease, ParkingRun, Resource, Schedule
from scheduling.periods import ScheduleError
from scheduling.periods.engine import CompiledSchedule, cached_compile
from scheduling.resolver import ScheduleBook, books_for
from tenants.models import CloudAccount

CLEAN = "succeeded"


@dataclass(frozen=True)
class DueState:
    """What the account's last runs left on its ParkingLease row."""

    evaluated_at: dt.datetime | None = None
    inventoried_at: dt.datetime | None = None
    changes: int = 0
    last_status: str = ""


@dataclass
class DueInputs:
    """Everything the rule reads about one account (gathered by `accounts_due`)."""

    state: DueState = field(default_factory=DueState)
    # The schedules its current machines follow (assigned, or named by their tag).
    schedules: list[Schedule] = field(default_factory=list)
    snooze_ends: list[dt.datetime] = field(default_factory=list)
    retry_afters: list[dt.datetime] = field(default_factory=list)
    unsettled: bool = False  # a pending action, or a run left running
    inventory_minutes: int = 60


def _program(schedule: Schedule) -> CompiledSchedule | None:
    try:
        return cached_compile(schedule.to_spec())
    except ScheduleError:
        return None  # an invalid schedule's machines are left alone (resolver)


def due_reason(inputs: DueInputs, *, at: dt.datetime, now: dt.datetime) -> str | None:
    """Why the account is due at the tick instant `at` (wall clock `now`), or
    None when a run would find nothing to do and no AWS call is needed."""
    state = inputs.state
    since = state.evaluated_at
    if since is None:
        return "never evaluated"
    if state.last_status != CLEAN:
        return f"last run {state.last_status or 'did not finish'}: retried"
    if state.changes:
        return "changed in Parkway since its last run"
    if inputs.unsettled:
        return "a run or an action to reconcile"
    for schedule in inputs.schedules:
        if schedule.enforced:
            return f"schedule {schedule.name} is enforced"
    for schedule in inputs.schedules:
        program = _program(schedule)
        if program is None:
            continue
        found = program.next_change(since)
        if found is not None and found[0] <= at:
            return f"schedule {schedule.name}: {found[1]} at {format_when(found[0])}"
    for until in inputs.snooze_ends:
        if since < until <= at:
            return f"a snooze ends at {format_when(until)}"
    for retry in inputs.retry_afters:
        if since < retry <= at:
            return f"a backoff ends at {format_when(retry)}"
    if state.inventoried_at is None or now - state.inventoried_at >= dt.timedelta(minutes=inputs.inventory_minutes):
        return f"inventory older than {inputs.inventory_minutes} min"
    return None


def inventory_minutes(account: CloudAccount) -> int:
    return account.tenant.inventory_minutes or settings.PARKWAY_INVENTORY_MINUTES


def accounts_due(*, accounts: Iterable[CloudAccount], at: dt.datetime, now: dt.datetime) -> dict[int, str]:
    """The due accounts among `accounts` (tenants loaded), with the reason:
    pk → reason. Seven queries whatever the number of accounts and machines."""
    accounts = list(accounts)
    ids = [a.pk for a in accounts]
    if not ids:
        return {}
    inputs: dict[int, DueInputs] = {a.pk: DueInputs(inventory_minutes=inventory_minutes(a)) for a in accounts}
    for row in ParkingLease.objects.filter(account_id__in=ids).values(
        "account_id", "evaluated_at", "inventoried_at", "changes", "last_status"
    ):
        account_id = row.pop("account_id")
        inputs[account_id].state = DueState(**row)
    # Accounts never evaluated or not clean are due whatever else: ask no more about them.
    open_ids = [pk for pk, i in inputs.items() if i.state.evaluated_at is not None and i.state.last_status == CLEAN and not i.state.changes]
    if open_ids:
        windows_start = min(inputs[pk].state.evaluated_at for pk in open_ids)  # type: ignore[type-var]
        for account_id in ParkingAction.objects.filter(
            resource__account_id__in=open_ids, outcome=ParkingAction.Outcome.PENDING
        ).values_list("resource__account_id", flat=True).distinct():
            inputs[account_id].unsettled = True
        for account_id in ParkingRun.objects.filter(
            account_id__in=open_ids, status=ParkingRun.Status.RUNNING
        ).values_list("account_id", flat=True).distinct():
            inputs[account_id].unsettled = True
        # Which schedules the machines follow: the distinct (assignment, tag) pairs.
        followed: dict[int, set[tuple[int | None, str]]] = defaultdict(set)
        for account_id, schedule_id, tag in Resource.objects.filter(
            account_id__in=open_ids, gone_at__isnull=True
        ).filter(Q(schedule__isnull=False) | ~Q(schedule_tag="")).values_list(
            "account_id", "schedule_id", "schedule_tag"
        ).distinct():
            followed[account_id].add((schedule_id, tag))
        tenant_of = {a.pk: a.tenant_id for a in accounts}
        books: Mapping[int, ScheduleBook] = books_for({tenant_of[pk] for pk in followed})  # one query
        for account_id, pairs in followed.items():
            book = books[tenant_of[account_id]]
            found: dict[int, Schedule] = {}
            for schedule_id, tag in pairs:
                schedule = book.by_pk.get(schedule_id) if schedule_id is not None else book.by_name.get(tag)
                if schedule is not None:
                    found[schedule.pk] = schedule
            inputs[account_id].schedules = list(found.values())
        for account_id, until in Override.objects.filter(
            resource__account_id__in=open_ids, cancelled_at__isnull=True, until__gt=windows_start, until__lte=at
        ).values_list("resource__account_id", "until"):
            inputs[account_id].snooze_ends.append(until)
        for account_id, retry in Resource.objects.filter(
            account_id__in=open_ids, gone_at__isnull=True, retry_after__gt=windows_start, retry_after__lte=at
        ).values_list("account_id", "retry_after"):
            inputs[account_id].retry_afters.append(retry)
    due = {}
    for pk, given in inputs.items():
        reason = due_reason(given, at=at, now=now)
        if reason is not None:
            due[pk] = reason
    return due


def accounts_mark_changed(*, account_ids: Iterable[int] | None = None, tenant_ids: Iterable[int | None] | None = None) -> int:
    """Something the next tick must look at changed in Parkway (a schedule, an
    assignment, a snooze, a connection test): the accounts are due at the next
    tick. `tenant_ids` containing None (a global template) marks every account.
    One UPDATE; accounts without a lease row yet are due anyway (never evaluated)."""
    rows = ParkingLease.objects.all()
    if account_ids is not None:
        rows = rows.filter(account_id__in=list(account_ids))
    if tenant_ids is not None:
        tenants = set(tenant_ids)
        if None not in tenants:
            rows = rows.filter(account__tenant_id__in=tenants)
    return rows.update(changes=F("changes") + 1)


# Accounts a tick looks at per round of `accounts_due`: the tick's memory is
# that of one round, whatever the number of accounts (7 queries a round).
TICK_CHUNK = 500


def accounts_due_and_idle(*, accounts: QuerySet[CloudAccount], at: dt.datetime, now: dt.datetime) -> tuple[dict[int, str], list[int]]:
    """The tick's question over `accounts` (a query, tenants selected): which
    are due (pk → reason, `accounts_due`) and which are not (their pks). Read
    TICK_CHUNK accounts at a time in primary-key order, so a worker running the
    tick holds one round's accounts, schedules and inputs at a time (3,000
    accounts at once peaked a worker ~100 MB above the others)."""
    due: dict[int, str] = {}
    idle: list[int] = []
    last = 0
    while True:
        chunk = list(accounts.filter(pk__gt=last).order_by("pk")[:TICK_CHUNK])
        found = accounts_due(accounts=chunk, at=at, now=now)
        due.update(found)
        idle += [a.pk for a in chunk if a.pk not in found]
        if len(chunk) < TICK_CHUNK:
            return due, idle
        last = chunk[-1].pk


def accounts_looked_at(*, account_ids: list[int]) -> int:
    """The tick looked at these accounts and found nothing due: their last
    tick time moves on (pages, /readyz and /metrics read it), their status and
    window stay. A claim that has expired is cleared: its task is done or lost
    (a worker killed after its run, before releasing the claim), and nothing
    is pending for the account any more. One UPDATE."""
    if not account_ids:
        return 0
    return ParkingLease.objects.filter(account_id__in=account_ids).update(
        last_tick_at=Now(),
        queued_token=Case(When(queued_until__lt=Now(), then=Value("")), default=F("queued_token")),
    )
