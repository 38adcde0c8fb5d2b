"""Compiling a schedule spec and evaluating it at an instant."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from .errors import NaiveDatetimeError, ScheduleError
from .fields import DayFilter, Tokens, day_filter, field_tokens, parse_time

State = Literal["running", "stopped", "any"]

# Ordered so that max() picks the winner: running > any > stopped.
STOPPED: Final = 0
ANY: Final = 1
RUNNING: Final = 2
_NAMES: Final[tuple[State, State, State]] = ("stopped", "any", "running")
_MINUTE: Final = dt.timedelta(minutes=1)
_DAY: Final = dt.timedelta(days=1)
_PERIOD_KEYS: Final = ("begintime", "endtime", "weekdays", "monthdays", "months")
DEFAULT_TIMEZONE: Final = "UTC"


@dataclass(frozen=True)
class Period:
    """One compiled period; times are seconds after local midnight."""

    begin: int | None
    end: int | None
    days: DayFilter | None          # None: every day
    overnight: bool                 # begin > end: runs into the next day
    weekdays: Tokens | None = None  # the source tokens, kept for summaries
    monthdays: Tokens | None = None
    months: Tokens | None = None

    def state(self, local: dt.datetime) -> int:
        t = local.hour * 3600 + local.minute * 60 + local.second
        days = self.days
        if self.overnight:
            # The day filters belong to the day a window BEGINS: the evening part
            # asks about today, the morning part about yesterday.  So with fri
            # 22:00-06:00, Saturday 05:59 runs although Saturday fails the filter.
            if t >= self.begin:  # type: ignore[operator]
                return RUNNING if days is None or days.matches(local) else STOPPED
            if t < self.end:  # type: ignore[operator]
                return RUNNING if days is None or days.matches(local.date() - _DAY) \
                    else STOPPED
            return STOPPED
        if days is not None and local.day not in days.days(local.year, local.month):
            return STOPPED
        b, e = self.begin, self.end
        if b is not None:
            if e is not None:
                return RUNNING if b <= t < e else STOPPED
            return RUNNING if t >= b else ANY
        if e is not None:
            return STOPPED if t >= e else ANY
        return RUNNING


class CompiledSchedule:
    """A parsed, validated schedule; ``desired_state`` is cheap to call."""

    __slots__ = ("timezone", "zone", "override", "periods")

    def __init__(self, timezone: str, zone: ZoneInfo, override: State | None,
                 periods: tuple[Period, ...]) -> None:
        self.timezone = timezone
        self.zone = zone
        self.override = override
        self.periods = periods

    def __repr__(self) -> str:
        return (f"CompiledSchedule(timezone={self.timezone!r}, override={self.override!r}, "
                f"periods={len(self.periods)})")

    def desired_state(self, at: dt.datetime) -> State:
        if at.tzinfo is None or at.utcoffset() is None:
            raise NaiveDatetimeError(f"'at' must be timezone-aware, got naive {at.isoformat()}")
        if self.override is not None:
            return self.override
        periods = self.periods
        if not periods:
            return "stopped"
        zone = self.zone
        # Through UTC: astimezone() returns a datetime already in `zone` as it is,
        # so a wall time that a spring-forward gap skips would be read as if it
        # happened, instead of as the instant it names (PEP 495, fold=0).
        best = self._local_state(at.astimezone(dt.timezone.utc).astimezone(zone))
        if best == STOPPED and len(periods) > 1:
            # Adjacency: 05:00-23:59 + 00:00-03:00 must not stop the machine for the
            # minute in between.  Neighbours are absolute instants (not wall clock), so
            # DST cannot make us look at a wall time that never happens.
            utc = at.astimezone(dt.timezone.utc)
            if (self._local_state((utc - _MINUTE).astimezone(zone)) == RUNNING
                    and self._local_state((utc + _MINUTE).astimezone(zone)) == RUNNING):
                best = RUNNING
        return _NAMES[best]

    def next_change(self, at: dt.datetime, *, horizon_days: int = 400) -> tuple[dt.datetime, State] | None:
        """The first instant after `at` at which `desired_state` differs from its
        value at `at`, and the new state (None: no change within the horizon).

        The state can only change at a period's begin or end (or a minute after
        it, through the adjacency rule) or at a local midnight (day filters), so
        only those instants are evaluated, day by day."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise NaiveDatetimeError(f"'at' must be timezone-aware, got naive {at.isoformat()}")
        if self.override is not None or not self.periods:
            return None
        now_state = self.desired_state(at)
        offsets = sorted({0} | {
            t + extra
            for p in self.periods
            for t in (p.begin, p.end) if t is not None
            for extra in (0, 60)
        })
        utc = at.astimezone(dt.timezone.utc)
        day = at.astimezone(self.zone).date()
        for _ in range(horizon_days + 1):
            midnight = dt.datetime.combine(day, dt.time(0), tzinfo=self.zone)
            for offset in offsets:
                # Wall-clock arithmetic in the zone, then the real instant (DST-safe).
                local = midnight + dt.timedelta(seconds=offset)
                candidate = local.replace(tzinfo=None).replace(tzinfo=self.zone).astimezone(dt.timezone.utc)
                if candidate <= utc:
                    continue
                state = self.desired_state(candidate)
                if state != now_state:
                    return candidate, state
            day += _DAY
        return None

    def _local_state(self, local: dt.datetime) -> int:
        best = STOPPED
        for p in self.periods:
            s = p.state(local)
            if s > best:
                if s == RUNNING:
                    return RUNNING
                best = s
        return best


