"""System checks guarding the worker's queue settings (django-q2)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_q_cluster(app_configs: Any = None, **kwargs: Any) -> list:
    q = getattr(settings, "Q_CLUSTER", {}) or {}
    problems: list = []
    timeout, retry = q.get("timeout"), q.get("retry")
    if timeout is None or retry is None or retry <= timeout:
        problems.append(
            Error(
                "Q_CLUSTER 'retry' must be greater than 'timeout', or a slow task is delivered twice.",
                hint="Set Q_RETRY above Q_TIMEOUT.",
                id="scheduling.E001",
            )
        )
    attempts = q.get("max_attempts", 0)
    if not 1 <= attempts <= 5:
        problems.append(
            Error("Q_CLUSTER 'max_attempts' must be between 1 and 5: the next tick retries anyway.", id="scheduling.E002")
        )
    if q.get("catch_up", True):
        problems.append(
            Error("Q_CLUSTER 'catch_up' must be off: missed ticks must not replay in a burst.", id="scheduling.E003")
        )
    if settings.PARKWAY_TICK_MINUTES < 1:
        problems.append(Error("PARKWAY_TICK_MINUTES must be at least 1.", id="scheduling.E004"))
    if settings.PARKWAY_HISTORY_DAYS < 1:
        problems.append(
            Error("PARKWAY_HISTORY_DAYS must be at least 1: the daily prune would delete today's parking runs.", id="scheduling.E005")
        )
    if timeout is not None and timeout > 60 * settings.PARKWAY_TICK_MINUTES * 3:
        problems.append(
            Warning("Q_CLUSTER 'timeout' spans several ticks; a stuck task holds its worker that long.", id="scheduling.W001")
        )
    from scheduling.leases import lease_seconds

    if lease_seconds() > 60 * settings.PARKWAY_TICK_MINUTES:
        problems.append(
            Warning(
                f"A parking lease lasts {lease_seconds()} s, longer than a tick: the accounts of a worker that died "
                "wait more than one tick to be parked and reconciled.",
                hint="Lower PARKWAY_AWS_MAX_ATTEMPTS or raise PARKWAY_TICK_MINUTES.",
                id="scheduling.W002",
            )
        )
    return problems
