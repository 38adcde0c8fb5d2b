"""Per-account parking leases: who may act on an account's machines now.

A lease is one `ParkingLease` row per account. Every change is one conditional
UPDATE evaluated by the database against *its* clock (`Now()`), so servers with
skewed clocks agree on who holds it:

* claim: only when it has expired; the claimant writes a token unique to this
  claim (host, process, random part);
* renew: only by the holder of that token, before each batch of AWS actions
  and again before any AWS call made more than `RENEW_WITHIN_SECONDS` after
  the last renewal, so a run that outlives its lease finds out before acting
  again instead of acting beside the worker that took over;
* release: only by the holder, so a slow worker can never free the lease of
  the worker that replaced it.

A tick's task claims its account's lease and starts its enqueue claim
(scheduling.claims) in the same UPDATE, and gives both back in one at the end.
Whether the previous holder left work open (it never gave the lease back, or
its run left actions unconfirmed) is kept on the row (`unsettled`): the claim
sets it when the previous holder never released, so a run reads it for free
and asks the database for anything to reconcile only then.

A lease lasts longer than any single AWS call can take (bounded by the
client's timeouts and retries) plus `RENEW_WITHIN_SECONDS` plus the database
work around a call: a call that starts less than `RENEW_WITHIN_SECONDS` after a
renewal (measured on the holder's monotonic clock, which a paused or slow
process does not escape) ends before the lease can run out, so nobody else can
have claimed the account and the call needs no renewal of its own. That keeps
the queries per account flat however many one-at-a-time calls (RDS, Auto
Scaling) a batch makes, without giving up the guarantee.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from time import monotonic  # tests move this clock with the database's (tests/faults/test_lease.py)

from django.db import DatabaseError, connection
from django.db.models import Case, F, Value, When
from django.db.models.functions import Now

from scheduling.models import ParkingLease
from tenants import aws

logger = logging.getLogger(__name__)

# The row is created expired; any instant in the past will do.
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class LeaseLost(Exception):
    """The lease expired and may belong to another worker: stop acting."""


class Superseded(Exception):
    """The task's enqueue claim is no longer its own: a later tick's task has the account."""


@dataclass
class Lease:
    account_id: int
    token: str
    # monotonic() just before the last claim or renewal was sent.
    renewed_at: float = field(default_factory=lambda: monotonic(), compare=False)
    # ParkingLease.changes when claimed: a clean run takes back only these
    # (scheduling.due), so a change made during the run keeps the account due.
    changes: int = 0
    # When the account's machines were last all read, and how its last run
    # ended (read with `changes`): a run may then skip what a complete
    # inventory would only confirm (scheduling.parking).
    inventoried_at: dt.datetime | None = None
    last_status: str = ""
    # The previous holder may have left work open: reconcile before planning.
    unsettled: bool = True
    # The tick's enqueue claim (scheduling.claims) started with this lease and
    # given back with it; `queue_released` once it was.
    queued: str | None = None
    queue_released: bool = False

    def read(self, row: ParkingLease) -> None:
        """Take what the run plans from off the lease row, read after the claim."""
        self.changes = row.changes or 0
        self.inventoried_at, self.last_status, self.unsettled = row.inventoried_at, row.last_status, row.unsettled


@dataclass(frozen=True)
class Evaluated:
    """What a run leaves for the due-work rule (scheduling.due)."""

    at: dt.datetime | None = None  # the instant a clean run evaluated for; None: not clean
    inventoried_at: dt.datetime | None = None  # when a complete inventory was read; None: not read in full


# A renewal younger than this still covers the next AWS call (see above).
RENEW_WITHIN_SECONDS = 20
# Time for the database work between two renewals (recording a batch, planning),
# on top of RENEW_WITHIN_SECONDS.
LEASE_MARGIN_SECONDS = 40


def lease_seconds() -> int:
    """Longer than the longest gap between two renewals — one AWS call, retries
    included, plus the database work around it — and, with the default AWS
    settings, shorter than a tick: the account of a worker that died is taken
    over (and reconciled) by the next tick."""
    return aws.max_call_seconds() + RENEW_WITHIN_SECONDS + LEASE_MARGIN_SECONDS


def _until(seconds: int) -> Now:
    return Now() + dt.timedelta(seconds=seconds)  # type: ignore[return-value]


def lease_claim(
    *, account_id: int, seconds: int | None = None, queued: str | None = None, read: bool = True
) -> Lease | None:
    """Claim the account's lease if nobody holds it; None when it is taken.

    With `queued` (a tick's claim token), the task's enqueue claim is started
    in the same UPDATE, and only while it is still that token's: otherwise
    `Superseded` (a later tick's task has the account). With `read`, the
    claimed lease knows how many changes the account had (`Lease.changes`) and
    the rest `Lease.read` takes, read right after the claim, before anything
    the run plans from; without, the caller reads the row itself (parking
    does, with the account: one query)."""
    token = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"
    fields: dict = {
        "until": _until(seconds or lease_seconds()), "holder": token,
        # Evaluated on the row's old values: a holder that never gave the lease back left work open.
        "unsettled": Case(When(holder="", then=F("unsettled")), default=Value(True)),
    }
    rows = ParkingLease.objects.filter(account_id=account_id, until__lt=Now())
    if queued is not None:
        from scheduling.claims import running_seconds

        rows = rows.filter(queued_token=queued)
        fields["queued_until"] = _until(running_seconds())

    sent_at = monotonic()
    claimed = rows.update(**fields)
    if claimed == 0 and queued is None and not ParkingLease.objects.filter(account_id=account_id).exists():
        # The account's first run (the tick's claim usually created the row already).
        ParkingLease.objects.bulk_create([ParkingLease(account_id=account_id, until=_EPOCH)], ignore_conflicts=True)
        sent_at = monotonic()
        claimed = rows.update(**fields)
    if claimed != 1:
        if queued is not None:
            from scheduling.claims import claim_release

            # Ours but the lease is busy: the claim is given back (one query,
            # only on this path); not ours any more: superseded.
            if not claim_release(account_ids=[account_id], token=queued):
                raise Superseded(f"account {account_id} has a later tick's task")
        return None
    lease = Lease(account_id=account_id, token=token, renewed_at=sent_at, queued=queued)
    if read:
        row = ParkingLease.objects.filter(account_id=account_id).only(
            "changes", "inventoried_at", "last_status", "unsettled"
        ).first()
        if row is not None:
            lease.read(row)
    return lease


def lease_renew(lease: Lease, *, seconds: int | None = None) -> None:
    """Extend the lease from now; raises LeaseLost unless we still hold it.

    The holder token changes on every claim, so while it is ours nobody else
    has claimed the account, even if the lease ran out a moment ago."""
    sent_at = monotonic()
    renewed = ParkingLease.objects.filter(account_id=lease.account_id, holder=lease.token).update(
        until=_until(seconds or lease_seconds())
    )
    if renewed != 1:
        raise LeaseLost(f"the parking lease of account {lease.account_id} was taken over by another worker")
    lease.renewed_at = sent_at


def lease_keep(lease: Lease) -> None:
    """Before an AWS call: renew unless the last renewal is recent enough to
    cover the call (RENEW_WITHIN_SECONDS); raises LeaseLost like lease_renew."""
    if monotonic() - lease.renewed_at >= RENEW_WITHIN_SECONDS:
        lease_renew(lease)


def lease_release(
    lease: Lease, *, outcome: tuple[str, str] | None = None, evaluated: Evaluated | None = None, settled: bool = False
) -> bool:
    """Give the lease back; a no-op (False) when it is no longer ours. With
    `outcome` (status, error), the tick's result is kept on the row as well;
    with `evaluated`, what the due-work rule reads next tick; `settled` when
    the run left nothing open (no pending action, its run closed), so the
    next run need not look. The enqueue claim started with the lease is
    given back in the same UPDATE."""
    fields: dict = {"until": _until(-1), "holder": "", "unsettled": not settled}
    if lease.queued is not None:
        ours = When(queued_token=lease.queued, then=Value(None))
        fields.update(
            queued_token=Case(When(queued_token=lease.queued, then=Value("")), default=F("queued_token")),
            queued_until=Case(ours, default=F("queued_until")),
        )
    if outcome is not None:
        fields.update(last_tick_at=Now(), last_status=outcome[0][:12], last_error=outcome[1])
    if evaluated is not None:
        if evaluated.inventoried_at is not None:
            fields["inventoried_at"] = evaluated.inventoried_at
        if evaluated.at is not None:
            fields.update(evaluated_at=evaluated.at, changes=F("changes") - lease.changes)

    def release() -> bool:
        released = ParkingLease.objects.filter(account_id=lease.account_id, holder=lease.token).update(**fields) == 1
        lease.queue_released = released and lease.queued is not None
        return released

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
