"""Spec types, ScheduleImportError and helpers shared by both import formats."""

from __future__ import annotations

import json
import zoneinfo
from functools import lru_cache
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, TypedDict


class PeriodSpec(TypedDict):
    begintime: str | None
    endtime: str | None
    weekdays: str | None
    monthdays: str | None
    months: str | None


class ScheduleSpec(TypedDict, total=False):
    name: str
    description: str
    timezone: str
    enforced: bool
    retain_running: bool
    stop_new_instances: bool
    override_status: str | None
    periods: list[PeriodSpec]
    # Parkway's own (absent = "scale"): how Auto Scaling groups are parked.
    asg_mode: str


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
        _check_storable(data)
        return data
    try:
        # json.loads on bytes also detects UTF-16/32 (PowerShell redirection).
        parsed = json.loads(text_or_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScheduleImportError(None, f"the file is not valid JSON: {exc}") from exc
    except RecursionError:
        # json's decoder recurses once per level: "[[[[…" a few thousand deep exhausts the stack.
        raise ScheduleImportError(None, f"the JSON is nested too deeply (schedules need at most {MAX_NESTING} levels)") from None
    _check_storable(parsed)
    return parsed


# Schedules need 5 levels ({"Schedules": [{"Periods": [...]}]}); the rest of the
# code may recurse over what it is given, so deeper files are refused up front.
MAX_NESTING: Final = 32


def _check_storable(data: Any) -> None:
    """Refuse, before anything is converted, what no schedule can hold: nesting
    deeper than MAX_NESTING, and NUL characters ("\\u0000" in JSON), which
    PostgreSQL cannot store in text (SQLite would have kept them silently)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_NESTING:
            raise ScheduleImportError(None, f"the JSON is nested too deeply (schedules need at most {MAX_NESTING} levels)")
        if isinstance(value, str):
            if "\x00" in value:
                raise ScheduleImportError(
                    None, f"{where or 'the document'} contains a NUL character (\\u0000), which cannot be stored: remove it"
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                label = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and "\x00" in key:
                    raise ScheduleImportError(None, f"a key in {where or 'the document'} contains a NUL character (\\u0000): remove it")
                stack.append((item, depth + 1, label[:200]))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1, f"{where}[{index}]"[:200]) for index, item in enumerate(value))


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


def convert_named(
    entries: Iterable[Any],
    *,
    name_of: Callable[[Any], str | None],
    missing: str,
    convert: Callable[[Any, str], ScheduleSpec | ScheduleImportError],
) -> tuple[list[ScheduleSpec], list[ScheduleImportError]]:
    """Convert schedule entries one by one. An entry without a name, or with a
    name already used, is an error of its own: both formats share this rule."""
    specs: list[ScheduleSpec] = []
    errors: list[ScheduleImportError] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries):
        name = name_of(raw)
        if name is None:
            errors.append(ScheduleImportError(index, missing))
            continue
        if name in seen:
            errors.append(
                ScheduleImportError(name, f"duplicate schedule name (first defined at position {seen[name]})")
            )
            continue
        seen[name] = index
        result = convert(raw, name)
        if isinstance(result, ScheduleImportError):
            errors.append(result)
        else:
            specs.append(result)
    return specs, errors
