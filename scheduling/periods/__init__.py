"""Parkway's schedule engine: AWS Instance Scheduler period semantics, pure Python.

A schedule spec is the JSON form stored on a schedule::

    {"timezone": "Europe/Berlin", "override_status": null,
     "periods": [{"begintime": "09:00", "endtime": "17:00", "weekdays": "mon-fri"}]}

``compile_spec`` parses it once; ``CompiledSchedule.desired_state(at)`` is the hot
path of the parking tick.  Semantics are documented in docs/schedules.md.
No Django imports here on purpose: the tick, the forms and the tests share it.
"""

from .display import summarize, week_grid
from .engine import CompiledSchedule, State, compile_spec, desired_state, validate_spec
from .errors import NaiveDatetimeError, ScheduleError

__all__ = [
    "CompiledSchedule",
    "NaiveDatetimeError",
    "ScheduleError",
    "State",
    "compile_spec",
    "desired_state",
    "summarize",
    "validate_spec",
    "week_grid",
]
