"""django-q2 tasks: thin, ids in, a service call, nothing pickled but ids."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from notifications import events as notification_events
from notifications.warnings import stop_warnings_prune
from scheduling import claims, due, leases, parking
from scheduling.history import history_prune

logger = logging.getLogger(__name__)


def tick(at: str | None = None) -> int:
    """Fan out: one park_account task per account with something due in this
    tick (scheduling.due), enqueued after commit, except for accounts whose
    previous task is still queued or running (scheduling.claims); and what the
    tick tells without AWS (pre-stop warnings, ended snoozes, legacy deadlines).
    An account with nothing due costs no AWS call: its last tick time is
    brought forward in one UPDATE for all of them. Returns how many tasks were
    enqueued."""
    now = timezone.now()
    instant = dt.datetime.fromisoformat(at) if at else now
    # Warnings, ended snoozes, legacy deadlines: from the database, before the
    # parking tasks are enqueued (a warning precedes the stop it announces).
    notification_events.tick_notices(at=instant)
    due_now, idle = due.accounts_due_and_idle(accounts=parking.active_accounts().distinct(), at=instant, now=now)
    account_ids = list(due_now)
    due.accounts_looked_at(account_ids=idle)
    claim = claims.accounts_claim(account_ids=account_ids)
    pending = len(account_ids) - len(claim.account_ids)
    logger.info("Tick %s: %d account(s) due, %d with nothing due", instant.isoformat(), len(account_ids), len(idle))
    if pending:
        logger.info("%d account(s) still have a parking task queued or running: not enqueued again", pending)
    if claim.account_ids:
        tallied = notification_events.tick_opened(tick=claim.token, account_ids=claim.account_ids)
        transaction.on_commit(lambda: _enqueue_parking(claim, at, tallied))
    return len(claim.account_ids)


def _enqueue_parking(claim: claims.Claim, at: str | None, tallied: set[int]) -> None:
    # One broker (one Redis connection) for the whole fan-out: django-q2 would
    # build a broker per task otherwise; 10,000 tasks then take seconds, not minutes.
    broker = get_broker()
    for n, account_id in enumerate(claim.account_ids):
        try:
            async_task(
                "scheduling.tasks.park_account", account_id, at, claim.token, account_id in tallied,
                task_name=f"park-account-{account_id}", group="parking", broker=broker,
            )
        except Exception:
            # The broker refused: these accounts have no task, so no claim either.
            claims.claim_release(account_ids=claim.account_ids[n:], token=claim.token)
            raise


def park_account(account_id: int, at: str | None = None, claim: str | None = None, tallied: bool = True) -> dict:
    """Park one account. With the tick's `claim`, only while that claim is still
    the account's (a later tick's task supersedes this one): started and given
    back with the account's lease (scheduling.leases), or here if parking
    never got that far. `tallied`: its tenant has other accounts in the tick,
    so its report joins their summary (notifications.events)."""
    result = None
    try:
        instant = dt.datetime.fromisoformat(at) if at else None
        try:
            result = parking.park_account(account_id=account_id, at=instant, claim=claim)
        except leases.Superseded:
            claim = None  # not ours to give back
            return {"account": account_id, "status": "superseded", "planned": 0, "failed": 0}
        try:
            notification_events.account_reported(tick=claim, result=result, tallied=tallied)
        except Exception:  # telling people must never turn a finished parking run into a failed task
            logger.exception("Could not record account %s for the parking summary", account_id)
    finally:
        if claim is not None and (result is None or not result.queue_released):
            claims.claim_release(account_ids=[account_id], token=claim)
    return {"account": account_id, "status": result.status, "planned": result.planned, "failed": result.failed}


def sync_inventory() -> int:
    """Folded into the tick, which refreshes the inventory of every account
    it parks (due, or with an inventory older than its interval: scheduling.due)
    in its per-account task before planning. Kept so
    that a schedule of an earlier version, until `setup_schedules` removes it,
    fans out like the tick instead of walking every account in one task."""
    return tick()


def prune_history() -> str:
    """Daily: forget parking runs (and pre-stop warnings) older than PARKWAY_HISTORY_DAYS, audit events older than PARKWAY_AUDIT_DAYS."""
    now = timezone.now()
    report = history_prune(now=now, history_days=settings.PARKWAY_HISTORY_DAYS, audit_days=settings.PARKWAY_AUDIT_DAYS)
    warnings = stop_warnings_prune(before=now - dt.timedelta(days=settings.PARKWAY_HISTORY_DAYS))
    return f"{report}; {warnings} pre-stop warning(s) forgotten"
