"""Parking events become messages: one summary per tenant per tick, never one
per machine ("grouped alerts, not floods").

The tick opens a tally per tenant with how many of its accounts were enqueued
(`tick_opened`), when there are several; each account's task adds what it did
(`account_reported`, counted from the run's answers in memory); the task that
completes the tally claims it once and sends. A tenant's only account in a
tick sends its summary itself. A tally whose
tasks were lost is sent by a later tick (`tallies_flush`), and an account that
reports after its tally went out sends its own part, so nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from notifications import credentials, snoozes, warnings
from notifications.delivery import deliveries_create
from notifications.models import Channel, Event, TickTally
from scheduling.claims import running_seconds
from scheduling.models import ParkingAction
from tenants.models import CloudAccount, Tenant

if TYPE_CHECKING:
    from scheduling.parking import AccountResult

MAX_FAILURE_LINES = 20

logger = logging.getLogger(__name__)


def tick_notices(*, at: dt.datetime) -> None:
    """What each tick tells besides the summary, from the database alone (no
    AWS call): pre-stop warnings, snoozes that ran out, legacy keys nearing
    their deadline. Each goes out once however many ticks run (see each
    module); a failure of one is logged and never stops the tick or the others."""
    for what, send in (
        ("pre-stop warnings", warnings.stop_warnings_send),
        ("ended snoozes", snoozes.snooze_ends_send),
        ("legacy-deadline notices", credentials.legacy_deadline_notices_send),
    ):
        try:
            with transaction.atomic():
                send(at=at)
        except Exception:
            logger.exception("Could not send the tick's %s", what)


def tick_opened(*, tick: str, account_ids: list[int]) -> set[int]:
    """The tick enqueued these accounts under the claim token `tick`. Returns
    those whose tenant has a tally (several accounts in the tick): the others'
    tasks need not look for one (`account_reported(tallied=False)`)."""
    tallies_flush(older_than=timezone.now() - dt.timedelta(seconds=running_seconds()))
    tenants = dict(CloudAccount.objects.filter(pk__in=account_ids).values_list("pk", "tenant_id"))
    per_tenant = Counter(tenants.values())
    # A tenant with one account in the tick needs no tally: its account's
    # report is the summary (account_reported finds no tally and sends it).
    TickTally.objects.bulk_create(
        [TickTally(tenant_id=tenant_id, tick=tick, expected=n) for tenant_id, n in per_tenant.items() if n > 1],
        ignore_conflicts=True,
    )
    return {pk for pk, tenant_id in tenants.items() if per_tenant[tenant_id] > 1}


def _what_happened(result: AccountResult) -> tuple[int, int, int, list[dict]]:
    stopped = started = 0
    failures: list[dict] = []
    account = result.account
    where = account.name or account.account_id
    # From what AWS answered this run (AccountResult.acted): no query however busy the account.
    for resource, action_name, outcome in result.acted:
        if outcome.unknown:
            continue  # unconfirmed: the next tick confirms it from AWS's state
        if outcome.ok:
            if action_name == ParkingAction.Action.STOP:
                stopped += 1
            else:
                started += 1
            continue
        failures.append({
            "account": where, "resource": resource.resource_id, "name": resource.name,
            "action": action_name, "message": outcome.message or outcome.code,
        })
    failed = len(failures)
    if result.status in ("failed", "error"):
        failed += 1
        failures.insert(0, {"account": where, "resource": "", "name": "", "action": "", "message": result.error})
    for problem in result.unread:
        failed += 1
        failures.append({"account": where, "resource": "", "name": "", "action": "", "message": problem})
    return stopped, started, failed, failures


# Read with the account by parking (`account.tenant_has_channels`): a tenant
# with no enabled channel has nowhere to send a summary, and reading its
# channels would be a query per busy task for nothing.
TENANT_HAS_CHANNELS = "tenant_has_channels"


def tenant_has_channels() -> Exists:
    """An annotation for a CloudAccount query: has its tenant an enabled channel?"""
    return Exists(Channel.objects.filter(tenant=OuterRef("tenant"), enabled=True))


def account_reported(*, tick: str | None, result: AccountResult, tallied: bool = True) -> None:
    """One account's task is done: add to its tenant's tally, send when it is
    the last. Without a tick, or not `tallied` (the tenant's only account in
    the tick, as tick_opened said), its part is the summary."""
    if result.status in ("busy", "superseded"):
        return
    stopped, started, failed, failures = _what_happened(result)
    tenant = result.account.tenant
    # Its part on its own, when there is something to tell and somewhere to tell it.
    alone = bool(stopped or started or failed) and getattr(result.account, TENANT_HAS_CHANNELS, True)
    if tick is None or not tallied:
        if alone:
            _summary_send(tenant=tenant, stopped=stopped, started=started, failed=failed, failures=failures)
        return
    with transaction.atomic():
        # The tick created the tally of a tenant with several accounts in it (tick_opened): one locked read.
        tally = TickTally.objects.select_for_update().filter(tenant=tenant, tick=tick).first()
        if tally is None or tally.sent_at is not None:
            # The tenant's only account in the tick (no tally), or late (the
            # tally went out without this account): its part goes on its own.
            if alone:
                _summary_send(tenant=tenant, stopped=stopped, started=started, failed=failed, failures=failures)
            return
        tally.tenant = tenant  # already loaded: _tally_send reads its name
        tally.done += 1
        tally.stopped += stopped
        tally.started += started
        tally.failed += failed
        tally.failures = (tally.failures + failures)[:MAX_FAILURE_LINES]
        if tally.done >= tally.expected:
            tally.sent_at = timezone.now()
        tally.save()
        if tally.sent_at is not None:
            _tally_send(tally)


def tallies_flush(*, older_than: dt.datetime) -> int:
    """Send the tallies whose tasks never all reported (lost, killed)."""
    sent = 0
    for pk in TickTally.objects.filter(sent_at__isnull=True, created_at__lt=older_than).values_list("pk", flat=True):
        with transaction.atomic():
            if TickTally.objects.filter(pk=pk, sent_at__isnull=True).update(sent_at=timezone.now()) == 1:
                _tally_send(TickTally.objects.select_related("tenant").get(pk=pk))
                sent += 1
    return sent


def _tally_send(tally: TickTally) -> None:
    if tally.stopped or tally.started or tally.failed:
        _summary_send(
            tenant=tally.tenant, stopped=tally.stopped, started=tally.started, failed=tally.failed, failures=tally.failures
        )


def _failure_line(f: dict) -> str:
    if f.get("resource"):
        what = f"{f['action']} {f['name'] or f['resource']} ({f['resource']}, {f['account']})"
        return f"{what} failed: {f['message']}"
    return f"Account {f['account']} could not be parked: {f['message']}"


def _summary_send(*, tenant: Tenant, stopped: int, started: int, failed: int, failures: list[dict]) -> None:
    data = {"stopped": stopped, "started": started, "failed": failed, "failures": failures}
    title = f"Parkway · {tenant.name}: {stopped} stopped, {started} started, {failed} failed"
    lines = [_failure_line(f) for f in failures]
    channels = list(Channel.objects.filter(tenant=tenant, enabled=True))
    summary = [c for c in channels if c.wants(Event.PARKING_SUMMARY)]
    deliveries_create(tenant=tenant, event=Event.PARKING_SUMMARY, message={"title": title, "lines": lines, "data": data}, channels=summary)
    if failed:
        # Channels that chose failures but not the summary hear about the failures alone.
        only_failures = [c for c in channels if c.wants(Event.FAILURES) and c not in summary]
        title = f"Parkway · {tenant.name}: {failed} failure{'s' if failed != 1 else ''} while parking"
        deliveries_create(
            tenant=tenant, event=Event.FAILURES, message={"title": title, "lines": lines, "data": data}, channels=only_failures
        )
