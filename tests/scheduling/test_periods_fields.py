"""Day-field expressions (weekdays, monthdays, months) and malformed input."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import pytest

from scheduling.periods import ScheduleError, compile_spec, validate_spec

UTC = dt.timezone.utc


def running_days(field: str, expr: Any, year: int, month: int) -> list[int]:
    """Days of the month on which a period with only this filter runs (at noon)."""
    compiled = compile_spec({"timezone": "UTC", "periods": [{field: expr}]})
    return [d for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if compiled.desired_state(dt.datetime(year, month, d, 12, tzinfo=UTC)) == "running"]


def running_weekdays(expr: Any) -> set[int]:
    # 2024-05-06 is a Monday: the week 6..12 May maps day d to weekday d - 6.
    return {d - 6 for d in running_days("weekdays", expr, 2024, 5) if 6 <= d <= 12}


def running_months(expr: Any) -> set[int]:
    compiled = compile_spec({"timezone": "UTC", "periods": [{"months": expr}]})
    return {m for m in range(1, 13)
            if compiled.desired_state(dt.datetime(2024, m, 15, tzinfo=UTC)) == "running"}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("Mon-FRI", {0, 1, 2, 3, 4}),
        ("0-4", {0, 1, 2, 3, 4}),
        ("monday-friday", {0, 1, 2, 3, 4}),
        ("mon - fri", {0, 1, 2, 3, 4}),
        ("fri-mon", {4, 5, 6, 0}),  # wraps over the weekend
        ("sat-tue", {5, 6, 0, 1}),
        ("sun-sun", {6}),
        ("mon,wed,fri", {0, 2, 4}),
        (["mon", 2, "fri"], {0, 2, 4}),
        (["mon,tue", "sun"], {0, 1, 6}),
        ([6], {6}),
        ("SUN", {6}),
        ("L", {6}),  # Instance Scheduler: bare L is the last value, Sunday (every Sunday)
        ("mon/2", {0, 2, 4, 6}),  # a/n runs to the end of the week, no wrap
        ("sat/2", {5}),
        ("fri/1", {4, 5, 6}),
        ("mon-fri/2", {0, 2, 4}),
        ("tue-sat/3", {1, 4}),
        ("fri-tue/2", {4, 6, 1}),  # a wrapping range steps along the wrap
        ("*/3", {0, 3, 6}),
        ("mon/7", {0}),
        ("mon/100", {0}),  # steps of any size
        ("*", set(range(7))),
        ("?", set(range(7))),
        ("mon,*", set(range(7))),
    ],
)
def test_weekdays(expr: Any, expected: set[int]) -> None:
    assert running_weekdays(expr) == expected


@pytest.mark.parametrize(
    ("expr", "year", "month", "expected"),
    [
        ("mon#1", 2024, 1, [1]),
        ("mon#2", 2024, 1, [8]),
        ("0#5", 2024, 1, [29]),
        ("mon#5", 2024, 2, []),  # February 2024 has only four Mondays
        ("thu#5", 2024, 2, [29]),
        ("sun#1", 2024, 9, [1]),
        ("friL", 2024, 5, [31]),
        ("4L", 2024, 5, [31]),
        ("FRIL", 2024, 5, [31]),
        ("fridayL", 2024, 5, [31]),
        ("monL", 2024, 2, [26]),
        ("sunL", 2024, 6, [30]),
        ("monL,mon#1", 2024, 4, [1, 29]),
        ("L", 2024, 5, [5, 12, 19, 26]),
        ("fri-mon", 2024, 5, [3, 4, 5, 6, 10, 11, 12, 13, 17, 18, 19, 20, 24, 25, 26, 27, 31]),
    ],
)
def test_weekdays_in_a_month(expr: str, year: int, month: int, expected: list[int]) -> None:
    assert running_days("weekdays", expr, year, month) == expected


@pytest.mark.parametrize(
    ("expr", "year", "month", "expected"),
    [
        ("1", 2024, 5, [1]),
        ("1,15", 2024, 5, [1, 15]),
        ([1, "15"], 2024, 5, [1, 15]),
        ("20-25", 2024, 5, [20, 21, 22, 23, 24, 25]),
        ("L", 2024, 2, [29]),
        ("L", 2025, 2, [28]),
        ("L", 2024, 4, [30]),
        ("30-L", 2024, 5, [30, 31]),
        ("30-L", 2024, 2, []),  # the range starts after February's end: nothing
        ("28-L", 2025, 2, [28]),
        ("31", 2024, 4, []),  # April has no 31st: never matches, no clamping
        ("29-31", 2025, 2, []),
        ("1/7", 2024, 5, [1, 8, 15, 22, 29]),
        ("1-L/2", 2024, 5, list(range(1, 32, 2))),
        ("1-L/2", 2024, 4, list(range(1, 30, 2))),
        ("2-L/2", 2024, 2, list(range(2, 30, 2))),
        ("5/14", 2024, 5, [5, 19]),
        ("5/30", 2024, 5, [5]),
        ("1-10/3", 2024, 5, [1, 4, 7, 10]),
        ("*/10", 2024, 5, [1, 11, 21, 31]),
        ("15W", 2024, 5, [15]),  # Wednesday: itself
        ("15W", 2024, 6, [14]),  # Saturday: Friday before
        ("16W", 2024, 6, [17]),  # Sunday: Monday after
        ("1W", 2024, 6, [3]),  # Saturday the 1st: Monday the 3rd, not the month before
        ("1W", 2024, 9, [2]),  # Sunday the 1st: Monday the 2nd
        ("30W", 2024, 6, [28]),  # Sunday the last day: Friday before, not next month
        ("31W", 2024, 3, [29]),  # Sunday the 31st (last day): Friday the 29th
        ("31W", 2024, 8, [30]),  # Saturday the 31st: Friday the 30th
        ("31W", 2024, 6, []),  # June has no 31st
        ("30W", 2025, 2, []),
        ("15w", 2024, 6, [14]),
        ("1W,15W,L", 2024, 6, [3, 14, 30]),
        ("*", 2025, 2, list(range(1, 29))),
    ],
)
def test_monthdays(expr: Any, year: int, month: int, expected: list[int]) -> None:
    assert running_days("monthdays", expr, year, month) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("jan", {1}),
        ("January", {1}),
        ("DEC", {12}),
        ("1-3", {1, 2, 3}),
        ("jan-mar", {1, 2, 3}),
        ("oct-mar", {10, 11, 12, 1, 2, 3}),  # wraps over the new year
        ("nov-feb", {11, 12, 1, 2}),
        ("jan/3", {1, 4, 7, 10}),
        ("oct-mar/2", {10, 12, 2}),
        ("*/6", {1, 7}),
        ("6", {6}),
        ([1, "jul"], {1, 7}),
        ("jun/12", {6}),
        ("*", set(range(1, 13))),
    ],
)
def test_months(expr: Any, expected: set[int]) -> None:
    assert running_months(expr) == expected


def test_weekday_nth_combined_with_months() -> None:
    # Second Tuesday of each quarter's first month: Patch Tuesday-ish maintenance.
    spec = {"timezone": "UTC", "periods": [{"weekdays": "tue#2", "months": "jan/3"}]}
    compiled = compile_spec(spec)
    hits = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(366))
            if compiled.desired_state(dt.datetime(d.year, d.month, d.day, 12, tzinfo=UTC))
            == "running"]
    assert hits == [dt.date(2024, 1, 9), dt.date(2024, 4, 9), dt.date(2024, 7, 9),
                    dt.date(2024, 10, 8)]


# ---------------------------------------------------------------- malformed input

def period(**fields: Any) -> dict[str, Any]:
    return {"timezone": "UTC", "periods": [fields]}


@pytest.mark.parametrize(
    ("spec", "field", "token"),
    [
        (period(weekdays="fry"), "periods[0].weekdays", "fry"),
        (period(weekdays="mon,fry"), "periods[0].weekdays", "fry"),
        (period(weekdays="mon-fry"), "periods[0].weekdays", "fry"),
        (period(weekdays="7"), "periods[0].weekdays", "7"),
        (period(weekdays=[7]), "periods[0].weekdays", "7"),
        (period(weekdays="mon#6"), "periods[0].weekdays", "mon#6"),
        (period(weekdays="mon#0"), "periods[0].weekdays", "mon#0"),
        (period(weekdays="mon#"), "periods[0].weekdays", "mon#"),
        (period(weekdays="fry#2"), "periods[0].weekdays", "fry"),
        (period(weekdays="8L"), "periods[0].weekdays", "8"),
        (period(weekdays="0/0"), "periods[0].weekdays", "0/0"),
        (period(weekdays="mon/x"), "periods[0].weekdays", "mon/x"),
        (period(weekdays="L/2"), "periods[0].weekdays", "L/2"),
        (period(weekdays="L-fri"), "periods[0].weekdays", "L-fri"),
        (period(weekdays="mon-L"), "periods[0].weekdays", "mon-L"),
        (period(weekdays="15W"), "periods[0].weekdays", "15W"),
        (period(weekdays="mon,,fri"), "periods[0].weekdays", "mon,,fri"),
        (period(weekdays="mon,"), "periods[0].weekdays", "mon,"),
        (period(weekdays=" "), "periods[0].weekdays", " "),
        (period(weekdays=1.5), "periods[0].weekdays", "1.5"),
        (period(weekdays=[True]), "periods[0].weekdays", "True"),
        (period(weekdays={"mon": 1}), "periods[0].weekdays", "{'mon': 1}"),
        (period(monthdays="32"), "periods[0].monthdays", "32"),
        (period(monthdays="0"), "periods[0].monthdays", "0"),
        (period(monthdays="-1"), "periods[0].monthdays", "-1"),
        (period(monthdays="20-5"), "periods[0].monthdays", "20-5"),
        (period(monthdays="L-5"), "periods[0].monthdays", "L-5"),
        (period(monthdays="L/2"), "periods[0].monthdays", "L/2"),
        (period(monthdays="/5"), "periods[0].monthdays", "/5"),
        (period(monthdays="1/0"), "periods[0].monthdays", "1/0"),
        (period(monthdays="32W"), "periods[0].monthdays", "32W"),
        (period(monthdays="0W"), "periods[0].monthdays", "0W"),
        (period(monthdays="LW"), "periods[0].monthdays", "LW"),
        (period(monthdays="mon"), "periods[0].monthdays", "mon"),
        (period(monthdays="1#2"), "periods[0].monthdays", "1#2"),
        (period(months="L"), "periods[0].months", "L"),
        (period(months="jan-L"), "periods[0].months", "jan-L"),
        (period(months="13"), "periods[0].months", "13"),
        (period(months="0"), "periods[0].months", "0"),
        (period(months="jam"), "periods[0].months", "jam"),
        (period(months="jan#2"), "periods[0].months", "jan#2"),
        (period(begintime="25:00"), "periods[0].begintime", "25:00"),
        (period(endtime="24:00"), "periods[0].endtime", "24:00"),
        (period(begintime="09:60"), "periods[0].begintime", "09:60"),
        (period(begintime="09:00:60"), "periods[0].begintime", "09:00:60"),
        (period(begintime="9.00"), "periods[0].begintime", "9.00"),
        (period(begintime="9:0"), "periods[0].begintime", "9:0"),
        (period(begintime="900"), "periods[0].begintime", "900"),
        (period(begintime=900), "periods[0].begintime", "900"),
        (period(begintime="09:00 pm"), "periods[0].begintime", "09:00 pm"),
        (period(begintime="١٢:٠٠"), "periods[0].begintime", "١٢:٠٠"),
        (period(monthdays="²"), "periods[0].monthdays", "²"),
        (period(weekdays="mon/²"), "periods[0].weekdays", "mon/²"),
        (period(weekdays="²L"), "periods[0].weekdays", "²L"),
        (period(begintime="09:00", endtime="09:00"), "periods[0].endtime", "09:00"),
        (period(begintime="9:00", endtime="09:00:00"), "periods[0].endtime", "09:00:00"),
        ({"timezone": "Mars/Olympus", "periods": []}, "timezone", "Mars/Olympus"),
        ({"timezone": "../../etc/passwd"}, "timezone", "../../etc/passwd"),
        ({"timezone": "europe berlin"}, "timezone", "europe berlin"),
        ({"timezone": 1}, "timezone", "1"),
        ({"override_status": "paused"}, "override_status", "paused"),
        ({"override_status": True}, "override_status", "True"),
        ({"periods": [{}]}, "periods[0]", "{}"),
        ({"periods": [{"name": "office", "weekdays": None, "begintime": ""}]}, "periods[0]",
         '{"begintime": "", "name": "office", "weekdays": null}'),
        ({"periods": [{"weekdays": "mon"}, {}]}, "periods[1]", "{}"),
        ({"periods": [{"weekdays": "mon"}, {"weekdays": "fry"}]}, "periods[1].weekdays", "fry"),
        ({"periods": ["mon"]}, "periods[0]", '"mon"'),
        ({"periods": "mon-fri"}, "periods", '"mon-fri"'),
        ({"periods": {"weekdays": "mon"}}, "periods", '{"weekdays": "mon"}'),
        ([], "spec", "[]"),
        (None, "spec", "null"),
    ],
)
def test_bad_input_raises_schedule_error(spec: Any, field: str, token: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_spec(spec)
    err = caught.value
    assert (err.field, err.token) == (field, token)
    assert str(err).startswith(f"{field}: ")
    assert repr(token) in str(err)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (period(weekdays="fry"), "periods[0].weekdays: 'fry' is not a day (use mon..sun or 0..6)"),
        (period(monthdays="32"),
         "periods[0].monthdays: '32' is not a day of the month (use 1..31 or L)"),
        (period(months="13"), "periods[0].months: '13' is not a month (use jan..dec or 1..12)"),
        ({"timezone": "Mars/Olympus"},
         "timezone: 'Mars/Olympus' is not a known IANA timezone (e.g. Europe/Berlin)"),
    ],
)
def test_error_messages_read_well(spec: Any, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_spec(spec)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "spec",
    [
        {"timezone": "Europe/Berlin", "periods": [{"begintime": "09:00", "endtime": "17:00",
                                                    "weekdays": "mon-fri", "monthdays": None,
                                                    "months": None}],
         "override_status": None, "enforced": True, "name": "office"},
        {"periods": [{"weekdays": "*"}]},
        {"periods": [{"begintime": "22:00", "endtime": "06:00"}]},
        {"periods": [{"begintime": "23:59:59"}]},
        {"periods": [{"endtime": "0:00"}]},
        {"timezone": "America/Argentina/Buenos_Aires", "override_status": "running"},
        {"timezone": None, "periods": None, "override_status": None},
    ],
)
def test_valid_specs_validate(spec: dict[str, Any]) -> None:
    validate_spec(spec)  # raises on any problem
