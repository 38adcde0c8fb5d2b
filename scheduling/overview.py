"""The account overview (self-service `/app/`): for each of a tenant's AWS
accounts, its machines by state, how many are scheduled, its last parking tick,
and its problems with the fix in plain words.

A selector: two queries whatever the number of accounts and machines (the
accounts with their last tick, then the machines counted by account, state and
schedule tag), so the page costs the same for one account or a hundred.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from portal.zones import format_when
from scheduling.models import ParkingLease, Resource, Schedule
from tenants.models import CloudAccount, CloudCredential, Tenant
from tenants.sunset import paused_message
from tenants.validation import parkway_account_message

# The order people think of machines in; other states follow, alphabetically.
STATE_ORDER = ("running", "pending", "stopping", "stopped", "shutting-down", "terminated")
# A tick that did not finish well (see scheduling.parking AccountResult.status).
TICK_PROBLEMS = {"failed", "partial", "interrupted", "error"}


@dataclass(frozen=True)
class Problem:
    """Something wrong with an account, and what fixes it."""

    what: str
    fix: str


@dataclass
class AccountOverview:
    account: CloudAccount
    states: list[tuple[str, int]] = field(default_factory=list)  # (state, machines), people's order
    machines: int = 0
    scheduled: int = 0  # assigned a schedule, or tagged with the name of one that exists
    unknown_tags: list[str] = field(default_factory=list)  # Schedule tags naming no schedule
    unknown_tagged: int = 0
    backing_off: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def not_scheduled(self) -> int:
        return self.machines - self.scheduled

    @property
    def lease(self) -> ParkingLease | None:
        return getattr(self.account, "parking_lease", None)

    @property
    def last_tick_at(self) -> dt.datetime | None:
        return self.lease.last_tick_at if self.lease is not None else None

    @property
    def last_tick_status(self) -> str:
        return self.lease.last_status if self.lease is not None and self.lease.last_tick_at else ""

    @property
    def last_tick_ok(self) -> bool:
        return bool(self.last_tick_status) and self.last_tick_status not in TICK_PROBLEMS


def _state_key(state: str) -> tuple[int, str]:
    return (STATE_ORDER.index(state), "") if state in STATE_ORDER else (len(STATE_ORDER), state)


def accounts_overview(*, tenant: Tenant, now: dt.datetime | None = None) -> list[AccountOverview]:
    """Each of `tenant`'s accounts, by name, with its machines and problems."""
    now = now or timezone.now()
    accounts = list(
        CloudAccount.objects.filter(tenant=tenant)
        .with_auth_kind()
        .select_related("parking_lease")
        .annotate(backing_off=Count("resources", filter=Q(resources__gone_at__isnull=True, resources__retry_after__gt=now)))
        .order_by("name", "account_id")
    )
    overviews = {a.pk: AccountOverview(account=a, backing_off=a.backing_off) for a in accounts}
    if overviews:
        known = Schedule.objects.filter(Q(tenant=tenant) | Q(tenant__isnull=True), name=OuterRef("schedule_tag"))
        groups = (
            Resource.objects.filter(account__tenant=tenant, gone_at__isnull=True)
            .values("account_id", "state", "schedule_tag")
            .annotate(n=Count("pk"), assigned=Count("pk", filter=Q(schedule__isnull=False)), known=Exists(known))
            .order_by()
        )
        states: dict[int, dict[str, int]] = {pk: {} for pk in overviews}
        for row in groups:
            overview = overviews[row["account_id"]]
            n, assigned = row["n"], row["assigned"]
            overview.machines += n
            by_state = states[row["account_id"]]
            by_state[row["state"] or "unknown"] = by_state.get(row["state"] or "unknown", 0) + n
            tagged = n - assigned  # no assignment: they follow their tag, if any
            overview.scheduled += assigned + (tagged if row["schedule_tag"] and row["known"] else 0)
            if row["schedule_tag"] and not row["known"] and tagged:
                overview.unknown_tagged += tagged
                overview.unknown_tags.append(row["schedule_tag"])
        for pk, overview in overviews.items():
            overview.states = sorted(states[pk].items(), key=lambda item: _state_key(item[0]))
            overview.unknown_tags = sorted(set(overview.unknown_tags))
            overview.problems = account_problems(overview)
    return list(overviews.values())


def account_problems(overview: AccountOverview) -> list[Problem]:
    """What is wrong with one account, most blocking first, each with its fix."""
    account = overview.account
    problems: list[Problem] = []
    if account.is_parkway_account:
        problems.append(Problem(
            what="This is Parkway's own AWS account, not yours: Parkway never parks it.",
            fix=parkway_account_message(account.account_id) + " Then connect that account; ask us to remove this one.",
        ))
        return problems
    if account.paused_by_legacy_deadline:
        problems.append(Problem(what=paused_message(), fix="Open the account and press “Switch to an IAM role”."))
    elif getattr(account, "auth_kind", None) == CloudCredential.Kind.LEGACY_USER:
        problems.append(Problem(
            what="Parkway reaches this account with IAM user access keys, which never expire.",
            fix="Open the account and switch it to an IAM role: it takes a few minutes and keeps every setting.",
        ))
    if account.claimed_at is None:
        expires = account.unverified_expires_at
        problems.append(Problem(
            what="Not verified yet: Parkway has not yet worked in this account, so it parks nothing there"
            + (f", and forgets it on {format_when(expires)}." if expires else "."),
            fix="Create the role with our template (Connect page, step 1), then open the account and press “Test again”.",
        ))
    elif account.status == CloudAccount.Status.ERROR:
        problems.append(Problem(
            what=f"Parkway could not work in this account: {account.last_error or 'the last test failed.'}",
            fix="Fix it in AWS as the message says, then open the account and press “Test again”.",
        ))
    elif account.status == CloudAccount.Status.DISABLED:
        problems.append(Problem(
            what="Parking is switched off for this account.", fix="Ask Parkway support to switch it on again.",
        ))
    if overview.last_tick_at and not overview.last_tick_ok and account.status != CloudAccount.Status.ERROR:
        lease = overview.lease
        problems.append(Problem(
            what=f"The last parking tick ended “{lease.last_status}”" + (f": {lease.last_error}" if lease.last_error else "."),
            fix="Parkway retries at every tick; if it keeps failing, open the account and press “Test again”.",
        ))
    if overview.unknown_tagged:
        count = overview.unknown_tagged
        names = ", ".join(f"“{name}”" for name in overview.unknown_tags)
        problems.append(Problem(
            what=f"{count} machine{'s' if count != 1 else ''} carr{'y' if count != 1 else 'ies'} a Schedule tag naming "
            f"no schedule ({names}), so Parkway leaves {'them' if count != 1 else 'it'} alone.",
            fix="Create a schedule with that name, or correct the tag in AWS, or assign a schedule on the machine's page.",
        ))
    if overview.backing_off:
        count = overview.backing_off
        problems.append(Problem(
            what=f"{count} machine{'s' if count != 1 else ''} failed to start or stop and Parkway is waiting before trying again.",
            fix="The machine's page says why; fix that in AWS and the next try follows on its own.",
        ))
    if account.claimed_at and overview.last_tick_at and not overview.machines and account.status != CloudAccount.Status.ERROR:
        problems.append(Problem(
            what=f"Parkway found no machines in {', '.join(account.regions) or 'any region'}.",
            fix="If your machines run in other regions, add them on the account page.",
        ))
    return problems
