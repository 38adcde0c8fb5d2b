"""`{{ value|when }}`: a time in the viewer's zone, labelled (see portal/zones.py).

Registered as a template builtin (portal/settings.py), so every template,
admin and self-service, shows times the same way."""

from __future__ import annotations

import datetime as dt

from django import template

from portal.zones import WHEN_FORMAT, format_when

register = template.Library()


@register.filter
def when(value: dt.datetime | None, fmt: str = WHEN_FORMAT) -> str:
    return format_when(value, fmt) if isinstance(value, dt.datetime) else ""
