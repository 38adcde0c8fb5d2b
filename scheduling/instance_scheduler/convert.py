"""Instance Scheduler CLI output -> Parkway schedule specs.

The input format and the policy for what Parkway cannot express are
documented in the package docstring (scheduling/instance_scheduler/__init__.py).
"""

from __future__ import annotations

import re
from typing import Any, Final

from .common import (
    convert_named,
    _OVERRIDE_VALUES,
    _PERIOD_FIELDS,
    DEFAULT_TIMEZONE,
    Entry,
    PeriodSpec,
    ScheduleImportError,
    ScheduleSpec,
    _canonical_timezone,
    _error_document_message,
    _is_cli_document,
    _norm_key,
    _parse_json_text,
)

_SHORT_TIME_RE: Final = re.compile(r"^(\d):(\d\d)$")


class _Fields:
    """Case/underscore-insensitive view of one Instance Scheduler entry."""

    def __init__(self, raw: dict[str, Any], problems: list[str]) -> None:
        self.by_norm: dict[str, tuple[str, Any]] = {}
        for key, value in raw.items():
            norm = _norm_key(str(key))
            if norm in self.by_norm:
                problems.append(
                    f"field {key!r} is given twice (also as {self.by_norm[norm][0]!r})"
                )
            self.by_norm[norm] = (str(key), value)

    def get(self, norm: str) -> Any:
        # JSON null is treated as absent: v3 strips None values anyway.
        return self.by_norm.get(norm, (norm, None))[1]

    def label(self, norm: str) -> str:
        return self.by_norm.get(norm, (norm, None))[0]

    def unknown(self, known: frozenset[str]) -> list[str]:
        return sorted(orig for norm, (orig, _) in self.by_norm.items() if norm not in known)


_SCHEDULE_KEYS: Final = frozenset(
    {
        "type",
        "name",
        "periods",
        "timezone",
        "description",
        "overridestatus",
        "overwrite",  # v1 legacy
        "stopnewinstances",
        "enforced",
        "retainrunning",
        "hibernate",
        "usemaintenancewindow",
        "ssmmaintenancewindow",
        "usemetrics",  # v1: CloudWatch metrics only
        "metrics",  # CloudFormation property name of the same thing
        "configuredinstack",
    }
)
_PERIOD_KEYS: Final = frozenset(
    {"type", "name", "description", "configuredinstack", *_PERIOD_FIELDS}
)


def _bool_field(fields: _Fields, norm: str, problems: list[str]) -> bool | None:
    """Booleans are JSON booleans in v3 output but may be strings in v1 data."""
    value = fields.get(norm)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append(f"{fields.label(norm)} must be true or false, got {value!r}")
    return None


