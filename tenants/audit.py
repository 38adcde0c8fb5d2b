"""The audit log: who did what to which tenant or account. Append-only; every
service that changes something a customer or staff would ask about records here."""

from __future__ import annotations

from typing import Any, Union

from django.contrib.auth.models import AbstractBaseUser

from tenants.models import AuditEvent, CloudAccount, Tenant

# A person (admin, self-service, API) or a label for machines: "system", "cli".
Actor = Union[AbstractBaseUser, str]

# Set on the request's user object by the REST API (api.auth): the name of the
# token the person acts through, so every change it makes says so.
API_TOKEN_ATTRIBUTE = "_parkway_api_token"
LABEL_LENGTH = 150  # AuditEvent.actor_label, Override.created_by_label


def api_token_of(actor: Actor) -> str | None:
    return None if isinstance(actor, str) else getattr(actor, API_TOKEN_ATTRIBUTE, None)


def actor_label(actor: Actor) -> str:
    if isinstance(actor, str):
        return actor
    token = api_token_of(actor)
    label = actor.get_username() if token is None else f"{actor.get_username()} (token: {token})"
    return label[:LABEL_LENGTH]


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
    if (token := api_token_of(actor)) is not None:
        details = {**(details or {}), "via": "api", "token": token}
    return AuditEvent.objects.create(
        actor=None if isinstance(actor, str) else actor,
        actor_label=actor_label(actor),
        tenant=tenant,
        account=account,
        action=action,
        details=details or {},
    )
