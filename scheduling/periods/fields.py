"""Parsing of the period fields: times and the three day filters.

Day filters are compiled into sets of plain values plus the few month-aware
forms (``L``, ``15W``, ``mon#2``, ``friL``); ``DayFilter.days(year, month)``
then resolves a whole month at once and memoises it, so evaluating a period
is a set lookup instead of re-running the expression on every tick.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Literal

from .errors import ScheduleError

Kind = Literal["weekdays", "monthdays", "months"]
Tokens = tuple[str, ...]

WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FULL_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday",
                         "friday", "saturday", "sunday")
_FULL_MONTHS: Final = ("january", "february", "march", "april", "may", "june", "july",
                       "august", "september", "october", "november", "december")


@dataclass(frozen=True)
class _Domain:
    lo: int
    hi: int
    names: dict[str, int]
    hint: str
    wraps: bool


_DOMAINS: Final[dict[str, _Domain]] = {
    "weekdays": _Domain(0, 6, {**{n[:3]: i for i, n in enumerate(_FULL_WEEKDAYS)},
                               **{n: i for i, n in enumerate(_FULL_WEEKDAYS)}},
                        "is not a day (use mon..sun or 0..6)", True),
    "monthdays": _Domain(1, 31, {}, "is not a day of the month (use 1..31 or L)", False),
    "months": _Domain(1, 12, {**{n[:3]: i + 1 for i, n in enumerate(_FULL_MONTHS)},
                              **{n: i + 1 for i, n in enumerate(_FULL_MONTHS)}},
                      "is not a month (use jan..dec or 1..12)", True),
}

_STEP_RE: Final = re.compile(r"(.*)/(.*)", re.S)
_RANGE_RE: Final = re.compile(r"(.+?)-(.+)", re.S)
_NTH_RE: Final = re.compile(r"(.+)#(.*)", re.S)
# [0-9], not \d: \d and str.isdigit() accept digits such as "²" that int() rejects.
_NEAREST_RE: Final = re.compile(r"([0-9]+)w", re.I)
_TIME_RE: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")


# ---------------------------------------------------------------- times

def parse_time(value: object, field_name: str) -> int | None:
    """Seconds after local midnight, or None when unset.

    "24:00" is refused: a window that runs to midnight is written with endtime
    "23:59" (the adjacency rule joins it to a period starting at 00:00) or, with
    our overnight extension, as e.g. 22:00-00:00.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.time):  # forms hand us time objects; JSON gives strings
        return value.hour * 3600 + value.minute * 60 + value.second
    if not isinstance(value, str):
        raise ScheduleError(field_name, value, "is not a time (use HH:MM)")
    m = _TIME_RE.fullmatch(value.strip())
    if m is None:
        raise ScheduleError(field_name, value, "is not a time (use HH:MM, H:MM or HH:MM:SS)")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ScheduleError(field_name, value,
                            "is not a valid time (00:00..23:59:59; 24:00 is not allowed)")
    return h * 3600 + mi * 60 + s


