"""Checks of Parkway's own import format: a JSON list of schedule specs."""

from __future__ import annotations

from typing import Any, Final

from .common import (
    convert_named,
    _OVERRIDE_VALUES,
    _PERIOD_FIELDS,
    DEFAULT_TIMEZONE,
    PeriodSpec,
    ScheduleImportError,
    ScheduleSpec,
    _canonical_timezone,
)

_SPEC_KEYS: Final = frozenset(
    {
        "name",
        "description",
        "timezone",
        "enforced",
        "retain_running",
        "stop_new_instances",
        "override_status",
        "periods",
        "asg_mode",
    }
)
_ASG_MODES: Final = ("scale", "suspend")
_SPEC_BOOL_DEFAULTS: Final = {
    "enforced": False,
    "retain_running": False,
    "stop_new_instances": True,
}


def _check_period_spec(raw: Any, position: int, problems: list[str]) -> PeriodSpec | None:
    label = f"periods[{position}]"
    if not isinstance(raw, dict):
        problems.append(f"{label} must be an object")
        return None
    unknown = sorted(str(k) for k in raw if k not in _PERIOD_FIELDS)
    if unknown:
        problems.append(f"{label} has unknown field(s) {', '.join(unknown)}")

    def text(field: str) -> str | None:
        value = raw.get(field)
        if isinstance(value, str):
            return value.strip() or None
        if value is not None:
            problems.append(f"{label}.{field} must be a string or null, got {value!r}")
        return None

    spec: PeriodSpec = {
        "begintime": text("begintime"),
        "endtime": text("endtime"),
        "weekdays": text("weekdays"),
        "monthdays": text("monthdays"),
        "months": text("months"),
    }
    if not any(spec.values()):
        problems.append(f"{label} must set at least one of {', '.join(_PERIOD_FIELDS)}")
    return spec


def _check_spec(raw: dict[str, Any], name: str) -> ScheduleSpec | ScheduleImportError:
    problems: list[str] = []

    unknown = sorted(str(k) for k in raw if k not in _SPEC_KEYS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}")

    description = raw.get("description")
    if description is None:
        description = ""
    elif not isinstance(description, str):
        problems.append("description must be a string")
        description = ""

    timezone: str | None = DEFAULT_TIMEZONE
    tz_value = raw.get("timezone")
    if tz_value is not None:
        timezone = _canonical_timezone(tz_value) if isinstance(tz_value, str) else None
        if timezone is None:
            problems.append(f"unknown time zone {tz_value!r}")

    flags: dict[str, bool] = {}
    for key, default in _SPEC_BOOL_DEFAULTS.items():
        value = raw.get(key, default)
        if not isinstance(value, bool):
            problems.append(f"{key} must be true or false, got {value!r}")
            value = default
        flags[key] = value

    override: str | None = None
    override_value = raw.get("override_status")
    if override_value is not None:
        if isinstance(override_value, str) and override_value.strip().lower() in _OVERRIDE_VALUES:
            override = override_value.strip().lower()
        else:
            problems.append(
                f"override_status must be null, 'running' or 'stopped', got {override_value!r}"
            )

    periods_raw = raw.get("periods")
    periods: list[PeriodSpec] = []
    if not isinstance(periods_raw, list):
        problems.append("periods must be a list")
    else:
        for position, period in enumerate(periods_raw):
            spec = _check_period_spec(period, position, problems)
            if spec is not None:
                periods.append(spec)
        if not periods_raw and override_value is None:
            problems.append("needs at least one period unless override_status is set")

    asg_mode = raw.get("asg_mode", "scale")
    if asg_mode not in _ASG_MODES:
        problems.append(f"asg_mode must be one of {', '.join(_ASG_MODES)}, got {asg_mode!r}")
    if problems or timezone is None:
        return ScheduleImportError(name, "; ".join(problems))
    extra: dict[str, Any] = {"asg_mode": asg_mode} if asg_mode != "scale" else {}
    return {
        "name": name,
        "description": description,
        "timezone": timezone,
        "enforced": flags["enforced"],
        "retain_running": flags["retain_running"],
        "stop_new_instances": flags["stop_new_instances"],
        "override_status": override,
        "periods": periods,
        **extra,  # type: ignore[typeddict-item]
    }


def _load_parkway(data: list[Any]) -> tuple[list[ScheduleSpec], list[ScheduleImportError]]:
    def name_of(raw: Any) -> str | None:
        name = raw.get("name") if isinstance(raw, dict) else None
        return name if isinstance(name, str) and name.strip() else None

    return convert_named(
        data, name_of=name_of, missing='each schedule must be an object with a non-empty "name"', convert=_check_spec
    )

