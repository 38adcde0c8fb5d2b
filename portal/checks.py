"""Portal-wide system checks: the deployment as a whole, not one app's settings.

portal.E001: SQLite outside DEBUG (one writer, one machine).
portal.E010: a per-process cache outside DEBUG. The connection-test throttle
(portal/throttle.py) and django-q2's monitoring (`qmonitor`, `qinfo`, the
admin's cluster list) count and publish through Django's cache, and so do
django-axes' lockouts when its cache handler is chosen. With a local-memory
cache each web or worker process sees only its own counts: the throttle
multiplies by the number of processes and the monitor sees no cluster.
"""

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
PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


def _shared_cache_users() -> dict[str, list[str]]:
    """Cache alias -> what relies on it being shared by every process."""
    users: dict[str, list[str]] = {"default": ["the connection-test throttle"]}
    users.setdefault(settings.Q_CLUSTER.get("cache", "default"), []).append("django-q2's monitoring")
    if "cache" in getattr(settings, "AXES_HANDLER", "").lower():
        users.setdefault(getattr(settings, "AXES_CACHE", "default"), []).append("the sign-in lockout (django-axes)")
    return users


@register()
def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list:
    if settings.DEBUG:
        return []
    problems = []
    for alias, users in _shared_cache_users().items():
        backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
        if backend in PER_PROCESS_CACHES:
            problems.append(
                Error(
                    f"The cache {alias!r} ({backend.rsplit('.', 1)[-1]}) is kept per process, but "
                    f"{' and '.join(users)} must be shared by every web and worker process.",
                    hint="Set CACHE_URL to a Redis cache shared by all machines, e.g. redis://redis.internal:6379/1.",
                    id="portal.E010",
                )
            )
    return problems
