"""Services for tenants and their accounts: everything that writes, audited.

Admin actions, views and commands call these; they never write models directly.
"""

from __future__ import annotations

from typing import Any, Union

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tenants.models import AuditEvent, CloudAccount, CloudCredential, Tenant, generate_external_id
from tenants.validation import (
    validate_role_arn_for_account,
    validate_secret_access_key,
)

# A person (admin, self-service) or a label for machines: "system", "cli".
Actor = Union[AbstractBaseUser, str]


def actor_label(actor: Actor) -> str:
    return actor if isinstance(actor, str) else actor.get_username()


def audit_record(
    *,
    action: str,
    actor: Actor,
    tenant: Tenant | None = None,
    account: CloudAccount | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event. Callers pass details without secrets."""
    if account is not None and tenant is None:
        tenant = account.tenant
    return AuditEvent.objects.create(
        actor=None if isinstance(actor, str) else actor,
        actor_label=actor_label(actor),
        tenant=tenant,
        account=account,
        action=action,
        details=details or {},
    )


def mask_external_id(external_id: str) -> str:
    return f"{external_id[:8]}…{external_id[-4:]}" if len(external_id) > 12 else "…"


@transaction.atomic
def tenant_rotate_external_id(*, tenant: Tenant, actor: Actor) -> str:
    """Give the tenant a new External ID. Its roles' trust policies must then be updated,
    or every AssumeRole for it fails: the caller warns the operator."""
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
    account_id = (account_id or "").strip()
    account = CloudAccount(
        tenant=tenant,
        account_id=account_id,
        partition=settings.PARKWAY_AWS_PARTITION,
        name=name.strip(),
        regions=list(regions),
    )
    account.full_clean(exclude=["tenant"])
    return account


def _save_account_and_credential(account: CloudAccount, credential: CloudCredential) -> None:
    try:
        with transaction.atomic():
            account.save()
            credential.account = account
            credential.save()
    except IntegrityError as exc:
        # A concurrent registration of the same account won the race.
        raise ValidationError({"account_id": CloudAccount.taken_error()}) from exc


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

    The account starts `pending`; `credential_verify` makes it `connected`.
    """
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
    (CloudCredential enforces PARKWAY_ALLOW_LEGACY_USERS)."""
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


ACCOUNT_EDITABLE_FIELDS = ("name", "regions", "status")


@transaction.atomic
def account_update(*, account: CloudAccount, changed: list[str], initial: dict[str, Any], actor: Actor) -> CloudAccount:
    """Save edits of name / regions / status already set on `account`, audited with before/after."""
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
