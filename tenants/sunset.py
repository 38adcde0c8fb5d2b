"""The sunset of legacy IAM-user keys: when they stop being used.

`legacy_keys_paused` is the one answer to "are legacy keys paused now?".
Everything that asks "is this account paused?" combines it with the account's
active credential: `CloudAccount.paused_by_legacy_deadline` (pages, admin),
`CloudAccount.objects.parkable()` (the tick) and `tenants.aws` (which refuses
to build a session from legacy keys, so every AWS path obeys it).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

PAUSED_LABEL = "paused: switch to an IAM role"


def legacy_pause_starts() -> dt.datetime:
    """The first instant legacy keys are no longer used: the day after the
    deadline, plus the grace days, at midnight UTC (the deadline is a last day)."""
    last_day = settings.PARKWAY_LEGACY_DEADLINE + dt.timedelta(days=max(0, settings.PARKWAY_LEGACY_GRACE_DAYS))
    return dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone.utc)


def legacy_keys_paused(*, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) >= legacy_pause_starts()


def paused_message() -> str:
    """What a customer or operator reads wherever a paused account shows up."""
    deadline = settings.PARKWAY_LEGACY_DEADLINE
    return (
        f"Parking is paused: Parkway stopped using IAM user access keys after "
        f"{deadline.day} {deadline:%B %Y}. Switch this account to an IAM role; parking resumes at once, "
        "with every schedule and setting as it was."
    )
