"""Credential problems, told to the channels that chose them, once each.

* A connection that fails — a connection test that fails, or a role the tick
  finds revoked — is told once, then not again until the account works again
  (a successful test or tick deletes the notice): a revoked role found on
  every tick is one message, not one per tick.
* Legacy IAM-user keys nearing PARKWAY_LEGACY_DEADLINE: one message 30, 7 and
  1 days before, each once per account (a notice row per threshold, so a
  restarted worker or a second tick never repeats it); accounts of one tenant
  reaching a threshold together share a message.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse

from notifications.delivery import deliveries_create
from notifications.models import CredentialNotice, Event
from notifications.texts import account_label, public_url
from tenants import aws
from tenants.models import CloudAccount, CloudCredential, Tenant

LEGACY_THRESHOLDS = (30, 7, 1)  # days before the deadline, largest first
# Permanent failures that say Parkway cannot get in (or is not let do anything),
# as opposed to one request AWS refused.
CREDENTIAL_CODES = aws.DENIED_CODES | {"NoCredential", "CredentialRetired"}


def is_credential_error(error: aws.AwsError) -> bool:
    return error.permanent and (
        error.operation == "AssumeRole" or error.code in CREDENTIAL_CODES
        or error.code in aws.INVALID_KEY_CODES or error.code in aws.EXPIRED_CODES
    )


def _account_url(account: CloudAccount) -> str:
    return public_url(reverse("tenants:account", kwargs={"account_pk": account.pk}))


def connection_failed(*, account: CloudAccount, message: str, found_by: str) -> bool:
    """Tell that Parkway cannot get into `account` (`found_by`: "the connection
    test by alice", "the parking tick"), unless already told since it last
    worked. Returns whether a message went out. An account never connected
    yet (still being set up; its tester reads the result on the page) is not told."""
    if account.claimed_at is None:
        return False
    with transaction.atomic():
        _, created = CredentialNotice.objects.get_or_create(
            account=account, topic=CredentialNotice.Topic.FAILING, key="", defaults={"message": message[:500]}
        )
        if not created:
            return False
        tenant = account.tenant
        title = f"Parkway · {tenant.name}: cannot get into AWS account {account_label(account)}"
        lines = [message, f"Found by {found_by}. Parking in this account waits until it is fixed: {_account_url(account)}"]
        data = {"problem": "connection_failed", "account": account.account_id, "found_by": found_by, "message": message}
        deliveries_create(tenant=tenant, event=Event.CREDENTIALS, message={"title": title, "lines": lines, "data": data})
    return True


def connection_works(*, account: CloudAccount) -> None:
    """The account works again: its next failure is told again."""
    CredentialNotice.objects.filter(account=account, topic=CredentialNotice.Topic.FAILING).delete()


def legacy_threshold(*, today: dt.date) -> int | None:
    """The threshold (in days) reached by `today`: the smallest not below the days left (None: none)."""
    days_left = (settings.PARKWAY_LEGACY_DEADLINE - today).days
    if days_left < 0:
        return None  # past: accounts on keys are paused, and their pages say so
    reached = [t for t in LEGACY_THRESHOLDS if days_left <= t]
    return min(reached) if reached else None


def legacy_deadline_notices_send(*, at: dt.datetime) -> int:
    """Tell each tenant about its accounts still on legacy keys as the deadline
    comes within 30, 7 and 1 days; returns how many accounts were told about."""
    today = at.astimezone(dt.UTC).date()
    threshold = legacy_threshold(today=today)
    if threshold is None:
        return 0
    key = str(threshold)
    on_keys = CloudCredential.objects.filter(
        account=models.OuterRef("pk"), retired_at__isnull=True, kind=CloudCredential.Kind.LEGACY_USER
    )
    told = CredentialNotice.objects.filter(account=models.OuterRef("pk"), topic=CredentialNotice.Topic.LEGACY_DEADLINE, key=key)
    accounts = (
        CloudAccount.objects.claimed().connected().filter(models.Exists(on_keys)).exclude(models.Exists(told))
        .select_related("tenant").order_by("tenant_id", "pk")
    )
    by_tenant: dict[Tenant, list[CloudAccount]] = defaultdict(list)
    for account in accounts:
        with transaction.atomic():
            _, created = CredentialNotice.objects.get_or_create(
                account=account, topic=CredentialNotice.Topic.LEGACY_DEADLINE, key=key
            )
            # The larger thresholds are past: never sent after this one (deployed late, a long outage).
            CredentialNotice.objects.bulk_create(
                [CredentialNotice(account=account, topic=CredentialNotice.Topic.LEGACY_DEADLINE, key=str(t))
                 for t in LEGACY_THRESHOLDS if t > threshold],
                ignore_conflicts=True,
            )
        if created:
            by_tenant[account.tenant].append(account)
    deadline = settings.PARKWAY_LEGACY_DEADLINE
    days_left = (deadline - today).days
    left = "the last day is today" if days_left == 0 else f"{days_left} day{'s' if days_left != 1 else ''} left"
    for tenant, rows in by_tenant.items():
        title = (
            f"Parkway · {tenant.name}: Parkway stops using legacy access keys after "
            f"{deadline.day} {deadline:%B %Y} ({left})"
        )
        lines = [
            f"{account_label(a)} still connects with IAM user keys: switch it to an IAM role, or parking in it pauses "
            f"after {deadline.isoformat()}: {_account_url(a)}"
            for a in rows
        ]
        data = {
            "problem": "legacy_deadline", "deadline": deadline.isoformat(), "days_left": days_left, "threshold": threshold,
            "accounts": [a.account_id for a in rows],
        }
        with transaction.atomic():
            deliveries_create(tenant=tenant, event=Event.CREDENTIALS, message={"title": title, "lines": lines, "data": data})
    return sum(len(rows) for rows in by_tenant.values())
