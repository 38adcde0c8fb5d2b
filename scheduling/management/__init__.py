"""Helpers shared by the scheduling management commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from tenants.models import Tenant
from tenants.validation import ACCOUNT_ID_RE, TENANT_SLUG_RE


def tenant_for_slug(slug: str | None) -> Tenant | None:
    """The tenant a ``--tenant SLUG`` option names; None (no option) = the global templates."""
    if slug is None:
        return None
    tenant = Tenant.objects.filter(slug=slug).first() if TENANT_SLUG_RE.fullmatch(slug) else None
    if tenant is None:
        raise CommandError(f"No tenant with slug {slug!r}. Leave out --tenant for the global templates.")
    return tenant


def check_account_ids(account_ids: list[str] | None) -> None:
    """``--account`` values are AWS account IDs (a NUL byte in a query is an error on PostgreSQL)."""
    malformed = [a for a in account_ids or [] if not ACCOUNT_ID_RE.fullmatch(a)]
    if malformed:
        raise CommandError(f"Not a 12-digit AWS account ID: {', '.join(map(repr, malformed))}.")
