"""How messages name things: machines, accounts, times (in a stated zone,
since the worker has no viewer), and links back to Parkway."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from portal.zones import zone_or_utc
from scheduling.models import Resource
from tenants.models import CloudAccount

TIME_FORMAT = "%a %Y-%m-%d %H:%M %Z"


def account_label(account: CloudAccount) -> str:
    return f"{account.name} ({account.account_id})" if account.name else account.account_id


def machine_label(resource: Resource) -> str:
    """"web-1 (i-0abc…, prod)" — with `account` loaded."""
    where = resource.account.name or resource.account.account_id
    if resource.name:
        return f"{resource.name} ({resource.resource_id}, {where})"
    return f"{resource.resource_id} ({where})"


def in_zone(value: dt.datetime, zone: str, fmt: str = TIME_FORMAT) -> str:
    """`value` as a clock in `zone` reads it, the zone named ("Tue 2026-11-24 18:00 CET")."""
    return value.astimezone(zone_or_utc(zone)).strftime(fmt)


def public_url(path: str) -> str:
    return f"{settings.PARKWAY_PUBLIC_URL}{path}"