# ---------------------------------------------------------------- compiling

def _zone(spec: Mapping[str, Any]) -> tuple[str, ZoneInfo]:
    name = spec.get("timezone")
    if name is None or name == "":
        name = DEFAULT_TIMEZONE  # Instance Scheduler falls back to its default zone too
    if not isinstance(name, str):
        raise ScheduleError("timezone", name, "is not a timezone name")
    try:
        return name, ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError is a KeyError; bad paths are ValueErrors
        raise ScheduleError("timezone", name,
                            "is not a known IANA timezone (e.g. Europe/Berlin)") from None


def _override(spec: Mapping[str, Any]) -> State | None:
    value = spec.get("override_status")
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lower() in ("running", "stopped"):
        return value.strip().lower()  # type: ignore[return-value]
    raise ScheduleError("override_status", value, "is not an override (use running, "
                        "stopped or null)")


def _period(raw: object, index: int) -> Period:
    where = f"periods[{index}]"
    if not isinstance(raw, Mapping):
        raise ScheduleError(where, _show(raw), "is not an object")
    if all(raw.get(k) in (None, "", [], ()) for k in _PERIOD_KEYS):
        raise ScheduleError(where, _show(raw), "sets none of begintime, endtime, "
                            "weekdays, monthdays, months")
    try:
        begin = parse_time(raw.get("begintime"), "begintime")
        end = parse_time(raw.get("endtime"), "endtime")
        wd = field_tokens(raw.get("weekdays"), "weekdays")
        md = field_tokens(raw.get("monthdays"), "monthdays")
        mo = field_tokens(raw.get("months"), "months")
        days = day_filter(wd, md, mo)
    except ScheduleError as err:
        raise err.within(where) from None
    if begin is not None and begin == end:
        raise ScheduleError(f"{where}.endtime", raw.get("endtime"),
                            "equals begintime (an empty window)")
    overnight = begin is not None and end is not None and begin > end
    return Period(begin, end, days, overnight, wd, md, mo)


def _show(value: object) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def compile_spec(spec: Mapping[str, Any]) -> CompiledSchedule:
    """Parse and validate ``spec`` once; raises ScheduleError on any problem."""
    if not isinstance(spec, Mapping):
        raise ScheduleError("spec", _show(spec), "is not an object")
    name, zone = _zone(spec)
    override = _override(spec)
    raw_periods = spec.get("periods")
    if raw_periods is None:
        raw_periods = []
    if not isinstance(raw_periods, (list, tuple)):
        raise ScheduleError("periods", _show(raw_periods), "is not a list")
    periods = tuple(_period(p, i) for i, p in enumerate(raw_periods))
    return CompiledSchedule(name, zone, override, periods)


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Raise ScheduleError naming the first problem in ``spec``; else return None."""
    compile_spec(spec)


@lru_cache(maxsize=2048)
def _compile_key(key: str) -> CompiledSchedule:
    return compile_spec(json.loads(key))


def cached_compile(spec: Mapping[str, Any]) -> CompiledSchedule:
    """compile_spec behind an LRU keyed on the canonical JSON of the parts that
    matter, so names, descriptions and flags do not split the cache."""
    try:
        key = json.dumps({k: spec.get(k) for k in ("timezone", "periods", "override_status")},
                         sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, AttributeError):
        return compile_spec(spec)  # not JSON-shaped: compile (and fail) uncached
    return _compile_key(key)


def desired_state(spec: Mapping[str, Any], at: dt.datetime) -> State:
    """What ``spec`` wants at instant ``at``: "running", "stopped" or "any"."""
    return cached_compile(spec).desired_state(at)
