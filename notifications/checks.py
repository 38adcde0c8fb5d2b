"""System checks of the notification settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_warning_minutes(app_configs: Any = None, **kwargs: Any) -> list:
    minutes = settings.PARKWAY_WARNING_MINUTES
    if minutes < 1:
        return [Error("PARKWAY_WARNING_MINUTES must be at least 1.", id="notifications.E001")]
    if minutes < settings.PARKWAY_TICK_MINUTES:
        return [
            Warning(
                f"PARKWAY_WARNING_MINUTES ({minutes}) is shorter than a tick (PARKWAY_TICK_MINUTES="
                f"{settings.PARKWAY_TICK_MINUTES}): a stop that falls between two ticks gets no pre-stop warning.",
                hint="Set PARKWAY_WARNING_MINUTES to at least PARKWAY_TICK_MINUTES.",
                id="notifications.W001",
            )
        ]
    return []
