"""Tests for importing AWS Instance Scheduler configuration (pure Python, no DB).

Fixtures are byte-for-byte what ``scheduler-cli describe-schedules`` /
``describe-periods`` print (``json.dumps(result, indent=3)``): v3.x output
(Type first, dataclass field order, JSON booleans, sets as lists) and v1.x
output (raw DynamoDB items, incl. hand-edited string booleans).
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from scheduling.instance_scheduler import (
    ScheduleImportError,
    detect_format,
    from_instance_scheduler,
    load_import_file,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture(name: str) -> Any:
    return json.loads(fixture_text(name))


def period(
    begintime: str | None = None,
    endtime: str | None = None,
    weekdays: str | None = None,
    monthdays: str | None = None,
    months: str | None = None,
) -> dict[str, Any]:
    return {
        "begintime": begintime,
        "endtime": endtime,
        "weekdays": weekdays,
        "monthdays": monthdays,
        "months": months,
    }


def spec(
    name: str,
    periods: list[dict[str, Any]],
    *,
    description: str = "",
    timezone: str = "UTC",
    enforced: bool = False,
    retain_running: bool = False,
    stop_new_instances: bool = True,
    override_status: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "timezone": timezone,
        "enforced": enforced,
        "retain_running": retain_running,
        "stop_new_instances": stop_new_instances,
        "override_status": override_status,
        "periods": periods,
    }


OFFICE_HOURS = period("09:00", "17:00", "mon-fri")

EXPECTED_V3 = [
    spec("berlin-office-hours", [OFFICE_HOURS], description="Berlin office hours", timezone="Europe/Berlin"),
    spec(
        "seattle-office-hours",
        [OFFICE_HOURS],
        description="Office hours in Seattle (Pacific)",
        timezone="US/Pacific",
    ),
    spec(
        "uk-office-hours",
        [period("09:00", "18:00", "mon-fri"), period(weekdays="mon#1", months="jan/3")],
        timezone="Europe/London",
        enforced=True,
        retain_running=True,
        stop_new_instances=False,
    ),
    spec(
        "shift-workers",
        [period("07:30", "15:30", "wed,mon,fri"), period("06:00", "22:00", monthdays="L,1-3")],
        description="Early shift and month-end close",
    ),
    spec("running", [], description="Instances running", override_status="running"),
    spec("stopped", [], description="Instances stopped", override_status="stopped"),
    spec(
        "dev-schedules-nights",
        [period("18:00", "23:59", "mon-fri")],
        description="Nightly batch window",
        timezone="America/New_York",
        enforced=True,
    ),
]
EXPECTED_V3_ERROR_ENTRIES = ["scale-up-down", "patch-tuesday-servers", "dev-desktops"]

EXPECTED_V1 = [
    spec("Running", [], override_status="running"),
    spec("seattle-office-hours", [OFFICE_HOURS], timezone="US/Pacific"),
    spec("stopped", [], override_status="stopped"),
    spec(
        "london-office-hours",
        [OFFICE_HOURS],
        description="London office, keep manual starts",
        timezone="Europe/London",
        enforced=True,
        retain_running=True,
        stop_new_instances=False,
    ),
    spec("always-on-legacy", [], description="Always on (legacy overwrite flag)", override_status="running"),
    spec(
        "eu-weekdays",
        [period("09:00", "18:00", "mon-fri"), period("14:00", "22:00", "mon,tue,wed")],
        timezone="Europe/Paris",
    ),
]


def convert_one(schedule: dict[str, Any], periods: list[dict[str, Any]] | None = None):
    """Convert a single schedule entry; periods default to one 'office-hours'."""
    if periods is None:
        periods = [{"Type": "period", "Name": "office-hours", "Begintime": "09:00", "Endtime": "17:00", "Weekdays": ["mon-fri"]}]
    base = {"Type": "schedule", "Name": "s", "Periods": ["office-hours"]}
    return from_instance_scheduler({"Schedules": [{**base, **schedule}]}, {"Periods": periods})


# ---------------------------------------------------------------- fixtures


def test_v3_cli_export_converts_to_expected_specs() -> None:
    specs, errors = from_instance_scheduler(
        fixture("scheduler_cli_describe_schedules.json"),
        fixture("scheduler_cli_describe_periods.json"),
    )
    assert specs == EXPECTED_V3
    assert [e.entry for e in errors] == EXPECTED_V3_ERROR_ENTRIES
    messages = {e.entry: e.message for e in errors}
    assert "weekdays@t3.large" in messages["scale-up-down"]
    assert "weekends@t3.nano" in messages["scale-up-down"]
    assert "patch-tuesday" in messages["patch-tuesday-servers"]
    assert "Hibernate" in messages["dev-desktops"]


def test_v1_cli_export_converts_to_expected_specs() -> None:
    specs, errors = load_import_file(
        [
            fixture("scheduler_cli_v1_describe_schedules.json"),
            fixture("scheduler_cli_v1_describe_periods.json"),
        ]
    )
    assert errors == []
    assert specs == EXPECTED_V1


def _combined() -> dict[str, Any]:
    return {
        **fixture("scheduler_cli_describe_schedules.json"),
        **fixture("scheduler_cli_describe_periods.json"),
    }


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda: from_instance_scheduler(
                fixture_text("scheduler_cli_describe_schedules.json"),
                fixture_text("scheduler_cli_describe_periods.json").encode("utf-16"),
            ),
            id="two-args-raw-text-and-utf16-bytes",
        ),
        pytest.param(lambda: from_instance_scheduler(_combined()), id="combined-dict"),
        pytest.param(lambda: load_import_file(_combined()), id="load-combined-dict"),
        pytest.param(
            lambda: load_import_file(
                [fixture("scheduler_cli_describe_periods.json"), fixture("scheduler_cli_describe_schedules.json")]
            ),
            id="load-list-of-two-documents",
        ),
        pytest.param(
            lambda: load_import_file("\ufeff" + json.dumps(_combined(), indent=3)),
            id="load-json-text-with-bom",
        ),
    ],
)
def test_input_shapes_give_same_result(call) -> None:
    specs, errors = call()
    assert specs == EXPECTED_V3
    assert [e.entry for e in errors] == EXPECTED_V3_ERROR_ENTRIES


def test_describe_single_schedule_and_create_output_shapes() -> None:
    # describe-schedules --name X prints {"Schedules": [one]}; create-schedule
    # prints {"Schedule": {...}} and create-period {"Period": {...}}.
    periods = {"Period": {"Type": "period", "Name": "p", "Begintime": "08:00"}}
    specs, errors = from_instance_scheduler(
        {"Schedule": {"Type": "schedule", "Name": "one", "Periods": ["p"], "Timezone": "UTC"}}, periods
    )
    assert errors == []
    assert specs == [spec("one", [period("08:00")])]


# ---------------------------------------------------------------- field mapping


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"Enforced": True, "RetainRunning": True, "StopNewInstances": False}, (True, True, False)),
        ({"Enforced": "true", "RetainRunning": "True", "StopNewInstances": "FALSE"}, (True, True, False)),
        ({"Enforced": "false", "RetainRunning": " false ", "StopNewInstances": "true"}, (False, False, True)),
        ({}, (False, False, True)),  # Instance Scheduler defaults
        ({"Enforced": None, "RetainRunning": None, "StopNewInstances": None}, (False, False, True)),
        ({"enforced": "true", "retain_running": True, "stop_new_instances": False}, (True, True, False)),
    ],
)
def test_booleans_including_strings(raw: dict[str, Any], expected: tuple[bool, bool, bool]) -> None:
    specs, errors = convert_one(raw)
    assert errors == []
    got = specs[0]
    assert (got["enforced"], got["retain_running"], got["stop_new_instances"]) == expected


@pytest.mark.parametrize("bad", ["yes", 1, "on", []])
def test_invalid_boolean_is_an_error_naming_the_field(bad: Any) -> None:
    specs, errors = convert_one({"Enforced": bad})
    assert specs == []
    assert len(errors) == 1
    assert errors[0].entry == "s"
    assert "Enforced" in errors[0].message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, "UTC"),  # absent -> UTC
        ({"Timezone": None}, "UTC"),
        ({"Timezone": ""}, "UTC"),
        ({"Timezone": "Europe/Berlin"}, "Europe/Berlin"),
        ({"Timezone": "europe/berlin"}, "Europe/Berlin"),  # v1 matched case-insensitively
        ({"Timezone": "US/Eastern"}, "US/Eastern"),
        ({"Timezone": "Asia/Tokyo "}, "Asia/Tokyo"),
    ],
)
def test_timezone(raw: dict[str, Any], expected: str) -> None:
    specs, errors = convert_one(raw)
    assert errors == []
    assert specs[0]["timezone"] == expected


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "localtime", "Europe/../UTC", 5])
def test_bad_timezone_is_an_error(bad: Any) -> None:
    specs, errors = convert_one({"Timezone": bad})
    assert specs == []
    assert [e.entry for e in errors] == ["s"]
    assert "zone" in errors[0].message.lower()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, None),
        ({"OverrideStatus": "running"}, "running"),
        ({"OverrideStatus": "stopped"}, "stopped"),
        ({"OverrideStatus": "Running"}, "running"),
        ({"OverrideStatus": "STOPPED"}, "stopped"),
        ({"OverrideStatus": "stopped", "Periods": []}, "stopped"),
        ({"Overwrite": True}, "running"),  # v1 legacy flag
        ({"Overwrite": False}, "stopped"),
        ({"Overwrite": "true"}, "running"),
    ],
)
def test_override_status_mapping(raw: dict[str, Any], expected: str | None) -> None:
    specs, errors = convert_one(raw)
    assert errors == []
    assert specs[0]["override_status"] == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"OverrideStatus": "paused"},
        {"OverrideStatus": True},
        {"OverrideStatus": "running", "Overwrite": True},  # mutually exclusive (v1)
    ],
)
def test_bad_override_status_is_an_error(raw: dict[str, Any]) -> None:
    specs, errors = convert_one(raw)
    assert specs == []
    assert [e.entry for e in errors] == ["s"]


@pytest.mark.parametrize(
    ("raw_period", "expected"),
    [
        ({"Weekdays": ["mon-fri"]}, period(weekdays="mon-fri")),
        ({"Weekdays": ["sat", "mon-wed"]}, period(weekdays="sat,mon-wed")),
        ({"Weekdays": "sat-sun"}, period(weekdays="sat-sun")),  # hand-edited S
        ({"Weekdays": "mon, wed ,fri"}, period(weekdays="mon,wed,fri")),
        ({"Weekdays": ["mon#1", "fri L"]}, period(weekdays="mon#1,fri L")),
        ({"Monthdays": [1, 15], "Months": ["jan-mar", "oct"]}, period(monthdays="1,15", months="jan-mar,oct")),
        ({"Begintime": "9:00", "Endtime": "17:30"}, period("09:00", "17:30")),
        ({"Endtime": "23:59", "Weekdays": []}, period(endtime="23:59")),
        ({"begin_time": "08:00", "week_days": ["mon"]}, period("08:00", weekdays="mon")),  # snake_case
        ({"Begintime": "08:00", "DayOfWeek": ["mon"]}, "DayOfWeek"),  # unknown field
        ({"Weekdays": ["mon"], "week_days": ["tue"]}, "given twice"),
    ],
)
def test_period_fields(raw_period: dict[str, Any], expected: dict[str, Any] | str) -> None:
    specs, errors = convert_one({}, [{"Type": "period", "Name": "office-hours", **raw_period}])
    if isinstance(expected, str):
        assert specs == []
        assert [e.entry for e in errors] == ["s"]
        assert expected in errors[0].message
    else:
        assert errors == []
        assert specs[0]["periods"] == [expected]


def test_periods_as_comma_string_and_names_kept() -> None:
    periods = [
        {"Name": "a", "Begintime": "08:00"},
        {"Name": "b", "Endtime": "18:00"},
    ]
    specs, errors = convert_one({"Name": "Mixed Case Name", "Periods": "a, b"}, periods)
    assert errors == []
    assert specs == [spec("Mixed Case Name", [period("08:00"), period(endtime="18:00")])]


def test_unknown_period_reference_is_one_error_and_others_still_convert() -> None:
    schedules = {
        "Schedules": [
            {"Type": "schedule", "Name": "good", "Periods": ["office-hours"]},
            {"Type": "schedule", "Name": "broken", "Periods": ["office-hours", "night-shift"]},
            {"Type": "schedule", "Name": "also-good", "Periods": ["office-hours"], "Timezone": "Asia/Tokyo"},
        ]
    }
    periods = {"Periods": [{"Type": "period", "Name": "office-hours", "Begintime": "09:00", "Endtime": "17:00", "Weekdays": ["mon-fri"]}]}
    specs, errors = from_instance_scheduler(schedules, periods)
    assert [s["name"] for s in specs] == ["good", "also-good"]
    assert specs[1]["timezone"] == "Asia/Tokyo"
    assert len(errors) == 1
    assert errors[0].entry == "broken"
    assert "night-shift" in errors[0].message
    assert "broken" in str(errors[0]) and "night-shift" in str(errors[0])


def test_period_references_without_periods_output() -> None:
    specs, errors = from_instance_scheduler(
        {"Schedules": [
            {"Name": "needs-periods", "Periods": ["office-hours"]},
            {"Name": "override-only", "OverrideStatus": "stopped"},
        ]}
    )
    assert specs == [spec("override-only", [], override_status="stopped")]
    assert [e.entry for e in errors] == ["needs-periods"]
    assert "describe-periods" in errors[0].message


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"Periods": ["office-hours@t3.large"]}, "t3.large"),
        ({"SsmMaintenanceWindow": ["patching"]}, "patching"),  # v3 list, UseMaintenanceWindow absent
        ({"SsmMaintenanceWindow": "patching", "UseMaintenanceWindow": "true"}, "patching"),  # v1 string
        ({"Hibernate": True}, "Hibernate"),
        ({"Hibernate": "True"}, "Hibernate"),
        ({"Periods": []}, "no periods"),
        ({"Periods": None}, "no periods"),
        ({"NewFeature": "x"}, "NewFeature"),
        ({"Type": "period"}, "Type"),
        ({"Description": 5}, "Description"),
    ],
)
def test_unsupported_features_are_errors(raw: dict[str, Any], needle: str) -> None:
    specs, errors = convert_one(raw)
    assert specs == []
    assert [e.entry for e in errors] == ["s"]
    assert needle in errors[0].message


@pytest.mark.parametrize(
    "raw",
    [
        {"SsmMaintenanceWindow": ["patching"], "UseMaintenanceWindow": False},  # windows inert
        {"UseMaintenanceWindow": True},  # RDS-only without SSM windows
        {"UseMetrics": True, "ConfiguredInStack": "arn:aws:cloudformation:...", "Hibernate": False},
        {"Metrics": "True"},
    ],
)
def test_ignored_fields(raw: dict[str, Any]) -> None:
    specs, errors = convert_one(raw)
    assert errors == []
    assert specs == [spec("s", [OFFICE_HOURS])]


@pytest.mark.parametrize(
    ("raw_period", "needle"),
    [
        ({"Description": "only a description"}, "none of"),
        ({"Begintime": 900}, "Begintime"),
        ({"Weekdays": [True]}, "Weekdays"),
        ({"Type": "schedule", "Begintime": "09:00"}, "Type"),
    ],
)
def test_bad_referenced_period_is_reported_on_the_schedule(raw_period: dict[str, Any], needle: str) -> None:
    specs, errors = convert_one({}, [{"Name": "office-hours", **raw_period}])
    assert specs == []
    assert [e.entry for e in errors] == ["s"]
    assert "office-hours" in errors[0].message and needle in errors[0].message


def test_unreferenced_bad_period_is_ignored_but_nameless_period_reported() -> None:
    periods = [
        {"Name": "office-hours", "Begintime": "09:00"},
        {"Name": "unused-and-broken", "Description": "nothing set"},
        {"Begintime": "10:00"},
    ]
    specs, errors = convert_one({}, periods)
    assert specs == [spec("s", [period("09:00")])]
    assert [e.entry for e in errors] == ["Periods[2]"]


def test_conflicting_duplicate_period_definitions() -> None:
    periods = [
        {"Name": "office-hours", "Begintime": "09:00"},
        {"Name": "office-hours", "Begintime": "10:00"},
    ]
    specs, errors = convert_one({}, periods)
    assert specs == []
    assert "more than once" in errors[0].message


def test_identical_duplicate_period_is_harmless() -> None:
    periods = [{"Name": "office-hours", "Begintime": "09:00"}] * 2
    specs, errors = convert_one({}, periods)
    assert errors == []
    assert specs == [spec("s", [period("09:00")])]


def test_duplicate_and_nameless_schedules() -> None:
    specs, errors = from_instance_scheduler(
        {"Schedules": [
            {"Name": "a", "OverrideStatus": "running"},
            {"Name": "a", "OverrideStatus": "stopped"},
            {"Periods": ["x"]},
            "not-an-object",
        ]}
    )
    assert specs == [spec("a", [], override_status="running")]
    assert [e.entry for e in errors] == ["a", 2, 3]


def test_shared_period_dicts_are_independent() -> None:
    specs, _ = from_instance_scheduler(
        fixture("scheduler_cli_describe_schedules.json"),
        fixture("scheduler_cli_describe_periods.json"),
    )
    specs[0]["periods"][0]["begintime"] = "00:00"
    assert specs[1]["periods"][0]["begintime"] == "09:00"


def test_empty_schedules_output() -> None:
    assert from_instance_scheduler({"Schedules": []}, {"Periods": []}) == ([], [])


# ---------------------------------------------------------------- Parkway format


def test_parkway_format_round_trips() -> None:
    original = copy.deepcopy(EXPECTED_V3)
    specs, errors = load_import_file(original)
    assert errors == []
    assert specs == EXPECTED_V3
    # ... and through JSON text, as an uploaded file would arrive.
    assert load_import_file(json.dumps(EXPECTED_V3)) == (EXPECTED_V3, [])
    assert original == EXPECTED_V3  # input not mutated


def test_instance_scheduler_output_is_valid_parkway_input() -> None:
    specs, _ = from_instance_scheduler(_combined())
    assert load_import_file(json.dumps(specs)) == (specs, [])


def test_parkway_defaults_for_omitted_optional_fields() -> None:
    specs, errors = load_import_file([{"name": "minimal", "periods": [{"weekdays": "mon-fri"}]}])
    assert errors == []
    assert specs == [spec("minimal", [period(weekdays="mon-fri")])]


@pytest.mark.parametrize(
    ("entry", "expected_entry", "needle"),
    [
        ("not-an-object", 1, "name"),
        ({"periods": []}, 1, "name"),
        ({"name": "  ", "periods": []}, 1, "name"),
        ({"name": "x", "periods": "mon-fri"}, "x", "periods must be a list"),
        ({"name": "x"}, "x", "periods must be a list"),
        ({"name": "x", "periods": []}, "x", "at least one period"),
        ({"name": "x", "periods": [{}]}, "x", "at least one of"),
        ({"name": "x", "periods": [{"begintime": 9}]}, "x", "begintime"),
        ({"name": "x", "periods": [{"begintime": "09:00", "day": "mon"}]}, "x", "day"),
        ({"name": "x", "periods": ["09:00-17:00"]}, "x", "periods[0]"),
        ({"name": "x", "periods": [{"weekdays": "mon"}], "enforced": "true"}, "x", "enforced"),
        ({"name": "x", "periods": [{"weekdays": "mon"}], "override_status": "paused"}, "x", "override_status"),
        ({"name": "x", "periods": [{"weekdays": "mon"}], "timezone": "Mars/Base"}, "x", "time zone"),
        ({"name": "x", "periods": [{"weekdays": "mon"}], "timezon": "UTC"}, "x", "timezon"),
        ({"name": "good", "periods": [{"weekdays": "mon"}]}, "good", "duplicate"),
    ],
)
def test_parkway_structural_errors(entry: Any, expected_entry: Any, needle: str) -> None:
    good = spec("good", [period(weekdays="mon")])
    specs, errors = load_import_file([good, entry])
    assert specs == [good]
    assert len(errors) == 1
    assert errors[0].entry == expected_entry
    assert needle in errors[0].message


def test_parkway_override_only_and_normalisation() -> None:
    specs, errors = load_import_file(
        [{"name": "x", "periods": [], "override_status": "Running", "timezone": "europe/berlin"}]
    )
    assert errors == []
    assert specs == [spec("x", [], override_status="running", timezone="Europe/Berlin")]


# ---------------------------------------------------------------- format detection


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "parkway"),
        ([{"name": "x", "periods": []}], "parkway"),
        (["garbage"], "parkway"),  # reported per entry by load_import_file
        ({"Schedules": []}, "instance_scheduler"),
        ({"Schedules": [], "Periods": []}, "instance_scheduler"),
        ({"Periods": []}, "instance_scheduler"),
        ({"Schedule": {}}, "instance_scheduler"),
        ([{"Schedules": []}, {"Periods": []}], "instance_scheduler"),
    ],
)
def test_detect_format(data: Any, expected: str) -> None:
    assert detect_format(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        42,
        "a string",
        None,
        {},
        {"foo": []},
        {"name": "x", "periods": []},  # a single spec, not a list
        {"Schedules": [], "Extra": 1},
        {"Error": "not found: schedule x does not exist"},
        [{"Schedules": []}, {"name": "x"}],  # mixed
    ],
)
def test_detect_format_rejects_unknown_shapes(data: Any) -> None:
    with pytest.raises(ScheduleImportError) as info:
        detect_format(data)
    assert info.value.entry is None


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: load_import_file("{not json"), id="invalid-json"),
        pytest.param(lambda: load_import_file(b"\xff\xfe\x00"), id="undecodable-bytes"),
        pytest.param(lambda: load_import_file({"Periods": []}), id="periods-only"),
        pytest.param(lambda: load_import_file({"Schedules": {"Name": "x"}}), id="schedules-not-list"),
        pytest.param(lambda: from_instance_scheduler([{"Name": "x"}]), id="bare-schedule-list"),
        pytest.param(lambda: from_instance_scheduler({"Schedules": []}, {"Error": "boom"}), id="error-doc"),
        pytest.param(lambda: from_instance_scheduler({"Schedules": []}, [1, 2]), id="periods-garbage"),
    ],
)
def test_unreadable_input_raises(call) -> None:
    with pytest.raises(ScheduleImportError):
        call()


def test_error_type() -> None:
    err = ScheduleImportError("office", "period 'x' is not defined")
    assert isinstance(err, ValueError)
    assert (err.entry, err.message) == ("office", "period 'x' is not defined")
    assert str(err) == "office: period 'x' is not defined"
    assert str(ScheduleImportError(None, "bad file")) == "bad file"
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.entry, clone.message, str(clone)) == (err.entry, err.message, str(err))
