"""Error types of the schedule engine."""

from __future__ import annotations


class ScheduleError(ValueError):
    """A schedule spec is malformed.

    ``field`` names where the problem is (``"timezone"``, ``"periods[0].begintime"``,
    ``"periods[2].weekdays"``, ``"periods"``); ``token`` is the offending piece of
    input as the user wrote it, so a form can highlight it.  Subclassing ValueError
    lets callers that only know "bad input" catch it without importing us.
    """

    def __init__(self, field: str, token: object, reason: str) -> None:
        self.field = field
        self.token = str(token)
        self.reason = reason
        super().__init__(f"{field}: {self.token!r} {reason}")

    def within(self, prefix: str) -> ScheduleError:
        """The same error, located inside ``prefix`` (e.g. ``periods[3]``).

        Field parsers are shared (and cached) between periods, so they cannot
        know which period they are parsing; the caller adds that.
        """
        return ScheduleError(f"{prefix}.{self.field}", self.token, self.reason)


class NaiveDatetimeError(ValueError):
    """``at`` has no timezone.

    Deliberately not a ScheduleError: a naive instant is a bug in the caller,
    not a problem with the customer's schedule, and must not get a schedule
    flagged as invalid.
    """
