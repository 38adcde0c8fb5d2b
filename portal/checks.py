"""System checks about the deployment as a whole (not one app's settings)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_database_engine(app_configs: Any = None, **kwargs: Any) -> list:
    """SQLite holds one writer at a time on one machine: web servers and workers
    on several machines cannot share it, and several workers on one machine wait
    on its lock. Outside DEBUG it takes an explicit choice."""
    if settings.DEBUG or settings.PARKWAY_ALLOW_SQLITE:
        return []
    sqlite = [alias for alias, db in settings.DATABASES.items() if "sqlite" in db.get("ENGINE", "")]
    if not sqlite:
        return []
    return [
        Error(
            f"The database ({', '.join(sqlite)}) is SQLite while DEBUG is off.",
            hint="Set DATABASE_URL=postgres://… (see README, Run in production), or PARKWAY_ALLOW_SQLITE=true "
            "for a single-machine install with one worker.",
            id="portal.E001",
        )
    ]
