"""The viewer's time zone: every time shown to a person is in one zone, labelled.

A person's zone is their own setting (tenants.UserSettings), else the zone of
the tenant they work in, else UTC. The middleware activates it for the whole
request, so templates (`|when`), forms and messages (`format_when`) all show
the same zone; the worker never activates one, so what it records says UTC.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from functools import lru_cache

from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

WHEN_FORMAT = "%Y-%m-%d %H:%M %Z"


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA zones people may choose (read from the tz database once per process)."""
    return frozenset(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC") - {"localtime"}


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    return [("UTC", "UTC")] + [(z, z) for z in sorted(zone_names()) if z != "UTC"]


def zone_or_utc(name: str | None) -> zoneinfo.ZoneInfo:
    if name and name in zone_names():
        return zoneinfo.ZoneInfo(name)
    return zoneinfo.ZoneInfo("UTC")


def format_when(value: dt.datetime | None, fmt: str = WHEN_FORMAT) -> str:
    """``value`` in the active zone (the viewer's; UTC in the worker), labelled."""
    if value is None:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.timezone.utc)
    return timezone.localtime(value).strftime(fmt)


def _zones(request: HttpRequest) -> tuple[str, str]:
    """(their own setting or "", their organisation's zone or "") in one query.

    The organisation is the tenant they work in (chosen in the session, else
    their first, as tenant_member_required picks); staff have none."""
    from django.contrib.auth import get_user_model

    from tenants.decorators import SESSION_TENANT_KEY
    from tenants.models import Membership

    chosen = request.session.get(SESSION_TENANT_KEY) if hasattr(request, "session") else None
    chosen_first = Case(When(tenant_id=chosen, then=Value(0)), default=Value(1), output_field=IntegerField())
    organisation = (
        Membership.objects.filter(user=OuterRef("pk")).order_by(chosen_first, "tenant__name").values("tenant__timezone")[:1]
    )
    row = (
        get_user_model().objects.filter(pk=request.user.pk)
        .annotate(organisation_zone=Subquery(organisation))
        .values_list("parkway_settings__timezone", "organisation_zone")
        .first()
    )
    return (row[0] or "", row[1] or "") if row else ("", "")


def organisation_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    """The zone of the tenant the person works in; UTC for staff."""
    return zone_or_utc(_zones(request)[1])


def viewer_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    """The zone this request's person sees times in: their own setting, else
    their organisation's (one query; none when signed out)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return zoneinfo.ZoneInfo("UTC")
    own, organisation = _zones(request)
    return zone_or_utc(own or organisation)


class ViewerZoneMiddleware:
    """Activates the viewer's zone for the request (after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = viewer_zone(request)
        request.viewer_zone = zone
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
