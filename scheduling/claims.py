"""Enqueue claims: at most one pending parking task per account.

When workers fall behind, a tick must not enqueue another task for an account
whose previous one is still queued or running. The tick claims the accounts
it enqueues a task for on their `ParkingLease` rows, with conditional UPDATEs
evaluated against the database's clock (`Now()`), like the lease itself:

* claim (the tick): one UPDATE for all its accounts, only where no claim is in
  force; each claim writes the tick's token, which travels with the task;
* start (the task): only while the claim is still its own. A task whose claim
  ran out and was taken by a later tick does nothing: the later task carries
  the later instant, so a backlog collapses to the newest tick;
* release (the task, done): only its own claim.

A claim expires, so a lost task never blocks its account for long: Redis has
no delivery receipts, and a killed cluster loses the tasks it had fetched. A
queued claim lasts a little under a tick (the next tick enqueues the account
again); a started one as long as django-q2 lets a task run (`timeout`), after
which the task is dead whatever happened to it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now

from scheduling.models import ParkingLease

# The lease row is created expired; any instant in the past will do.
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# The tick fires every PARKWAY_TICK_MINUTES, give or take the scheduler's polling:
# a queued claim ends this much earlier, so the next tick finds it over.
TICK_SLACK_SECONDS = 30
# After django-q2's timeout the task's process is killed; this much more for its result to be saved.
RUN_SLACK_SECONDS = 60


def queued_seconds() -> int:
    """How long a task may wait in the queue before it is presumed lost."""
    return max(TICK_SLACK_SECONDS, settings.PARKWAY_TICK_MINUTES * 60 - TICK_SLACK_SECONDS)


def running_seconds() -> int:
    """How long a started task keeps its account's claim at most."""
    return int(settings.Q_CLUSTER.get("timeout") or 300) + RUN_SLACK_SECONDS


def _until(seconds: int) -> Now:
    return Now() + dt.timedelta(seconds=seconds)  # type: ignore[return-value]


@dataclass(frozen=True)
class Claim:
    token: str
    account_ids: list[int]


def accounts_claim(*, account_ids: Iterable[int], seconds: int | None = None) -> Claim:
    """Claim every account of `account_ids` that has no task pending; the claim
    lists those (to enqueue a task for each, with the claim's token). Three
    statements however many accounts."""
    ids = list(account_ids)
    token = uuid.uuid4().hex
    if not ids:
        return Claim(token=token, account_ids=[])
    ParkingLease.objects.bulk_create(
        [ParkingLease(account_id=pk, until=_EPOCH) for pk in ids], ignore_conflicts=True, batch_size=1000
    )
    ParkingLease.objects.filter(account_id__in=ids).filter(
        Q(queued_until__isnull=True) | Q(queued_until__lt=Now())
    ).update(queued_token=token, queued_until=_until(seconds or queued_seconds()))
    claimed = ParkingLease.objects.filter(account_id__in=ids, queued_token=token).order_by("account_id").values_list("account_id", flat=True)
    return Claim(token=token, account_ids=list(claimed))


def claim_start(*, account_id: int, token: str, seconds: int | None = None) -> bool:
    """The task starts: True while the claim is still its own (extended for the
    run), False when a later tick has claimed the account since."""
    return (
        ParkingLease.objects.filter(account_id=account_id, queued_token=token).update(
            queued_until=_until(seconds or running_seconds())
        )
        == 1
    )


def claim_release(*, account_ids: Iterable[int], token: str) -> int:
    """Give the claims of `token` back (task done, or never enqueued); others' are untouched."""
    return ParkingLease.objects.filter(account_id__in=list(account_ids), queued_token=token).update(
        queued_token="", queued_until=None
    )
