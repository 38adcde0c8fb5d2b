"""django-q2 tasks: thin, ids in, a service call, nothing pickled but ids."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from portal.logs import log_context
from scheduling import parking
from scheduling.history import history_prune
from scheduling.inventory import inventory_sync
from tenants.aws import AwsError

logger = logging.getLogger(__name__)


def tick(at: str | None = None) -> int:
    """Fan out: one park_account task per active account, enqueued after commit."""
    account_ids = list(parking.active_accounts().values_list("pk", flat=True).distinct())
    for account_id in account_ids:
        transaction.on_commit(
            lambda account_id=account_id: async_task(
                "scheduling.tasks.park_account", account_id, at, task_name=f"park-account-{account_id}", group="parking"
            )
        )
    return len(account_ids)


def park_account(account_id: int, at: str | None = None) -> dict:
    instant = dt.datetime.fromisoformat(at) if at else None
    result = parking.park_account(account_id=account_id, at=instant)
    return {"account": account_id, "status": result.status, "planned": result.planned, "failed": result.failed}


def sync_inventory() -> int:
    """Refresh every active account's inventory (between ticks, for the pages people read)."""
    synced = 0
    for account in parking.active_accounts():
        with log_context(tenant=account.tenant.slug, account=account.account_id):
            try:
                inventory_sync(account=account)
                synced += 1
            except AwsError as exc:
                logger.warning("Inventory sync failed for account %s: %s", account.account_id, exc.message)
    return synced


def prune_history() -> str:
    """Daily: forget parking runs older than PARKWAY_HISTORY_DAYS, audit events older than PARKWAY_AUDIT_DAYS."""
    report = history_prune(
        now=timezone.now(), history_days=settings.PARKWAY_HISTORY_DAYS, audit_days=settings.PARKWAY_AUDIT_DAYS
    )
    return str(report)
