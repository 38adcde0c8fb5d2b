"""Tell the two import formats apart and load an uploaded file in either."""

from __future__ import annotations

from typing import Any

from .common import (
    ImportFormat,
    ScheduleImportError,
    ScheduleSpec,
    _error_document_message,
    _is_cli_document,
    _parse_json_text,
)
from .convert import from_instance_scheduler
from .parkway import _load_parkway


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