def format_time(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


# ---------------------------------------------------------------- day fields

def field_tokens(value: object, kind: Kind) -> Tokens | None:
    """Split a field into its comma items; None when the field is unset.

    Lists may mix ints and strings and their strings may hold commas too, as in
    Instance Scheduler.  An empty list counts as unset like "" and null do.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parts: list[object] = [value]
    elif isinstance(value, (list, tuple)):
        if not value:
            return None
        parts = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        parts = [value]
    else:
        raise ScheduleError(kind, value, "is not a string or a list")
    items: list[str] = []
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            items.append(str(part))
        elif isinstance(part, str):
            for item in part.split(","):
                if not item.strip():
                    raise ScheduleError(kind, part, "has an empty item (stray comma?)")
                items.append(item.strip())
        else:
            raise ScheduleError(kind, part, "is not a string or an integer")
    return tuple(items)


@dataclass(frozen=True)
class FieldMatch:
    """One compiled day field (an unset field or ``*`` is None, not a FieldMatch)."""

    values: frozenset[int]
    last_day: bool = False                      # monthdays: L
    nearest: tuple[int, ...] = ()               # monthdays: 15W
    nth: tuple[tuple[int, int], ...] = ()       # weekdays: (weekday, n) for mon#2
    last_of: frozenset[int] = frozenset()       # weekdays: friL
    labels: tuple[str, ...] = ()                # month-aware forms, for summaries


def _value(text: str, kind: Kind) -> int:
    d = _DOMAINS[kind]
    t = text.strip()
    if _digits(t):
        v = int(t)
        if d.lo <= v <= d.hi:
            return v
    elif t.lower() in d.names:
        return d.names[t.lower()]
    raise ScheduleError(kind, text.strip(), d.hint)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _is_last(text: str) -> bool:
    return text.strip().lower() == "l"


def _range(start: int, end: int, step: int, kind: Kind, item: str) -> list[int]:
    """Values of ``start-end/step``; weekdays and months wrap, monthdays do not.

    A wrapping range is walked in calendar order and the step counts along
    that walk (fri-tue/2 = fri, sun, tue), as Instance Scheduler does.
    """
    d = _DOMAINS[kind]
    if start > end and not d.wraps:
        raise ScheduleError(kind, item, "is a reversed range (monthdays do not wrap; "
                            "write e.g. 20-L,1-5)")
    span = (end - start) % (d.hi - d.lo + 1)
    return [d.lo + (start - d.lo + k) % (d.hi - d.lo + 1) for k in range(0, span + 1, step)]


@dataclass
class _Acc:
    """What the items of one field add up to while parsing."""

    values: list[int] = field(default_factory=list)
    last_day: bool = False
    nearest: list[int] = field(default_factory=list)
    nth: list[tuple[int, int]] = field(default_factory=list)
    last_of: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def _parse_item(item: str, kind: Kind, acc: _Acc) -> bool:
    """Add one comma item to ``acc``; True when it matches every day (* or ?)."""
    d = _DOMAINS[kind]
    low = item.lower()
    if low in ("*", "?"):
        return True
    if m := _STEP_RE.fullmatch(item):
        base, step_text = m[1].strip(), m[2].strip()
        if not _digits(step_text) or int(step_text) < 1:
            raise ScheduleError(kind, item, "has a bad step (use a/n or a-b/n with n >= 1)")
        step = int(step_text)
        if not base:
            raise ScheduleError(kind, item, "has no start (use a/n or a-b/n)")
        if base == "*":
            start, end = d.lo, d.hi
        elif rm := _RANGE_RE.fullmatch(base):
            start, end = _range_ends(rm[1], rm[2], kind, item)
        elif _is_last(base):
            raise ScheduleError(kind, item, "cannot start a step at L")
        else:
            start, end = _value(base, kind), d.hi  # a/n runs to the end of the domain
        acc.values += _range(start, end, step, kind, item)
        return False
    if rm := _RANGE_RE.fullmatch(item):
        start, end = _range_ends(rm[1], rm[2], kind, item)
        acc.values += _range(start, end, 1, kind, item)
        return False
    if _is_last(item):
        if kind == "months":
            raise ScheduleError(kind, item, "is not allowed in months "
                                "(L works in weekdays and monthdays)")
        if kind == "weekdays":
            # Instance Scheduler resolves a bare L to the domain's last value:
            # Sunday, i.e. every Sunday (not "last day of the week in the month").
            acc.values.append(6)
        else:
            acc.last_day = True
            acc.labels.append("last day")
        return False
    if kind == "weekdays":
        if m := _NTH_RE.fullmatch(item):
            n_text = m[2].strip()
            if not _digits(n_text) or not 1 <= int(n_text) <= 5:
                raise ScheduleError(kind, item, "has a bad occurrence (use day#n with n 1..5)")
            wd, n = _value(m[1], kind), int(n_text)
            acc.nth.append((wd, n))
            acc.labels.append(f"{_ordinal(n)} {WEEKDAY_NAMES[wd]}")
            return False
        stem = low[:-1].strip()
        if low.endswith("l") and (stem in d.names or _digits(stem)):
            wd = _value(item[:-1], kind)
            acc.last_of.append(wd)
            acc.labels.append(f"last {WEEKDAY_NAMES[wd]}")
            return False
    if kind == "monthdays" and (m := _NEAREST_RE.fullmatch(item)):
        day = int(m[1])
        if not 1 <= day <= 31:
            raise ScheduleError(kind, item, "has a bad day (use nW with n 1..31)")
        acc.nearest.append(day)
        acc.labels.append(f"weekday nearest the {_ordinal(day)}")
        return False
    acc.values.append(_value(item, kind))
    return False


def _range_ends(a: str, b: str, kind: Kind, item: str) -> tuple[int, int]:
    if _is_last(a):
        raise ScheduleError(kind, item, "cannot start a range at L")
    if _is_last(b):
        if kind != "monthdays":
            raise ScheduleError(kind, item, "cannot use L in a range (only in monthdays)")
        return _value(a, kind), 31  # days past the month's end never match anyway
    return _value(a, kind), _value(b, kind)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@lru_cache(maxsize=4096)
def parse_field(tokens: Tokens, kind: Kind) -> FieldMatch | None:
    """Compile the comma items of one field; None means "matches every day"."""
    acc = _Acc()
    matches_all = False
    for item in tokens:
        matches_all |= _parse_item(item, kind, acc)
    if matches_all:
        return None  # a * anywhere in a list makes the rest irrelevant
    return FieldMatch(values=frozenset(acc.values), last_day=acc.last_day,
                      nearest=tuple(sorted(set(acc.nearest))), nth=tuple(sorted(set(acc.nth))),
                      last_of=frozenset(acc.last_of), labels=tuple(acc.labels))


# ---------------------------------------------------------------- the combined filter

def nearest_weekday(day: int, first_weekday: int, days_in_month: int) -> int | None:
    """The day that ``{day}W`` resolves to in a month, or None if the month is too short."""
    if day > days_in_month:
        return None  # 31W in April never matches (no clamping)
    wd = (first_weekday + day - 1) % 7
    if wd == 5:  # Saturday: Friday before, unless that leaves the month
        return day + 2 if day == 1 else day - 1
    if wd == 6:  # Sunday: Monday after, unless that leaves the month
        return day - 2 if day == days_in_month else day + 1
    return day


@dataclass(eq=False)
class DayFilter:
    """weekdays AND monthdays AND months (Instance Scheduler's rule, not cron's OR)."""

    weekdays: FieldMatch | None
    monthdays: FieldMatch | None
    months: FieldMatch | None
    _memo: dict[int, frozenset[int]] = field(default_factory=dict, repr=False)

    def days(self, year: int, month: int) -> frozenset[int]:
        """The days of ``year-month`` that pass all three filters (memoised)."""
        key = year * 12 + month
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) > 32:  # a tick only ever needs this month and the last
                self._memo.clear()
            hit = self._memo[key] = self._resolve(year, month)
        return hit

    def matches(self, day: dt.date) -> bool:
        return day.day in self.days(day.year, day.month)

    def _resolve(self, year: int, month: int) -> frozenset[int]:
        if self.months is not None and month not in self.months.values:
            return frozenset()
        first_wd, dim = calendar.monthrange(year, month)
        out: set[int] = set(range(1, dim + 1))
        if (md := self.monthdays) is not None:
            ok = set(md.values)
            if md.last_day:
                ok.add(dim)
            for target in md.nearest:
                if (hit := nearest_weekday(target, first_wd, dim)) is not None:
                    ok.add(hit)
            out &= ok
        if (wdf := self.weekdays) is not None:
            keep: set[int] = set()
            for d in out:
                wd = (first_wd + d - 1) % 7
                if (wd in wdf.values
                        or (wd, (d - 1) // 7 + 1) in wdf.nth
                        or (wd in wdf.last_of and d + 7 > dim)):
                    keep.add(d)
            out = keep
        return frozenset(out)


@lru_cache(maxsize=4096)
def day_filter(weekdays: Tokens | None, monthdays: Tokens | None,
               months: Tokens | None) -> DayFilter | None:
    """Shared per distinct expression triple, so 10,000 "mon-fri" schedules
    resolve each month once between them.  None means every day."""
    wd = parse_field(weekdays, "weekdays") if weekdays is not None else None
    md = parse_field(monthdays, "monthdays") if monthdays is not None else None
    mo = parse_field(months, "months") if months is not None else None
    if wd is None and md is None and mo is None:
        return None
    return DayFilter(wd, md, mo)
