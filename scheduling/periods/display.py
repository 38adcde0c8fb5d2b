"""Views of a schedule for people: the week grid and the one-line summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from .engine import CompiledSchedule, Period, State, cached_compile
from .fields import MONTH_NAMES, WEEKDAY_NAMES, format_time, parse_field

_UTC = dt.timezone.utc
DASH = "\u2013"  # en dash, as in "Mon–Fri 08:00–18:00"


def _compiled(spec: Mapping[str, Any] | CompiledSchedule) -> CompiledSchedule:
    return spec if isinstance(spec, CompiledSchedule) else cached_compile(spec)


def week_grid(spec: Mapping[str, Any] | CompiledSchedule, start: dt.date) -> list[list[State]]:
    """7 local days from ``start`` x 96 quarter hours of desired states.

    Each cell holds the state at the instant its local wall time starts.  For a
    wall time that a spring-forward gap skips we use PEP 495's fold=0 mapping,
    i.e. the instant just as far past the gap (NY 02:15 -> 03:15 EDT); on a
    fall-back day a repeated wall time means its first occurrence.
    """
    compiled = _compiled(spec)
    zone = compiled.zone
    first = dt.date(start.year, start.month, start.day)  # a datetime passed in is a date too
    grid: list[list[State]] = []
    for offset in range(7):
        day = first + dt.timedelta(days=offset)
        row: list[State] = []
        for quarter in range(96):
            wall = dt.datetime(day.year, day.month, day.day, quarter // 4,
                               quarter % 4 * 15, tzinfo=zone)
            row.append(compiled.desired_state(wall.astimezone(_UTC)))
        grid.append(row)
    return grid


# ---------------------------------------------------------------- summary

def _runs(values: Sequence[int], lo: int, hi: int, cyclic: bool) -> list[tuple[int, int]]:
    """Contiguous runs of sorted ``values``; a cyclic run may wrap (Fri–Mon)."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    if cyclic and len(runs) > 1 and runs[0][0] == lo and runs[-1][1] == hi:
        runs = [(runs[-1][0], runs[0][1])] + runs[1:-1]
    return runs


def _names(values: frozenset[int], names: Sequence[str], lo: int, hi: int) -> list[str]:
    out = []
    for a, b in _runs(sorted(values), lo, hi, cyclic=True):
        if a == b:
            out.append(names[a - lo])
        elif (b - a) % (hi - lo + 1) == 1:
            out += [names[a - lo], names[b - lo]]
        else:
            out.append(f"{names[a - lo]}{DASH}{names[b - lo]}")
    return out


def _days_text(p: Period) -> str:
    parts: list[str] = []
    if p.weekdays is not None and (wd := parse_field(p.weekdays, "weekdays")) is not None:
        names = _names(wd.values, WEEKDAY_NAMES, 0, 6) if len(wd.values) < 7 else ["every day"]
        parts.append(", ".join(names + [lb for lb in wd.labels]))
    if p.monthdays is not None and (md := parse_field(p.monthdays, "monthdays")) is not None:
        days = [str(a) if a == b else f"{a}{DASH}{b}"
                for a, b in _runs(sorted(md.values), 1, 31, cyclic=False)]
        label = "day " if len(md.values) == 1 and not md.labels else "days "
        parts.append((label + ", ".join(days + list(md.labels))) if days
                     else ", ".join(md.labels))
    if p.months is not None and (mo := parse_field(p.months, "months")) is not None:
        parts.append(", ".join(_names(mo.values, MONTH_NAMES, 1, 12)))
    return " / ".join(parts) if parts else "daily"


def _time_text(p: Period) -> str:
    if p.begin is not None and p.end is not None:
        text = f"{format_time(p.begin)}{DASH}{format_time(p.end)}"
        return text + " (next day)" if p.overnight else text
    if p.begin is not None:
        return f"from {format_time(p.begin)}"
    if p.end is not None:
        return f"until {format_time(p.end)}"
    return "all day"


def summarize(spec: Mapping[str, Any] | CompiledSchedule) -> str:
    """One line for people, e.g. "Mon–Fri 08:00–18:00, Europe/Berlin"."""
    compiled = _compiled(spec)
    if compiled.override is not None:
        return f"always {compiled.override} (override)"
    if not compiled.periods:
        return "always stopped (no periods)"
    periods = "; ".join(f"{_days_text(p)} {_time_text(p)}" for p in compiled.periods)
    return f"{periods}, {compiled.timezone}"
