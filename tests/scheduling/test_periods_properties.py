"""Properties (hypothesis), the week grid and the one-line summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.periods import (
    ScheduleError,
    compile_spec,
    desired_state,
    summarize,
    week_grid,
)

UTC = dt.timezone.utc
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney",
         "Australia/Lord_Howe",  # 30-minute DST shift
         "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "Pacific/Apia"]
STATES = {"running", "stopped", "any"}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- strategies

WEEKDAY_ITEMS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "Monday", "SUN", "0", "6",
                 "mon-fri", "fri-mon", "sat-sun", "mon/2", "mon-fri/2", "fri-tue/2", "*/3",
                 "mon#1", "tue#2", "wed#5", "sun#4", "friL", "0L", "L", "*", "?"]
MONTHDAY_ITEMS = ["1", "15", "28", "29", "30", "31", "L", "1-15", "20-L", "1/7", "1-L/2", "5/14",
                  "15W", "1W", "30W", "31W", "*", "*/10"]
MONTH_ITEMS = ["jan", "feb", "dec", "6", "oct-mar", "nov-feb", "jan/3", "1-12", "*/2",
               "February", "*"]


def day_field(items: list[str]) -> st.SearchStrategy[Any]:
    some = st.lists(st.sampled_from(items), min_size=1, max_size=3)
    return st.one_of(st.none(), st.just(""), some.map(",".join), some)


times = st.builds(lambda h, m, s, style: (f"{h:02d}:{m:02d}" if style == 0 else
                                          f"{h}:{m:02d}" if style == 1 else
                                          f"{h:02d}:{m:02d}:{s:02d}"),
                  st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
                  st.integers(0, 2))


@st.composite
def periods(draw: st.DrawFn) -> dict[str, Any]:
    p = {"begintime": draw(st.none() | times), "endtime": draw(st.none() | times),
         "weekdays": draw(day_field(WEEKDAY_ITEMS)), "monthdays": draw(day_field(MONTHDAY_ITEMS)),
         "months": draw(day_field(MONTH_ITEMS))}
    if p["begintime"] is not None and p["endtime"] is not None:
        b, e = (compile_time(p["begintime"]), compile_time(p["endtime"]))
        if b == e:
            p["endtime"] = None
    if all(v in (None, "") for v in p.values()):
        p["weekdays"] = "*"
    return p


def compile_time(text: str) -> int:
    parts = [int(x) for x in text.split(":")] + [0]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


specs = st.fixed_dictionaries({
    "timezone": st.sampled_from(ZONES),
    "periods": st.lists(periods(), max_size=4),
    "override_status": st.sampled_from([None, None, None, "running", "stopped"]),
})

instants = st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC] + [ZoneInfo(z) for z in ZONES]))


# ---------------------------------------------------------------- properties

@FAST
@given(spec=specs, at=instants)
def test_every_valid_spec_evaluates_to_a_state(spec: dict[str, Any], at: dt.datetime) -> None:
    state = desired_state(spec, at)
    assert state in STATES
    assert compile_spec(spec).desired_state(at) == state
    if spec["override_status"] is not None:
        assert state == spec["override_status"]


@FAST
@given(spec=specs, override=st.sampled_from(["running", "stopped"]), at=instants)
def test_override_wins(spec: dict[str, Any], override: str, at: dt.datetime) -> None:
    assert desired_state({**spec, "override_status": override}, at) == override


@FAST
@given(spec=specs, at=instants)
def test_the_answer_does_not_depend_on_the_zone_of_at(spec: dict[str, Any],
                                                      at: dt.datetime) -> None:
    compiled = compile_spec(spec)
    assert compiled.desired_state(at) == compiled.desired_state(at.astimezone(UTC))


@settings(max_examples=15, deadline=None)
@given(spec=specs, start=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 1, 1)))
def test_week_grid_agrees_with_desired_state(spec: dict[str, Any], start: dt.date) -> None:
    grid = week_grid(spec, start)
    zone = ZoneInfo(spec["timezone"])
    assert len(grid) == 7 and all(len(row) == 96 for row in grid)
    for i, row in enumerate(grid):
        day = start + dt.timedelta(days=i)
        for q, cell in enumerate(row):
            wall = dt.datetime.combine(day, dt.time(q // 4, q % 4 * 15), tzinfo=zone)
            assert cell == desired_state(spec, wall), (day, q)


def test_a_wall_time_in_a_spring_forward_gap_is_the_instant_it_names():
    """Found by the week-grid property (Sydney, 2001-10-28): 02:00 does not exist
    there that day; as an aware datetime it names 03:00 AEDT, which is after the end."""
    spec = {"timezone": "Australia/Sydney", "periods": [{"endtime": "02:00:01"}]}
    gap = dt.datetime(2001, 10, 28, 2, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    assert desired_state(spec, gap) == desired_state(spec, gap.astimezone(UTC)) == week_grid(spec, gap.date())[0][8]


junk = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 40) | st.floats(allow_nan=True)
    | st.text(alphabet="0123456789-/#,:LWlw*? monfrijadecSUN²١", max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=8,
)
junk_periods = st.fixed_dictionaries({}, optional={
    k: junk for k in ("begintime", "endtime", "weekdays", "monthdays", "months")})


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(
    junk,
    st.fixed_dictionaries({}, optional={"timezone": junk | st.sampled_from(ZONES),
                                        "periods": junk | st.lists(junk_periods, max_size=3),
                                        "override_status": junk})))
def test_malformed_specs_raise_only_schedule_error(spec: Any) -> None:
    try:
        compiled = compile_spec(spec)
    except ScheduleError as err:
        assert err.field and str(err).startswith(err.field)
        return
    assert compiled.desired_state(dt.datetime(2024, 2, 29, 12, tzinfo=UTC)) in STATES


# ---------------------------------------------------------------- week grid, by example

def cells(row: Sequence[str], state: str = "running") -> list[int]:
    return [q for q, cell in enumerate(row) if cell == state]


def test_week_grid_shape_and_plain_week() -> None:
    spec = {"timezone": "Europe/Berlin",
            "periods": [{"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}]}
    grid = week_grid(spec, dt.date(2024, 5, 6))  # a Monday
    assert [len(row) for row in grid] == [96] * 7
    assert all(cells(row) == list(range(32, 72)) for row in grid[:5])
    assert grid[5] == grid[6] == ["stopped"] * 96
    assert week_grid(compile_spec(spec), dt.date(2024, 5, 6)) == grid


def test_week_grid_shows_any() -> None:
    grid = week_grid({"periods": [{"begintime": "09:00"}]}, dt.date(2024, 5, 6))
    assert grid[0][:36] == ["any"] * 36 and grid[0][36:] == ["running"] * 60


def test_week_grid_new_york_spring_forward() -> None:
    # Sun 2024-03-10: 02:00-02:45 do not exist; those cells show 03:00-03:45 EDT.
    spec = {"timezone": "America/New_York", "periods": [{"begintime": "01:00", "endtime": "04:00"}]}
    grid = week_grid(spec, dt.date(2024, 3, 10))
    assert cells(grid[0]) == list(range(4, 16))  # 01:00 to 03:45 on the wall
    assert cells(grid[1]) == list(range(4, 16))
    gap_only = {"timezone": "America/New_York",
                "periods": [{"begintime": "02:00", "endtime": "03:00"}]}
    grid = week_grid(gap_only, dt.date(2024, 3, 10))
    assert cells(grid[0]) == []  # a window inside the gap never runs
    assert cells(grid[1]) == [8, 9, 10, 11]


def test_week_grid_new_york_fall_back() -> None:
    # Sun 2024-11-03: 01:00-01:59 happens twice; cells show the first (EDT) occurrence.
    spec = {"timezone": "America/New_York", "periods": [{"begintime": "01:00", "endtime": "02:00"}]}
    grid = week_grid(spec, dt.date(2024, 11, 2))
    assert cells(grid[1]) == [4, 5, 6, 7]
    assert cells(grid[0]) == cells(grid[2]) == [4, 5, 6, 7]


def test_week_grid_sydney_dst_weeks() -> None:
    spec = {"timezone": "Australia/Sydney",
            "periods": [{"begintime": "02:00", "endtime": "02:30", "weekdays": "sun"}]}
    assert cells(week_grid(spec, dt.date(2024, 10, 6))[0]) == []  # spring forward: skipped
    assert cells(week_grid(spec, dt.date(2025, 4, 6))[0]) == [8, 9]  # fall back: first time
    assert cells(week_grid(spec, dt.date(2024, 10, 13))[0]) == [8, 9]


def test_week_grid_overnight_and_adjacency() -> None:
    spec = {"timezone": "UTC", "periods": [
        {"begintime": "22:00", "endtime": "06:00", "weekdays": "fri"},
        {"begintime": "05:00", "endtime": "23:59", "weekdays": "mon"},
        {"begintime": "00:00", "endtime": "03:00", "weekdays": "tue"}]}
    grid = week_grid(spec, dt.date(2024, 5, 6))  # Mon..Sun
    assert cells(grid[0]) == list(range(20, 96))  # Mon 05:00 to midnight, 23:59 joined
    assert cells(grid[1]) == list(range(0, 12))
    assert cells(grid[4]) == list(range(88, 96))  # Fri 22:00 on
    assert cells(grid[5]) == list(range(0, 24))  # Sat until 06:00
    assert cells(grid[6]) == []


# ---------------------------------------------------------------- summaries

@pytest.mark.parametrize(
    ("spec", "summary"),
    [
        ({"timezone": "Europe/Berlin",
          "periods": [{"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}]},
         "Mon–Fri 08:00–18:00, Europe/Berlin"),
        ({"timezone": "UTC", "periods": [
            {"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"},
            {"begintime": "10:00", "endtime": "14:00", "weekdays": "sat"}]},
         "Mon–Fri 08:00–18:00; Sat 10:00–14:00, UTC"),
        ({"timezone": "UTC", "override_status": "stopped",
          "periods": [{"weekdays": "mon"}]}, "always stopped (override)"),
        ({"override_status": "running"}, "always running (override)"),
        ({"timezone": "UTC", "periods": []}, "always stopped (no periods)"),
        ({"periods": [{"begintime": "22:00", "endtime": "06:00", "weekdays": "fri"}]},
         "Fri 22:00–06:00 (next day), UTC"),
        ({"periods": [{"begintime": "09:00"}]}, "daily from 09:00, UTC"),
        ({"periods": [{"endtime": "17:30:15"}]}, "daily until 17:30:15, UTC"),
        ({"periods": [{"weekdays": "fri-mon"}]}, "Fri–Mon all day, UTC"),
        ({"periods": [{"weekdays": "mon,wed,fri"}]}, "Mon, Wed, Fri all day, UTC"),
        ({"periods": [{"weekdays": "sat,sun"}]}, "Sat, Sun all day, UTC"),
        ({"periods": [{"weekdays": "*"}]}, "daily all day, UTC"),
        ({"periods": [{"weekdays": "mon#2,friL"}]}, "2nd Mon, last Fri all day, UTC"),
        ({"periods": [{"monthdays": "1-7,15W,L", "months": "oct-mar",
                       "begintime": "9:00", "endtime": "10:00"}]},
         "days 1–7, weekday nearest the 15th, last day / Oct–Mar 09:00–10:00, UTC"),
        ({"periods": [{"monthdays": "15"}]}, "day 15 all day, UTC"),
    ],
)
def test_summarize(spec: dict[str, Any], summary: str) -> None:
    assert summarize(spec) == summary
    assert summarize(compile_spec(spec)) == summary


def test_summarize_rejects_bad_specs() -> None:
    with pytest.raises(ScheduleError):
        summarize({"periods": [{"weekdays": "fry"}]})
