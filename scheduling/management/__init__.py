"""Helpers shared by the scheduling management commands."""

from __future__ import annotations

import re

from django.core.management.base import CommandError

from tenants.models import Tenant

# Tenant.slug is a SlugField of 60: anything else names no tenant (and a NUL
# byte in a query is an error on PostgreSQL, not "not found").
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,60}", re.ASCII)


def tenant_for_slug(slug: str | None) -> Tenant | None:
    """The tenant a ``--tenant SLUG`` option names; None (no option) = the global templates."""
    if slug is None:
        return None
    tenant = Tenant.objects.filter(slug=slug).first() if SLUG_RE.fullmatch(slug) else None
    if tenant is None:
        raise CommandError(f"No tenant with slug {slug!r}. Leave out --tenant for the global templates.")
    return tenant
