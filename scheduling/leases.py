"""Per-account parking leases: who may act on an account's machines now.

A lease is one `ParkingLease` row per account. Every change is one conditional
UPDATE evaluated by the database against *its* clock (`Now()`), so servers with
skewed clocks agree on who holds it:

* claim: only when it has expired; the claimant writes a token unique to this
  claim (host, process, random part);
* renew: only by the holder of that token, before each AWS action, so a run
  that outlives its lease finds out before acting again instead of acting
  beside the worker that took over;
* release: only by the holder, so a slow worker can never free the lease of
  the worker that replaced it.

A lease lasts longer than any single AWS call can take (bounded by the
client's timeouts and retries): renewed before each call, it cannot run out
while its holder is still able to act.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.db.models.functions import Now

from scheduling.models import ParkingLease
from tenants import aws

logger = logging.getLogger(__name__)

# The row is created expired; any instant in the past will do.
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class LeaseLost(Exception):
    """The lease expired and may belong to another worker: stop acting."""


@dataclass(frozen=True)
class Lease:
    account_id: int
    token: str


# Time for the database work between two renewals (recording a batch, planning).
LEASE_MARGIN_SECONDS = 60


def lease_seconds() -> int:
    """Longer than the longest gap between two renewals — one AWS call, retries
    included, plus the database work around it — and, with the default AWS
    settings, shorter than a tick: the account of a worker that died is taken
    over (and reconciled) by the next tick."""
    return aws.max_call_seconds() + LEASE_MARGIN_SECONDS


def _until(seconds: int) -> Now:
    return Now() + dt.timedelta(seconds=seconds)  # type: ignore[return-value]


def lease_claim(*, account_id: int, seconds: int | None = None) -> Lease | None:
    """Claim the account's lease if nobody holds it; None when it is taken."""
    ParkingLease.objects.bulk_create([ParkingLease(account_id=account_id, until=_EPOCH)], ignore_conflicts=True)
    token = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"
    claimed = ParkingLease.objects.filter(account_id=account_id, until__lt=Now()).update(
        until=_until(seconds or lease_seconds()), holder=token
    )
    return Lease(account_id=account_id, token=token) if claimed == 1 else None


def lease_renew(lease: Lease, *, seconds: int | None = None) -> None:
    """Extend the lease from now; raises LeaseLost unless we still hold it.

    The holder token changes on every claim, so while it is ours nobody else
    has claimed the account, even if the lease ran out a moment ago."""
    renewed = ParkingLease.objects.filter(account_id=lease.account_id, holder=lease.token).update(
        until=_until(seconds or lease_seconds())
    )
    if renewed != 1:
        raise LeaseLost(f"the parking lease of account {lease.account_id} was taken over by another worker")


def lease_release(lease: Lease, *, outcome: tuple[str, str] | None = None) -> bool:
    """Give the lease back; a no-op (False) when it is no longer ours. With
    `outcome` (status, error), the tick's result is kept on the row as well."""
    fields: dict = {"until": _until(-1), "holder": ""}
    if outcome is not None:
        fields.update(last_tick_at=Now(), last_status=outcome[0][:12], last_error=outcome[1])

    def release() -> bool:
        return ParkingLease.objects.filter(account_id=lease.account_id, holder=lease.token).update(**fields) == 1

    try:
        return release()
    except DatabaseError:
        # The work under the lease may have broken the connection (it was
        # killed, the database restarted): a fresh one gives the lease back.
        # If the database stays away, the lease simply expires.
        if connection.in_atomic_block:
            raise
        connection.close()
        try:
            return release()
        except DatabaseError:
            logger.exception("Could not release the parking lease of account %s; it expires by itself", lease.account_id)
            return False