def _tokens(value: Any, label: str, problems: list[str]) -> list[str]:
    """Items of a set-valued field: JSON list (set) or comma-separated string."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    tokens: list[str] = []
    for item in items:
        if isinstance(item, bool):
            problems.append(f"{label} contains {item!r}, expected text")
        elif isinstance(item, int) or (isinstance(item, float) and item.is_integer()):
            # Numeric sets (DynamoDB NS, Decimal -> float in v3's encoder).
            tokens.append(str(int(item)))
        elif isinstance(item, str):
            tokens.extend(part.strip() for part in item.split(",") if part.strip())
        else:
            problems.append(f"{label} contains {item!r}, expected text")
    return tokens


def _time_field(fields: _Fields, norm: str, problems: list[str]) -> str | None:
    value = fields.get(norm)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{fields.label(norm)} must be a time string, got {value!r}")
        return None
    value = value.strip()
    if not value:
        return None
    # Instance Scheduler accepts "H:MM" (strptime %H:%M); pad so Parkway always
    # stores "HH:MM". Anything else is passed through for the validator.
    return _SHORT_TIME_RE.sub(r"0\1:\2", value)


def _convert_period(raw: dict[str, Any]) -> tuple[PeriodSpec | None, list[str]]:
    problems: list[str] = []
    fields = _Fields(raw, problems)
    kind = fields.get("type")
    if kind is not None and str(kind).lower() != "period":
        problems.append(f"Type is {kind!r}, expected 'period'")
    unknown = fields.unknown(_PERIOD_KEYS)
    if unknown:
        problems.append(f"unsupported field(s) {', '.join(unknown)}")

    def joined(norm: str) -> str | None:
        # v3 prints sets as lists in arbitrary order; keep the order we got.
        return ",".join(_tokens(fields.get(norm), fields.label(norm), problems)) or None

    spec: PeriodSpec = {
        "begintime": _time_field(fields, "begintime", problems),
        "endtime": _time_field(fields, "endtime", problems),
        "weekdays": joined("weekdays"),
        "monthdays": joined("monthdays"),
        "months": joined("months"),
    }
    if not problems and not any(spec.values()):
        problems.append("none of Begintime, Endtime, Weekdays, Monthdays, Months is set")
    return (None if problems else spec), problems


class _PeriodCatalog:
    """Periods from describe-periods, converted lazily and only when referenced."""

    def __init__(self, supplied: bool) -> None:
        self.supplied = supplied
        self.raw: dict[str, dict[str, Any]] = {}
        self.ambiguous: set[str] = set()
        self._converted: dict[str, tuple[PeriodSpec | None, list[str]]] = {}

    def add(self, name: str, raw: dict[str, Any]) -> None:
        previous = self.raw.get(name)
        if previous is not None and previous != raw:
            # The same period pasted twice is harmless; two different
            # definitions under one name cannot be resolved safely.
            self.ambiguous.add(name)
        self.raw.setdefault(name, raw)

    def resolve(self, name: str) -> tuple[PeriodSpec | None, list[str]]:
        if name in self.ambiguous:
            return None, [f"period {name!r} is defined more than once with different contents"]
        raw = self.raw.get(name)
        if raw is None:
            if not self.supplied:
                return None, [
                    f"period {name!r} cannot be resolved: no describe-periods output was supplied"
                ]
            return None, [f"period {name!r} is not defined in the describe-periods output"]
        if name not in self._converted:
            self._converted[name] = _convert_period(raw)
        spec, problems = self._converted[name]
        # Copy so two schedules sharing a period never share one dict.
        copy: PeriodSpec | None = PeriodSpec(**spec) if spec is not None else None
        return copy, [f"period {name!r}: {problem}" for problem in problems]


def _convert_schedule(
    raw: dict[str, Any], entry: Entry, catalog: _PeriodCatalog
) -> ScheduleSpec | ScheduleImportError:
    problems: list[str] = []
    fields = _Fields(raw, problems)
    name = fields.get("name")

    kind = fields.get("type")
    if kind is not None and str(kind).lower() != "schedule":
        problems.append(f"Type is {kind!r}, expected 'schedule'")
    unknown = fields.unknown(_SCHEDULE_KEYS)
    if unknown:
        problems.append(
            f"unsupported field(s) {', '.join(unknown)}: Parkway cannot carry them over"
        )

    description = fields.get("description")
    if description is None:
        description = ""
    elif not isinstance(description, str):
        problems.append(f"Description must be text, got {description!r}")
        description = ""

    timezone = DEFAULT_TIMEZONE
    tz_value = fields.get("timezone")
    if isinstance(tz_value, str) and tz_value.strip():
        canonical = _canonical_timezone(tz_value)
        if canonical is None:
            problems.append(f"unknown time zone {tz_value!r}")
        else:
            timezone = canonical
    elif tz_value is not None and not isinstance(tz_value, str):
        problems.append(f"Timezone must be text, got {tz_value!r}")

    override_status: str | None = None
    override_value = fields.get("overridestatus")
    if override_value is not None:
        if isinstance(override_value, str) and override_value.strip().lower() in _OVERRIDE_VALUES:
            override_status = override_value.strip().lower()
        else:
            problems.append(
                f"OverrideStatus must be 'running' or 'stopped', got {override_value!r}"
            )
    overwrite = _bool_field(fields, "overwrite", problems)
    if overwrite is not None:
        if override_value is not None:
            # Same rule as v1 scheduler_config_builder (mutually exclusive).
            problems.append("Overwrite and OverrideStatus are mutually exclusive")
        else:
            override_status = "running" if overwrite else "stopped"

    # Defaults are Instance Scheduler's own (schedule_definition.py
    # to_instance_schedule / v1 scheduler_config_builder): stop new instances
    # unless told otherwise; enforced and retain_running off.
    stop_new = _bool_field(fields, "stopnewinstances", problems)
    enforced = _bool_field(fields, "enforced", problems)
    retain_running = _bool_field(fields, "retainrunning", problems)

    if _bool_field(fields, "hibernate", problems):
        problems.append("Hibernate is enabled; Parkway stops instances and cannot hibernate them")

    ssm_windows = _tokens(
        fields.get("ssmmaintenancewindow"), fields.label("ssmmaintenancewindow"), problems
    )
    use_window = _bool_field(fields, "usemaintenancewindow", problems)
    if ssm_windows and use_window is not False:
        problems.append(
            f"uses SSM maintenance window(s) {', '.join(ssm_windows)}; "
            "Parkway cannot start instances for maintenance windows"
        )

    periods: list[PeriodSpec] = []
    period_refs = _tokens(fields.get("periods"), fields.label("periods"), problems)
    for ref in period_refs:
        # "name@type" = resize to that instance type during the period.
        # v3 PeriodIdentifier splits on the first "@".
        period_name, sep, instance_type = ref.partition("@")
        period_name = period_name.strip()
        spec, period_problems = catalog.resolve(period_name)
        problems.extend(period_problems)
        if sep:
            problems.append(
                f"period reference {ref!r} resizes instances to {instance_type.strip() or '?'}; "
                "Parkway does not change instance types"
            )
        if spec is not None:
            periods.append(spec)

    if not period_refs and override_status is None:
        problems.append("has no periods and no OverrideStatus")

    if problems:
        return ScheduleImportError(entry, "; ".join(problems))
    return {
        "name": name,
        "description": description,
        "timezone": timezone,
        "enforced": bool(enforced),
        "retain_running": bool(retain_running),
        "stop_new_instances": True if stop_new is None else stop_new,
        "override_status": override_status,
        "periods": periods,
    }


def _cli_documents(value: Any, role: str) -> list[dict[str, Any]]:
    """Normalise one argument to a list of CLI output documents."""
    value = _parse_json_text(value)
    candidates = value if isinstance(value, list) else [value]
    documents: list[dict[str, Any]] = []
    for document in candidates:
        error = _error_document_message(document)
        if error is not None:
            raise ScheduleImportError(
                None, f"the {role} holds an Instance Scheduler error response: {error}"
            )
        if not _is_cli_document(document):
            raise ScheduleImportError(
                None,
                f"the {role} is not scheduler-cli output: expected an object with "
                '"Schedules" and/or "Periods" lists',
            )
        documents.append(document)
    return documents


def _entries(document: dict[str, Any], plural: str, singular: str) -> list[Any] | None:
    if plural in document:
        entries = document[plural]
        if not isinstance(entries, list):
            raise ScheduleImportError(None, f'"{plural}" must be a JSON list')
        return entries
    if singular in document:
        entry = document[singular]
        if not isinstance(entry, dict):
            raise ScheduleImportError(None, f'"{singular}" must be a JSON object')
        return [entry]
    return None


def _entry_name(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    for key, value in raw.items():
        if _norm_key(str(key)) == "name" and isinstance(value, str) and value.strip():
            return value
    return None


def from_instance_scheduler(
    schedules_json: Any, periods_json: Any = None
) -> tuple[list[ScheduleSpec], list[ScheduleImportError]]:
    """Convert ``scheduler-cli describe-schedules`` (+ ``describe-periods``) output.

    ``schedules_json`` may be the describe-schedules document, a combined
    ``{"Schedules": [...], "Periods": [...]}`` document, or a list of
    documents; ``periods_json`` the describe-periods document (it is needed to
    resolve the period names that schedules reference).  Both may also be the
    raw JSON text/bytes.

    Returns ``(specs, errors)``: one spec per convertible schedule, one
    ScheduleImportError per schedule (or nameless period entry) that cannot be
    converted.  Raises ScheduleImportError when the input is not CLI output.
    """
    documents = _cli_documents(schedules_json, "schedules file")
    if periods_json is not None:
        documents += _cli_documents(periods_json, "periods file")

    schedules: list[Any] | None = None
    periods: list[Any] | None = None
    for document in documents:
        found = _entries(document, "Schedules", "Schedule")
        if found is not None:
            schedules = (schedules or []) + found
        found = _entries(document, "Periods", "Period")
        if found is not None:
            periods = (periods or []) + found
    if schedules is None:
        raise ScheduleImportError(
            None,
            "no schedules found: include the output of 'scheduler-cli describe-schedules'",
        )

    errors: list[ScheduleImportError] = []
    catalog = _PeriodCatalog(supplied=periods is not None)
    for index, raw in enumerate(periods or []):
        name = _entry_name(raw)
        if name is None:
            errors.append(
                ScheduleImportError(f"Periods[{index}]", "period entry has no Name")
            )
            continue
        catalog.add(name, raw)

    specs, schedule_errors = convert_named(
        schedules,
        name_of=_entry_name,
        missing="schedule entry must be an object with a Name",
        convert=lambda raw, name: _convert_schedule(raw, name, catalog),
    )
    return specs, errors + schedule_errors

