"""Import schedules exported from AWS Instance Scheduler ("instance-scheduler-on-aws").

Customers leaving Instance Scheduler export their configuration with the
solution's own CLI::

    scheduler-cli describe-schedules --stack <stack> > schedules.json
    scheduler-cli describe-periods   --stack <stack> > periods.json

and upload those two files (or one file combining them) to Parkway.  This module
turns that output into Parkway's schedule spec JSON.  It is pure Python (stdlib
only, no Django) so that it can be unit-tested in isolation and reused by views,
management commands and tasks alike.

Where the input format comes from
---------------------------------
All paths are in github.com/aws-solutions/instance-scheduler-on-aws (the older
awslabs/aws-instance-scheduler repository was renamed to it; its v1.x code
lives in the same history).

* The CLI does no formatting of its own: it invokes the solution's Lambda and
  prints the response with ``print(json.dumps(result, indent=3))`` (or, when the
  response is ``{"Error": ...}``, prints only the capitalised error text and
  exits 1).  ``source/cli/instance_scheduler_cli/scheduler_cli.py`` (v3) and
  ``source/cli/scheduler_cli/scheduler_cli.py`` (v1.x).
* v3.x: ``source/app/instance_scheduler/handler/cli/cli_request_handler.py``
  (``describe_schedules_command`` / ``describe_periods_command``) returns
  ``{"schedules": [{"type": "schedule", **asdict(ScheduleDefinition)}]}`` and
  ``{"periods": [{"type": "period", **asdict(PeriodDefinition)}]}`` with
  ``None`` values stripped, then converts every key snake_case -> PascalCase
  (``dict_to_pascal_case``): "stop_new_instances" -> "StopNewInstances",
  "begintime" -> "Begintime".  Sets are serialised as JSON lists in arbitrary
  order (``util/custom_encoder.py``); booleans are real JSON booleans.
  Field sets: ``model/schedule_definition.py`` (Name, Periods, Timezone,
  Description, OverrideStatus, StopNewInstances, SsmMaintenanceWindow (list),
  UseMaintenanceWindow, Enforced, Hibernate, RetainRunning, ConfiguredInStack)
  and ``model/period_definition.py`` (Name, Begintime, Endtime, Weekdays,
  Months, Monthdays (lists), Description, ConfiguredInStack).
  ``describe-schedules --name X`` prints the same ``{"Schedules": [...]}`` shape.
* v1.x: ``source/app/instance_scheduler/handler/cli.py`` +
  ``configuration/config_admin.py`` (``list_schedules`` / ``list_periods``)
  return the raw DynamoDB items, PascalCased the same way, so the shape is
  identical but extra fields appear: "UseMetrics" (CloudWatch metrics) and the
  legacy "Overwrite" boolean (true = always running, false = always stopped;
  ``configuration/scheduler_config_builder.py``), "SsmMaintenanceWindow" is a
  single string, and items that were hand-edited in the DynamoDB console (which
  the v1 implementation guide told users to do) may hold booleans as strings
  ("true"/"False") and sets as plain or comma-separated strings.  v1 matched
  time zone names case-insensitively (pytz).
* Period references inside a schedule may be written "period@instancetype"
  (``model/period_identifier.py``; v1: ``configuration.INSTANCE_TYPE_SEP``),
  meaning "resize the instance to that type while this period runs".
* A schedule without a time zone uses the stack's DEFAULT_TIMEZONE, which is
  "UTC" unless changed (``ScheduleDefinition.build_timezone``).  We cannot see
  the stack setting, so we use "UTC".
* Documented example outputs: docs.aws.amazon.com/solutions/latest/
  instance-scheduler-on-aws/scheduler-cli-4.html (describe-periods /
  describe-schedules examples).

Policy for what Parkway cannot express
--------------------------------------
Each Instance Scheduler schedule becomes either one spec or one
``ScheduleImportError`` (all problems of that schedule joined into one message),
never a partially converted spec: silently dropping a behaviour (e.g. resizing
or a maintenance window) would make instances run at different times than the
customer expects.  Errors are reported for: unknown period references,
"period@type" resizing, SSM maintenance windows (unless UseMaintenanceWindow is
explicitly false, in which case the windows are inert), Hibernate=true, unknown
time zones, non-boolean booleans, invalid override status, unknown fields
(they may be a feature we would silently drop), and schedules with neither
periods nor an override.  Fields that do not change when instances run are
ignored: Type, UseMetrics/Metrics (CloudWatch metrics), ConfiguredInStack
(CloudFormation provenance), period Description, and UseMaintenanceWindow
without SSM windows (it only affects RDS preferred maintenance windows, and
Parkway schedules EC2 only).  Periods that no schedule references are not
imported and therefore not validated.

Cron-like period fields (weekdays, monthdays, months, begin/end times) are
carried across verbatim apart from token whitespace, list joining with "," and
zero-padding "H:MM" times to "HH:MM"; validating them is another module's job.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from functools import lru_cache
from typing import Any, Final, Literal, TypedDict

__all__ = [
    "PeriodSpec",
    "ScheduleSpec",
    "ScheduleImportError",
    "ImportFormat",
    "detect_format",
    "from_instance_scheduler",
    "load_import_file",
]


class PeriodSpec(TypedDict):
    begintime: str | None
    endtime: str | None
    weekdays: str | None
    monthdays: str | None
    months: str | None


class ScheduleSpec(TypedDict):
    name: str
    description: str
    timezone: str
    enforced: bool
    retain_running: bool
    stop_new_instances: bool
    override_status: str | None
    periods: list[PeriodSpec]


ImportFormat = Literal["parkway", "instance_scheduler"]

Entry = str | int | None


class ScheduleImportError(ValueError):
    """One entry (or the whole document, entry=None) that cannot be imported.

    ``entry`` is the schedule name when known, otherwise the position of the
    schedule in its list (int), or a label such as "Periods[3]" for a nameless
    period entry.
    """

    def __init__(self, entry: Entry, message: str) -> None:
        # Keep both values in args so the exception pickles/copies cleanly
        # (task queues pickle exceptions).
        super().__init__(entry, message)
        self.entry: Entry = entry
        self.message: str = message

    def __str__(self) -> str:
        if self.entry is None:
            return self.message
        return f"{self.entry}: {self.message}"

    def __repr__(self) -> str:
        return f"ScheduleImportError(entry={self.entry!r}, message={self.message!r})"


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------

DEFAULT_TIMEZONE: Final = "UTC"
_OVERRIDE_VALUES: Final = ("running", "stopped")
_PERIOD_FIELDS: Final = ("begintime", "endtime", "weekdays", "monthdays", "months")

# Top-level keys the CLI prints: "Schedules"/"Periods" from describe-*,
# "Schedule"/"Period" (a single object) from create-*/update-*.
_CLI_TOP_KEYS: Final = frozenset({"Schedules", "Periods", "Schedule", "Period"})

# Zone files present in the tz database that are not real zones (or depend on
# the server's configuration) and must not be accepted.
_EXCLUDED_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})

_SHORT_TIME_RE: Final = re.compile(r"^(\d):(\d\d)$")


@lru_cache(maxsize=1)
def _timezones() -> tuple[frozenset[str], dict[str, str]]:
    names = frozenset(zoneinfo.available_timezones()) - _EXCLUDED_ZONES
    return names, {name.lower(): name for name in names}


def _canonical_timezone(value: str) -> str | None:
    """Return the IANA spelling of ``value`` or None if it is not a zone.

    Case-insensitive because Instance Scheduler v1 looked zones up through a
    lower-cased pytz table, so "europe/london" worked there.
    """
    names, lowered = _timezones()
    value = value.strip()
    if value in names:
        return value
    return lowered.get(value.lower())


def _parse_json_text(data: Any) -> Any:
    """Accept already-parsed JSON or the raw bytes/text of an uploaded file."""
    if isinstance(data, (bytes, bytearray)):
        text_or_bytes: str | bytes | bytearray = data
    elif isinstance(data, str):
        # A UTF-8 BOM is common when Windows users redirect CLI output to a
        # file; json.loads rejects it in str input.
        text_or_bytes = data.lstrip("\ufeff")
    else:
        return data
    try:
        # json.loads on bytes also detects UTF-16/32 (PowerShell redirection).
        return json.loads(text_or_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScheduleImportError(None, f"the file is not valid JSON: {exc}") from exc


def _norm_key(key: str) -> str:
    # "StopNewInstances", "stop_new_instances" and "stop-new-instances" are the
    # same field: the CLI prints PascalCase, DynamoDB items use snake_case.
    return key.replace("_", "").replace("-", "").lower()


def _is_cli_document(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= _CLI_TOP_KEYS


def _error_document_message(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Error"}:
        return str(value["Error"])
    return None


# --------------------------------------------------------------------------
# format detection
# --------------------------------------------------------------------------


def detect_format(data: Any) -> ImportFormat:
    """Tell Parkway's own import format from Instance Scheduler CLI output.

    * ``"parkway"``: a JSON list of schedule specs (objects).
    * ``"instance_scheduler"``: a ``describe-schedules`` / ``describe-periods``
      document, a combined ``{"Schedules": [...], "Periods": [...]}`` object,
      or a list of such documents (e.g. ``[schedules_output, periods_output]``).

    Raises ScheduleImportError for anything else.
    """
    if isinstance(data, dict):
        error = _error_document_message(data)
        if error is not None:
            raise ScheduleImportError(
                None,
                f"the file holds an Instance Scheduler error response, not a configuration: {error}",
            )
        if _is_cli_document(data):
            return "instance_scheduler"
        if "name" in data and "periods" in data:
            raise ScheduleImportError(
                None, "expected a JSON list of schedules; wrap the single schedule in [ ]"
            )
        raise ScheduleImportError(
            None,
            "unrecognised JSON object: expected the output of "
            "'scheduler-cli describe-schedules' (an object with a \"Schedules\" list) "
            f"but found keys {sorted(map(str, data))}",
        )
    if isinstance(data, list):
        documents = [_is_cli_document(item) for item in data]
        if data and all(documents):
            return "instance_scheduler"
        if any(documents):
            raise ScheduleImportError(
                None,
                "the list mixes Instance Scheduler CLI output with other entries; "
                "upload either Parkway schedules or scheduler-cli output",
            )
        return "parkway"
    raise ScheduleImportError(
        None, f"expected a JSON list or object, got {type(data).__name__}"
    )


# --------------------------------------------------------------------------
# Instance Scheduler -> Parkway
# --------------------------------------------------------------------------


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

    specs: list[ScheduleSpec] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(schedules):
        name = _entry_name(raw)
        if name is None:
            errors.append(
                ScheduleImportError(index, "schedule entry must be an object with a Name")
            )
            continue
        if name in seen:
            errors.append(
                ScheduleImportError(
                    name, f"duplicate schedule name (first defined at position {seen[name]})"
                )
            )
            continue
        seen[name] = index
        result = _convert_schedule(raw, name, catalog)
        if isinstance(result, ScheduleImportError):
            errors.append(result)
        else:
            specs.append(result)
    return specs, errors


# --------------------------------------------------------------------------
# Parkway's own format
# --------------------------------------------------------------------------

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
    }
)
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

    if problems or timezone is None:
        return ScheduleImportError(name, "; ".join(problems))
    return {
        "name": name,
        "description": description,
        "timezone": timezone,
        "enforced": flags["enforced"],
        "retain_running": flags["retain_running"],
        "stop_new_instances": flags["stop_new_instances"],
        "override_status": override,
        "periods": periods,
    }


def _load_parkway(data: list[Any]) -> tuple[list[ScheduleSpec], list[ScheduleImportError]]:
    specs: list[ScheduleSpec] = []
    errors: list[ScheduleImportError] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or not isinstance(name, str) or not name.strip():
            errors.append(
                ScheduleImportError(index, 'each schedule must be an object with a non-empty "name"')
            )
            continue
        if name in seen:
            errors.append(
                ScheduleImportError(
                    name, f"duplicate schedule name (first defined at position {seen[name]})"
                )
            )
            continue
        seen[name] = index
        result = _check_spec(raw, name)
        if isinstance(result, ScheduleImportError):
            errors.append(result)
        else:
            specs.append(result)
    return specs, errors


def load_import_file(data: Any) -> tuple[list[ScheduleSpec], list[ScheduleImportError]]:
    """Load an uploaded import file in either supported format.

    ``data`` is parsed JSON or the raw text/bytes of the file.  Accepts
    Parkway's list of specs, or Instance Scheduler CLI output (a
    describe-schedules document, a combined {"Schedules", "Periods"} object,
    or a list of documents such as [schedules_output, periods_output]).
    Returns ``(specs, errors)``; raises ScheduleImportError for unreadable
    or unrecognised files.
    """
    data = _parse_json_text(data)
    if detect_format(data) == "instance_scheduler":
        return from_instance_scheduler(data)
    return _load_parkway(data)
