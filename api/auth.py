"""Who calls the API, in which tenant, with which role: bearer tokens only.

* A member token (self-service, /app/tokens/) acts as its person in the one
  tenant it was made in, with the role the person has there *now* (read at
  every request with the token); `X-Parkway-Tenant`, if sent, must name that tenant.
* A staff token (admin) acts as its staff user, unrestricted like staff in the
  admin, in the tenant the request names with the header `X-Parkway-Tenant: <slug>`
  (required: one request works in one tenant, like a page).

Sessions are never accepted here: a browser's cookie cannot make an API call,
so the API needs no CSRF protection. Every token is rate limited
(PARKWAY_API_RATE, counted in the shared cache like portal.throttle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from ninja.security import HttpBearer

from api.errors import ApiError, RateLimited
from api.models import ApiToken
from api.tokens import token_authenticate
from portal.throttle import throttle_hit
from tenants.audit import API_TOKEN_ATTRIBUTE
from tenants.models import Tenant
from tenants.permissions import Capability, require

TENANT_HEADER = "X-Parkway-Tenant"
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
_WINDOWS = {"second": 1, "minute": 60, "hour": 3600}


def parse_rate(text: str) -> tuple[int, int]:
    """"120/minute" → (120, 60)."""
    match = _RATE_RE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"PARKWAY_API_RATE must look like 120/minute (per second, minute or hour), not {text!r}.")
    return int(match.group(1)), _WINDOWS[match.group(2)]


@dataclass
class Principal:
    """The caller of one request: `user` is the actor every service is given."""

    token: ApiToken
    user: AbstractBaseUser
    tenant: Tenant
    role: str | None  # None for staff

    def require(self, capability: Capability) -> None:
        require(self.user, self.tenant, capability)


class TokenAuth(HttpBearer):
    """Authorization: Bearer <token>."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        found = token_authenticate(token)
        if found is None:
            return None
        limit, window = parse_rate(settings.PARKWAY_API_RATE)
        hit = throttle_hit(scope="api", key=found.pk, limit=limit, window=window)
        if not hit.allowed:
            raise RateLimited(limit=limit, window=window, retry_after=hit.retry_after)
        principal = _principal(found, request.headers.get(TENANT_HEADER, "").strip())
        request.tenant = principal.tenant
        return principal


def _principal(token: ApiToken, wanted: str) -> Principal:
    # A fresh user object per request: what is set on it below never outlives the request.
    user = token.user
    setattr(user, API_TOKEN_ATTRIBUTE, token.name)
    if token.kind == ApiToken.Kind.STAFF:
        if not wanted:
            raise ApiError(400, f"A staff token works in the tenant the {TENANT_HEADER} header names (its slug).",
                           code="tenant_required")
        # A NUL never reaches the database (PostgreSQL refuses it in text).
        tenant = None if "\x00" in wanted else Tenant.objects.filter(slug=wanted[:60]).first()
        if tenant is None:
            raise ApiError(400, f"No tenant has the slug {wanted[:60]!r}.", code="unknown_tenant")
        return Principal(token=token, user=user, tenant=tenant, role=None)
    membership = token.membership
    tenant = membership.tenant
    if wanted and wanted != tenant.slug:
        raise ApiError(400, f"This token works in {tenant.slug} only; it cannot act in {wanted[:60]!r}.",
                       code="tenant_mismatch")
    # Read by tenants.permissions.role_of: the role as it is now, no further query.
    user._parkway_roles = {tenant.pk: membership.role}
    return Principal(token=token, user=user, tenant=tenant, role=membership.role)


def principal_of(request: HttpRequest) -> Principal:
    principal: Any = request.auth
    assert isinstance(principal, Principal)
    return principal
