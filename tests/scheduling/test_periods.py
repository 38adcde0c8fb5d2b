"""Period and schedule semantics of scheduling.periods (Instance Scheduler rules).

Pure Python: no database, no Django.  Day-field expressions are in
test_periods_fields.py, properties / week grid / summary in
test_periods_properties.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduling.periods import (
    NaiveDatetimeError,
    ScheduleError,
    compile_spec,
    desired_state,
)
from scheduling.periods.engine import cached_compile

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")
SYD = ZoneInfo("Australia/Sydney")


def local(zone: str, y: int, mo: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(zone))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def spec(*periods: dict[str, Any], tz: str = "UTC", override: str | None = None) -> dict[str, Any]:
    return {"timezone": tz, "periods": list(periods), "override_status": override,
            "name": "t", "enforced": True, "retain_running": False}


# 2024-05-06 is a Monday; 2024-05-04 a Saturday.
MON = (2024, 5, 6)
SAT = (2024, 5, 4)
NINE_TO_FIVE = {"begintime": "09:00", "endtime": "17:00", "weekdays": "mon-fri"}


@pytest.mark.parametrize(
    ("period", "day", "hms", "expected"),
    [
        # begin + end: begin <= t < end
        (NINE_TO_FIVE, MON, (8, 59, 59), "stopped"),
        (NINE_TO_FIVE, MON, (9, 0, 0), "running"),
        (NINE_TO_FIVE, MON, (16, 59, 59), "running"),
        (NINE_TO_FIVE, MON, (17, 0, 0), "stopped"),
        (NINE_TO_FIVE, SAT, (10, 0, 0), "stopped"),
        # begin only: running from begin, "any" before it
        ({"begintime": "09:00"}, MON, (8, 59, 59), "any"),
        ({"begintime": "09:00"}, MON, (9, 0, 0), "running"),
        ({"begintime": "09:00"}, MON, (23, 59, 59), "running"),
        ({"begintime": "09:00", "weekdays": "sat"}, MON, (8, 0, 0), "stopped"),
        ({"begintime": "09:00", "weekdays": "sat"}, MON, (10, 0, 0), "stopped"),
        # end only: stopped from end, "any" before it
        ({"endtime": "17:00"}, MON, (0, 0, 0), "any"),
        ({"endtime": "17:00"}, MON, (16, 59, 59), "any"),
        ({"endtime": "17:00"}, MON, (17, 0, 0), "stopped"),
        ({"endtime": "17:00", "weekdays": "sat"}, MON, (10, 0, 0), "stopped"),
        # neither: running on matching days
        ({"weekdays": "mon-fri"}, MON, (0, 0, 0), "running"),
        ({"weekdays": "mon-fri"}, MON, (23, 59, 59), "running"),
        ({"weekdays": "mon-fri"}, SAT, (12, 0, 0), "stopped"),
        ({"months": "may"}, SAT, (12, 0, 0), "running"),
        ({"monthdays": "6"}, MON, (12, 0, 0), "running"),
        ({"monthdays": "6"}, SAT, (12, 0, 0), "stopped"),
        # time formats: H:MM and HH:MM:SS
        ({"begintime": "9:00", "endtime": "9:30"}, MON, (9, 29, 59), "running"),
        ({"begintime": "09:00:30", "endtime": "10:00"}, MON, (9, 0, 29), "stopped"),
        ({"begintime": "09:00:30", "endtime": "10:00"}, MON, (9, 0, 30), "running"),
        ({"begintime": "00:00", "endtime": "23:59"}, MON, (23, 58, 59), "running"),
        ({"begintime": "00:00", "endtime": "23:59"}, MON, (23, 59, 0), "stopped"),
        # "*" and "?" match every day, as does an empty string / list (unset)
        ({"begintime": "09:00", "endtime": "17:00", "weekdays": "*"}, SAT, (9, 0, 0), "running"),
        ({"begintime": "09:00", "endtime": "17:00", "monthdays": "?"}, SAT, (9, 0, 0), "running"),
        ({"begintime": "09:00", "endtime": "17:00", "weekdays": ""}, SAT, (9, 0, 0), "running"),
        ({"begintime": "09:00", "endtime": "17:00", "weekdays": []}, SAT, (9, 0, 0), "running"),
        # filters are ANDed, not cron's OR: Monday the 6th in May, but not in June
        ({"weekdays": "mon", "monthdays": "6", "months": "may"}, MON, (12, 0, 0), "running"),
        ({"weekdays": "mon", "monthdays": "6", "months": "jun"}, MON, (12, 0, 0), "stopped"),
        ({"weekdays": "tue", "monthdays": "6"}, MON, (12, 0, 0), "stopped"),
    ],
)
def test_single_period(period: dict[str, Any], day: tuple[int, int, int],
                       hms: tuple[int, int, int], expected: str) -> None:
    at = local("UTC", *day, *hms)
    assert desired_state(spec(period), at) == expected
    assert compile_spec(spec(period)).desired_state(at) == expected


@pytest.mark.parametrize(
    ("periods", "hms", "expected"),
    [
        ([], (12, 0, 0), "stopped"),
        # strongest wins: running > any > stopped
        ([{"endtime": "17:00"}, {"begintime": "09:00", "endtime": "10:00"}], (8, 0, 0), "any"),
        ([{"endtime": "17:00"}, {"begintime": "09:00", "endtime": "10:00"}], (9, 30, 0), "running"),
        ([{"endtime": "17:00"}, {"begintime": "09:00", "endtime": "10:00"}], (17, 30, 0), "stopped"),
        ([{"begintime": "20:00"}, {"endtime": "06:00"}], (12, 0, 0), "any"),
        ([{"begintime": "20:00"}, {"endtime": "06:00"}], (5, 0, 0), "any"),
        ([{"begintime": "20:00"}, {"endtime": "06:00"}], (21, 0, 0), "running"),
        ([{"weekdays": "tue"}, {"begintime": "09:00"}], (8, 0, 0), "any"),
    ],
)
def test_schedule_combines_periods(periods: list[dict[str, Any]], hms: tuple[int, int, int],
                                   expected: str) -> None:
    assert desired_state(spec(*periods), local("UTC", *MON, *hms)) == expected


def test_missing_periods_means_stopped_and_missing_timezone_means_utc() -> None:
    at = utc("2024-05-06T12:00:00")
    assert desired_state({"periods": None}, at) == "stopped"
    assert desired_state({}, at) == "stopped"
    assert desired_state({"periods": [{"begintime": "12:00", "endtime": "13:00"}]}, at) == "running"


@pytest.mark.parametrize(
    ("override", "periods", "expected"),
    [
        ("running", [], "running"),
        ("running", [{"weekdays": "sat"}], "running"),
        ("stopped", [{"weekdays": "mon-sun"}], "stopped"),
        ("Stopped", [{"begintime": "00:00"}], "stopped"),
        (None, [{"weekdays": "mon-sun"}], "running"),
        ("", [{"weekdays": "mon-sun"}], "running"),
    ],
)
def test_override_decides_alone(override: str | None, periods: list[dict[str, Any]],
                                expected: str) -> None:
    assert desired_state(spec(*periods, override=override), local("UTC", *MON)) == expected


# ---------------------------------------------------------------- adjacency

LATE = {"begintime": "05:00", "endtime": "23:59"}
EARLY = {"begintime": "00:00", "endtime": "03:00"}


@pytest.mark.parametrize(
    ("periods", "day", "hms", "expected"),
    [
        ([LATE, EARLY], MON, (23, 58, 59), "running"),
        ([LATE, EARLY], MON, (23, 59, 0), "running"),  # joined: one minute each side runs
        ([LATE, EARLY], MON, (23, 59, 59), "running"),
        ([LATE, EARLY], MON, (0, 0, 0), "running"),
        ([LATE, EARLY], MON, (3, 0, 0), "stopped"),
        ([LATE, EARLY], MON, (4, 59, 59), "stopped"),
        ([EARLY, LATE], MON, (23, 59, 30), "running"),  # order of periods does not matter
        ([LATE], MON, (23, 59, 30), "stopped"),  # one period: no joining
        # the next day's period must actually run for the join to happen
        ([{**LATE, "weekdays": "mon"}, {**EARLY, "weekdays": "tue"}], MON, (23, 59, 30), "running"),
        ([{**LATE, "weekdays": "mon"}, {**EARLY, "weekdays": "wed"}], MON, (23, 59, 30), "stopped"),
        ([{**LATE, "weekdays": "sun"}, {**EARLY, "weekdays": "mon"}], (2024, 5, 5), (23, 59, 0),
         "running"),
        # a one-minute gap inside the day joins; a two-minute gap does not
        ([{"begintime": "09:00", "endtime": "12:00"}, {"begintime": "12:01", "endtime": "14:00"}],
         MON, (12, 0, 30), "running"),
        ([{"begintime": "09:00", "endtime": "12:00"}, {"begintime": "12:02", "endtime": "14:00"}],
         MON, (12, 0, 30), "stopped"),
        ([{"begintime": "09:00", "endtime": "12:00"}, {"begintime": "12:02", "endtime": "14:00"}],
         MON, (12, 1, 30), "stopped"),
    ],
)
def test_adjacent_periods_join(periods: list[dict[str, Any]], day: tuple[int, int, int],
                               hms: tuple[int, int, int], expected: str) -> None:
    assert desired_state(spec(*periods), local("UTC", *day, *hms)) == expected


# ---------------------------------------------------------------- overnight windows

FRI_NIGHT = {"begintime": "22:00", "endtime": "06:00", "weekdays": "fri"}


@pytest.mark.parametrize(
    ("period", "day", "hms", "expected"),
    [
        (FRI_NIGHT, (2024, 5, 3), (21, 59, 59), "stopped"),
        (FRI_NIGHT, (2024, 5, 3), (22, 0, 0), "running"),
        (FRI_NIGHT, (2024, 5, 3), (23, 0, 0), "running"),
        (FRI_NIGHT, (2024, 5, 4), (0, 0, 0), "running"),
        (FRI_NIGHT, (2024, 5, 4), (5, 59, 59), "running"),  # Sat morning: Friday's window
        (FRI_NIGHT, (2024, 5, 4), (6, 0, 0), "stopped"),
        (FRI_NIGHT, (2024, 5, 4), (23, 0, 0), "stopped"),  # Sat evening: Sat fails the filter
        (FRI_NIGHT, (2024, 5, 5), (5, 0, 0), "stopped"),
        (FRI_NIGHT, (2024, 5, 6), (5, 0, 0), "stopped"),  # Mon morning: Sunday did not match
        (FRI_NIGHT, (2024, 5, 3), (5, 0, 0), "stopped"),  # Fri morning: Thursday did not match
        (FRI_NIGHT, (2024, 5, 3), (12, 0, 0), "stopped"),
        ({**FRI_NIGHT, "weekdays": "sun"}, (2024, 5, 6), (5, 0, 0), "running"),
        ({**FRI_NIGHT, "weekdays": None}, (2024, 5, 6), (3, 0, 0), "running"),
        ({**FRI_NIGHT, "weekdays": None}, (2024, 5, 6), (12, 0, 0), "stopped"),
        # a window into midnight: end 00:00 with begin > end
        ({"begintime": "22:00", "endtime": "00:00"}, MON, (23, 59, 59), "running"),
        ({"begintime": "22:00", "endtime": "00:00"}, MON, (0, 0, 0), "stopped"),
        # filters of the beginning day also carry across month and year ends
        ({"begintime": "22:00", "endtime": "06:00", "monthdays": "L"}, (2024, 5, 31), (23, 0, 0),
         "running"),
        ({"begintime": "22:00", "endtime": "06:00", "monthdays": "L"}, (2024, 6, 1), (5, 0, 0),
         "running"),
        ({"begintime": "22:00", "endtime": "06:00", "monthdays": "L"}, (2024, 6, 1), (23, 0, 0),
         "stopped"),
        ({"begintime": "22:00", "endtime": "06:00", "months": "dec"}, (2025, 1, 1), (3, 0, 0),
         "running"),
        ({"begintime": "22:00", "endtime": "06:00", "months": "dec"}, (2025, 1, 1), (23, 0, 0),
         "stopped"),
        ({"begintime": "22:00", "endtime": "06:00", "monthdays": "29", "months": "feb"},
         (2028, 3, 1), (1, 0, 0), "running"),
    ],
)
def test_overnight_window(period: dict[str, Any], day: tuple[int, int, int],
                          hms: tuple[int, int, int], expected: str) -> None:
    assert desired_state(spec(period), local("UTC", *day, *hms)) == expected


def test_overnight_window_joins_a_morning_period() -> None:
    periods = [{"begintime": "18:00", "endtime": "00:00"}, {"begintime": "00:01", "endtime": "08:00"}]
    assert desired_state(spec(*periods), local("UTC", *MON, 0, 0, 30)) == "running"


# ---------------------------------------------------------------- time zones and DST

@pytest.mark.parametrize(
    ("period", "tz", "at", "expected"),
    [
        # the schedule's wall clock decides, including the local weekday
        (NINE_TO_FIVE, "Australia/Sydney", utc("2024-05-06T23:30:00"), "running"),  # Tue 09:30
        (NINE_TO_FIVE, "Australia/Sydney", utc("2024-05-05T23:30:00"), "running"),  # Mon 09:30
        (NINE_TO_FIVE, "Australia/Sydney", utc("2024-05-03T23:30:00"), "stopped"),  # Sat 09:30
        (NINE_TO_FIVE, "America/New_York", utc("2024-05-06T13:00:00"), "running"),  # 09:00 EDT
        (NINE_TO_FIVE, "America/New_York", utc("2024-05-06T12:59:59"), "stopped"),
        (NINE_TO_FIVE, "America/New_York", utc("2024-01-08T14:00:00"), "running"),  # 09:00 EST
        (NINE_TO_FIVE, "America/New_York", utc("2024-01-08T13:59:59"), "stopped"),
        # New York spring forward, Sun 2024-03-10: 02:00 EST jumps to 03:00 EDT
        ({"begintime": "02:00", "endtime": "03:00"}, "America/New_York",
         utc("2024-03-10T06:59:59"), "stopped"),  # 01:59:59 EST
        ({"begintime": "02:00", "endtime": "03:00"}, "America/New_York",
         utc("2024-03-10T07:00:00"), "stopped"),  # 03:00 EDT: the window never happened
        ({"begintime": "02:00", "endtime": "03:00"}, "America/New_York",
         utc("2024-03-11T06:30:00"), "running"),  # next day, 02:30 EDT
        ({"begintime": "01:00", "endtime": "04:00"}, "America/New_York",
         utc("2024-03-10T07:00:00"), "running"),
        ({"begintime": "01:00", "endtime": "04:00"}, "America/New_York",
         utc("2024-03-10T08:00:00"), "stopped"),  # 04:00 EDT, two real hours later
        ({"begintime": "02:30"}, "America/New_York", utc("2024-03-10T06:59:59"), "any"),
        ({"begintime": "02:30"}, "America/New_York", utc("2024-03-10T07:00:00"), "running"),
        # New York fall back, Sun 2024-11-03: 01:00-02:00 happens twice
        ({"begintime": "01:00", "endtime": "02:00"}, "America/New_York",
         utc("2024-11-03T05:30:00"), "running"),  # 01:30 EDT
        ({"begintime": "01:00", "endtime": "02:00"}, "America/New_York",
         utc("2024-11-03T06:30:00"), "running"),  # 01:30 EST, the second time
        ({"begintime": "01:00", "endtime": "02:00"}, "America/New_York",
         utc("2024-11-03T07:00:00"), "stopped"),  # 02:00 EST
        ({"begintime": "01:30", "endtime": "01:45"}, "America/New_York",
         utc("2024-11-03T06:40:00"), "running"),
        ({"begintime": "02:00", "endtime": "06:00"}, "America/New_York",
         utc("2024-11-03T06:59:59"), "stopped"),  # 01:59:59 EST
        # Sydney spring forward, Sun 2024-10-06: 02:00 AEST jumps to 03:00 AEDT
        ({"begintime": "02:00", "endtime": "02:30"}, "Australia/Sydney",
         utc("2024-10-05T16:00:00"), "stopped"),
        ({"begintime": "01:00", "endtime": "03:30"}, "Australia/Sydney",
         utc("2024-10-05T15:59:59"), "running"),
        ({"begintime": "01:00", "endtime": "03:30"}, "Australia/Sydney",
         utc("2024-10-05T16:00:00"), "running"),
        ({"begintime": "01:00", "endtime": "03:30"}, "Australia/Sydney",
         utc("2024-10-05T16:30:00"), "stopped"),
        ({"begintime": "03:00", "weekdays": "sun"}, "Australia/Sydney",
         utc("2024-10-05T16:00:00"), "running"),
        # Sydney fall back, Sun 2025-04-06: 03:00 AEDT goes back to 02:00 AEST
        ({"begintime": "02:00", "endtime": "03:00"}, "Australia/Sydney",
         utc("2025-04-05T15:30:00"), "running"),  # 02:30 AEDT
        ({"begintime": "02:00", "endtime": "03:00"}, "Australia/Sydney",
         utc("2025-04-05T16:30:00"), "running"),  # 02:30 AEST
        ({"begintime": "02:00", "endtime": "03:00"}, "Australia/Sydney",
         utc("2025-04-05T17:00:00"), "stopped"),  # 03:00 AEST
        # an overnight window across the spring-forward night
        ({"begintime": "22:00", "endtime": "06:00", "weekdays": "sat"}, "America/New_York",
         utc("2024-03-10T07:30:00"), "running"),  # Sun 03:30 EDT
        ({"begintime": "22:00", "endtime": "06:00", "weekdays": "sat"}, "America/New_York",
         utc("2024-03-10T10:00:00"), "stopped"),  # Sun 06:00 EDT
    ],
)
def test_timezones_and_dst(period: dict[str, Any], tz: str, at: dt.datetime, expected: str) -> None:
    assert desired_state(spec(period, tz=tz), at) == expected


def test_adjacency_uses_real_instants_across_dst() -> None:
    # 01:59:30 EST is followed one real minute later by 03:00:30 EDT, so on the
    # spring-forward night these two periods touch; on other nights they do not.
    periods = [{"begintime": "00:00", "endtime": "01:59"}, {"begintime": "03:00", "endtime": "05:00"}]
    s = spec(*periods, tz="America/New_York")
    assert desired_state(s, utc("2024-03-10T06:59:30")) == "running"
    assert desired_state(s, utc("2024-03-11T05:59:30")) == "stopped"  # Monday 01:59:30 EDT


def test_any_timezone_for_at_gives_the_same_answer() -> None:
    s = spec(NINE_TO_FIVE, tz="Europe/Berlin")
    instant = utc("2024-05-06T07:00:00")  # 09:00 CEST
    for tz in (UTC, NY, SYD, dt.timezone(dt.timedelta(hours=5, minutes=45))):
        assert desired_state(s, instant.astimezone(tz)) == "running"
    assert desired_state(s, instant - dt.timedelta(seconds=1)) == "stopped"


# ---------------------------------------------------------------- leap day

@pytest.mark.parametrize(
    ("monthdays", "day", "expected"),
    [
        ("29", (2028, 2, 29), "running"),
        ("L", (2028, 2, 29), "running"),
        ("L", (2028, 2, 28), "stopped"),
        ("L", (2027, 2, 28), "running"),
        ("28-L", (2028, 2, 28), "running"),
        ("28-L", (2028, 2, 29), "running"),
        ("29", (2027, 3, 1), "stopped"),  # no clamping onto the next month
        ("29W", (2028, 2, 29), "running"),  # a Tuesday
    ],
)
def test_leap_day(monthdays: str, day: tuple[int, int, int], expected: str) -> None:
    assert desired_state(spec({"monthdays": monthdays}), local("UTC", *day)) == expected


# ---------------------------------------------------------------- naive instants, caching

@pytest.mark.parametrize("override", [None, "running"])
def test_naive_datetime_is_refused(override: str | None) -> None:
    naive = dt.datetime(2024, 5, 6, 12, 0)
    s = spec(NINE_TO_FIVE, override=override)
    with pytest.raises(NaiveDatetimeError):
        desired_state(s, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_spec(s).desired_state(naive)
    assert not issubclass(NaiveDatetimeError, ScheduleError)


def test_cache_ignores_names_and_flags_but_sees_changes() -> None:
    a = spec(NINE_TO_FIVE)
    b = {**a, "name": "other", "description": "x", "stop_new_instances": True}
    assert cached_compile(a) is cached_compile(b)
    at = local("UTC", *MON, 8)
    assert desired_state(a, at) == "stopped"
    a["periods"][0]["begintime"] = "08:00"
    assert desired_state(a, at) == "running"


def test_non_json_values_are_still_evaluated() -> None:
    s = spec({"begintime": dt.time(9), "endtime": dt.time(17), "weekdays": ("mon", 1)})
    assert desired_state(s, local("UTC", *MON, 10)) == "running"
    assert desired_state(s, local("UTC", *MON, 17)) == "stopped"


def test_spec_may_use_int_lists() -> None:
    s = spec({"weekdays": [0, 2, "fri"], "monthdays": [6, "10-12"], "months": [5]})
    assert desired_state(s, local("UTC", *MON)) == "running"
