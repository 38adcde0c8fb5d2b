"""The audit log: who did what to which tenant or account. Append-only; every
service that changes something a customer or staff would ask about records here."""

from __future__ import annotations

from typing import Any, Union

from django.contrib.auth.models import AbstractBaseUser

from tenants.models import AuditEvent, CloudAccount, Tenant

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
