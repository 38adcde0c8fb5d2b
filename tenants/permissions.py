"""The one answer to "may this person do X in this tenant?".

Three capabilities, granted by the member's role:

* `VIEW` — read everything of the tenant (every role);
* `OPERATE` — schedules, assignments, snoozes, park / start now (operators, admins);
* `ADMINISTER` — connect, test, switch and edit accounts, manage members (admins).

Services that change a tenant's things call `require(actor, tenant, capability)`
before writing, whoever calls them: a view, a form page, a test. Views may also
declare the capability in `tenant_member_required(capability=…)`, so that a
form page a person cannot use answers 403 before it is drawn; templates read
`request.can` to hide the buttons. Staff (they work in the admin) and
command-line or background actors ("cli", "system": see `tenants.audit.Actor`)
are not restricted here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied

from tenants.audit import Actor
from tenants.models import Membership, Tenant


class Capability(enum.Enum):
    VIEW = "view"
    OPERATE = "operate"
    ADMINISTER = "administer"


VIEW, OPERATE, ADMINISTER = Capability.VIEW, Capability.OPERATE, Capability.ADMINISTER

Role = Membership.Role

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.ADMIN: frozenset({VIEW, OPERATE, ADMINISTER}),
    Role.OPERATOR: frozenset({VIEW, OPERATE}),
    Role.VIEWER: frozenset({VIEW}),
}


@dataclass(frozen=True)
class Allowed:
    """What the current person may do in the current tenant, for templates: `request.can.operate`."""

    view: bool = False
    operate: bool = False
    administer: bool = False

    @classmethod
    def for_role(cls, role: str | None) -> Allowed:
        granted = ROLE_CAPABILITIES.get(role or "", frozenset())
        return cls(view=VIEW in granted, operate=OPERATE in granted, administer=ADMINISTER in granted)


def is_unrestricted(actor: Actor | AnonymousUser) -> bool:
    """Staff and command-line / background actors: roles do not apply to them."""
    return isinstance(actor, str) or bool(getattr(actor, "is_staff", False) and actor.is_active)


def role_of(user: AbstractBaseUser | AnonymousUser, tenant: Tenant | None) -> str | None:
    """The user's role in `tenant`, None when they are not a member (or not signed in)."""
    if tenant is None or not getattr(user, "is_authenticated", False):
        return None
    # The access decorator has just read every membership of the request's user:
    # it leaves them on the user, which spares each service a query.
    known = getattr(user, "_parkway_roles", None)
    if known is not None:
        return known.get(tenant.pk)
    return Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()


def can(user: Actor | AnonymousUser, tenant: Tenant | None, capability: Capability) -> bool:
    if is_unrestricted(user):
        return True
    return capability in ROLE_CAPABILITIES.get(role_of(user, tenant) or "", frozenset())


def denial_message(role: str | None, tenant: Tenant | None, capability: Capability) -> str:
    if tenant is None:
        return "Only Parkway staff change what all organisations share; copy it to your own to change it."
    if role is None:
        return f"You are not a member of {tenant.name}."
    if role == Role.VIEWER:
        return f"Viewers can look but not change anything: ask an admin of {tenant.name} to make you an operator."
    return (
        f"Operators run schedules and machines, but connecting and changing AWS accounts and managing "
        f"members is for admins: ask an admin of {tenant.name} to do it, or to make you an admin."
    )


def require(actor: Actor | AnonymousUser, tenant: Tenant | None, capability: Capability) -> None:
    """Raise PermissionDenied, with words a person can act on, unless `actor` may."""
    if is_unrestricted(actor):
        return
    role = role_of(actor, tenant)
    if capability not in ROLE_CAPABILITIES.get(role or "", frozenset()):
        raise PermissionDenied(denial_message(role, tenant, capability))
