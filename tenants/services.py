"""Services for tenants and their accounts: everything that writes, audited.

Admin actions, views and commands call these; they never write models directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from tenants.audit import Actor, audit_record
from tenants.models import CloudAccount, CloudCredential, Tenant, UserSettings, generate_external_id
from tenants.permissions import ADMINISTER, require
from tenants.validation import (
    validate_customer_account_id,
    validate_role_arn_for_account,
    validate_secret_access_key,
)

def mask_external_id(external_id: str) -> str:
    return f"{external_id[:8]}…{external_id[-4:]}" if len(external_id) > 12 else "…"


@transaction.atomic
def tenant_rotate_external_id(*, tenant: Tenant, actor: Actor) -> str:
    """Give the tenant a new External ID. Its roles' trust policies must then be updated,
    or every AssumeRole for it fails: the caller warns the operator."""
    require(actor, tenant, ADMINISTER)
    old = tenant.external_id
    tenant.external_id = generate_external_id()
    tenant.save(update_fields=["external_id"])
    audit_record(
        action="tenant.external_id_rotated",
        actor=actor,
        tenant=tenant,
        details={"previous": mask_external_id(old), "new": mask_external_id(tenant.external_id)},
    )
    return tenant.external_id


def _new_account(*, tenant: Tenant, account_id: str, name: str, regions: list[str]) -> CloudAccount:
    """An unsaved registration, or the tenant's own disconnected one brought back
    (its name kept unless a new one is given, its regions plus the new ones)."""
    account_id = (account_id or "").strip()
    account = CloudAccount(
        tenant=tenant,
        account_id=account_id,
        partition=settings.PARKWAY_AWS_PARTITION,
        name=name.strip(),
        regions=list(regions),
    )
    account.full_clean(exclude=["tenant"])
    try:
        validate_customer_account_id(account.account_id)
    except ValidationError as exc:
        raise ValidationError({"account_id": exc.error_list}) from None
    # Only the tenant's own registrations are looked at: whether another tenant
    # holds this account ID is never revealed here (see account_claim).
    mine = CloudAccount.objects.filter(tenant=tenant, partition=account.partition, account_id=account.account_id).first()
    if mine is None:
        return account
    if mine.disconnected_at is None:
        raise ValidationError({"account_id": CloudAccount.registered_here_error()})
    mine.name = account.name or mine.name
    mine.regions = list(dict.fromkeys([*mine.regions, *account.regions]))
    mine.status, mine.last_error = CloudAccount.Status.PENDING, ""
    return mine


def _save_account_and_credential(account: CloudAccount, credential: CloudCredential) -> None:
    try:
        with transaction.atomic():
            if account.disconnected_at is not None:
                # Reconnecting: conditional, so two reconnections cannot both add a credential.
                if not CloudAccount.objects.filter(pk=account.pk, disconnected_at__isnull=False).update(disconnected_at=None):
                    raise IntegrityError("reconnected meanwhile")
                account.disconnected_at = None
            account.save()
            credential.account = account
            credential.save()
    except IntegrityError as exc:
        # A concurrent registration of the same account by the same tenant won the race
        # (registrations are unclaimed: other tenants' never collide).
        raise ValidationError({"account_id": CloudAccount.registered_here_error()}) from exc


def account_claim(*, account: CloudAccount, actor: Actor, proof: str, at: dt.datetime | None = None) -> None:
    """Make the account ID this tenant's alone. Callers have just proven control
    (`proof` says how, for the audit log): never call it on a registration alone.

    Race-safe without locks: the partial unique index on claimed accounts lets one
    claim per account ID commit; a second raises `taken_error`, which may be shown
    since the caller proved the owner trusts it. Raises `registration_gone` when
    the registration was forgotten meanwhile.
    """
    try:
        with transaction.atomic():
            # The database's clock, like leases and enqueue claims: every machine agrees on it.
            updated = CloudAccount.objects.filter(pk=account.pk, claimed_at__isnull=True).update(claimed_at=at or Now())
    except IntegrityError as exc:
        raise ValidationError({"account_id": CloudAccount.taken_error()}) from exc
    claimed_at = CloudAccount.objects.filter(pk=account.pk).values_list("claimed_at", flat=True).first()
    if not updated:
        if claimed_at is None:
            raise ValidationError({"account_id": registration_gone()})
        account.claimed_at = claimed_at  # claimed already (a concurrent test of the same registration)
        return
    account.claimed_at = claimed_at
    audit_record(
        action="account.claimed", actor=actor, account=account, details={"account_id": account.account_id, "proof": proof}
    )


def registration_gone() -> ValidationError:
    return ValidationError(
        "This registration was not verified in time and has been forgotten. Connect the account again.",
        code="registration_gone",
    )


def accounts_forget_unverified(*, now: dt.datetime | None = None, actor: Actor = "system") -> int:
    """Delete registrations that never proved control within PARKWAY_UNVERIFIED_ACCOUNT_HOURS.

    They never parked (the tick only acts in claimed accounts), so nothing of
    value goes; the audit log keeps who registered what, and the forgetting.
    """
    forgotten = 0
    for account in CloudAccount.objects.unverified_expired(now=now).select_related("tenant"):
        with transaction.atomic():
            # Conditional: a test that claimed it a moment ago wins.
            deleted, _ = CloudAccount.objects.filter(pk=account.pk, claimed_at__isnull=True).delete()
            if deleted:
                forgotten += 1
                audit_record(
                    action="account.unverified_forgotten",
                    actor=actor,
                    tenant=account.tenant,
                    details={
                        "account_id": account.account_id,
                        "registered_at": account.created_at.isoformat(),
                        "hours": settings.PARKWAY_UNVERIFIED_ACCOUNT_HOURS,
                    },
                )
    return forgotten


def account_connect_role(
    *,
    tenant: Tenant,
    account_id: str,
    role_arn: str | None = None,
    name: str = "",
    regions: list[str],
    actor: Actor,
) -> CloudAccount:
    """Register an account reached through an IAM role (the only way for new customers).

    The account starts `pending` and unclaimed: it blocks no other tenant until
    `credential_verify` proves the role trusts this tenant's External ID, which
    claims it and makes it `connected`. Unverified, it is forgotten after
    PARKWAY_UNVERIFIED_ACCOUNT_HOURS.
    """
    require(actor, tenant, ADMINISTER)
    account = _new_account(tenant=tenant, account_id=account_id, name=name, regions=regions)
    role_arn = (role_arn or account.conventional_role_arn).strip()
    try:
        validate_role_arn_for_account(role_arn, account_id=account.account_id)
    except ValidationError as exc:
        raise ValidationError({"role_arn": exc.messages}) from None
    credential = CloudCredential(kind=CloudCredential.Kind.ROLE, role_arn=role_arn)
    with transaction.atomic():
        _save_account_and_credential(account, credential)
        audit_record(
            action="account.connected_role",
            actor=actor,
            account=account,
            details={"account_id": account.account_id, "role_arn": role_arn, "regions": account.regions},
        )
    return account


def account_connect_legacy(
    *,
    tenant: Tenant,
    account_id: str,
    access_key_id: str,
    secret_access_key: str,
    name: str = "",
    regions: list[str],
    actor: Actor,
) -> CloudAccount:
    """Register an account reached with IAM-user keys; refused after the sunset
    (CloudCredential enforces PARKWAY_ALLOW_LEGACY_USERS). Like a role, it is
    claimed only once a test shows the keys act in that account."""
    require(actor, tenant, ADMINISTER)
    account = _new_account(tenant=tenant, account_id=account_id, name=name, regions=regions)
    credential = CloudCredential(
        account=account,
        kind=CloudCredential.Kind.LEGACY_USER,
        access_key_id=(access_key_id or "").strip(),
        secret_access_key=(secret_access_key or "").strip(),
    )
    credential.clean()  # sunset rule and key ID format, before anything is written
    try:
        validate_secret_access_key(credential.secret_access_key)
    except ValidationError as exc:
        raise ValidationError({"secret_access_key": exc.messages}) from None
    with transaction.atomic():
        _save_account_and_credential(account, credential)
        audit_record(
            action="account.connected_legacy_keys",
            actor=actor,
            account=account,
            details={"account_id": account.account_id, "access_key_id": credential.masked_key_id},
        )
    return account


@transaction.atomic
def account_disconnect(*, account: CloudAccount, actor: Actor) -> CloudAccount:
    """Stop working in ``account``: its credential is retired (a legacy secret is
    wiped) and its claim released, so no tick, test or inventory touches it again.

    Nothing else is deleted: its machines keep their schedules and snoozes, its
    parking history stays readable to staff, and connecting the same account
    again (account_connect_role) brings all of it back.
    """
    require(actor, account.tenant, ADMINISTER)
    locked = CloudAccount.objects.select_for_update().get(pk=account.pk)
    if locked.disconnected_at is not None:
        return locked
    now = timezone.now()
    credential = locked.credentials.filter(retired_at__isnull=True).first()
    if credential is not None:
        credential.retire(at=now)
    machines = locked.resources.filter(gone_at__isnull=True).count()
    locked.disconnected_at, locked.claimed_at = now, None
    locked.save(update_fields=["disconnected_at", "claimed_at"])
    audit_record(
        action="account.disconnected",
        actor=actor,
        account=locked,
        details={"account_id": locked.account_id, "machines": machines, "credential": str(credential or "")},
    )
    return locked


ACCOUNT_EDITABLE_FIELDS = ("name", "regions", "status")


@transaction.atomic
def account_update(*, account: CloudAccount, changed: list[str], initial: dict[str, Any], actor: Actor) -> CloudAccount:
    """Save edits of name / regions / status already set on `account`, audited with before/after."""
    require(actor, account.tenant, ADMINISTER)
    fields = [f for f in changed if f in ACCOUNT_EDITABLE_FIELDS]
    if not fields:
        return account
    account.full_clean(exclude=["tenant", "account_id"], validate_constraints=False)
    account.save(update_fields=fields)
    audit_record(
        action="account.updated",
        actor=actor,
        account=account,
        details={f: {"before": initial.get(f), "after": getattr(account, f)} for f in fields},
    )
    return account


def user_settings_save(*, user: Any, timezone: str) -> UserSettings:
    """A person's own time zone ("" = their organisation's). Raises ValidationError."""
    row, _ = UserSettings.objects.get_or_create(user=user)
    row.timezone = timezone
    row.full_clean(exclude=["user"])
    row.save(update_fields=["timezone"])
    return row
