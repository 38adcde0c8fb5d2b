"""The parking planner: pure decisions, no AWS, no database.

From each resource's observed state and the state the planner stored last time,
the schedules (each evaluated once per tick), active overrides and the instant,
decide what to do and why. The rules follow AWS Instance Scheduler:

* `any` → nothing.
* `stopped` → stop when the schedule is enforced, or on a transition (the stored
  desired state was not already stopped); a machine seen for the first time is
  stopped only with `stop_new_instances`; with `retain_running`, a machine that
  was already running when its period began is left running at its end.
* `running` → start when enforced or on a transition; a failed start keeps the
  old stored state, so it is retried next tick.
* Never act on Auto Scaling members, machines in transition or terminated ones.
* Manual starts/stops between transitions are respected unless enforced.
* An active override (snooze) beats the schedule and is enforced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from scheduling.periods import CompiledSchedule

RUNNING, STOPPED, ANY = "running", "stopped", "any"
START, STOP, SKIP = "start", "stop", "skip"

# Heading where we want them: nothing to do. Heading elsewhere: wait a tick.
RUNNING_STATES = frozenset({"running", "pending"})
STOPPED_STATES = frozenset({"stopped", "stopping"})
SETTLED = frozenset({"running", "stopped"})
NEVER_ACT = frozenset({"terminated", "shutting-down"})


@dataclass(frozen=True)
class ScheduleRules:
    name: str
    compiled: CompiledSchedule
    enforced: bool = False
    retain_running: bool = False
    stop_new_instances: bool = True


@dataclass(frozen=True)
class ResourceView:
    key: Hashable
    state: str
    desired_state: str = ""  # stored by the last tick; "" = never evaluated
    retained_running: bool = False
    schedule: Hashable | None = None  # key into the schedules mapping
    asg_name: str = ""
    # Per-machine backoff after repeated failures: not acted on before this instant.
    retry_after: dt.datetime | None = None
    failures: int = 0
    last_failure: str = ""


@dataclass(frozen=True)
class OverrideView:
    state: str
    until: dt.datetime


@dataclass(frozen=True)
class Decision:
    """`action` None = only the stored state changes. For start/stop, the
    stored fields apply on success; for skip and None they apply at once."""

    key: Hashable
    action: str | None
    reason: str
    desired_state: str
    retained_running: bool


def plan(
    resources: Iterable[ResourceView],
    schedules: Mapping[Hashable, ScheduleRules],
    overrides: Mapping[Hashable, OverrideView],
    at: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Decisions for the resources whose machine or stored state must change.

    `at` is the instant schedules are evaluated for; `now` (default `at`) the
    real time, against which per-machine backoff is measured."""
    wanted = {key: rules.compiled.desired_state(at) for key, rules in schedules.items()}
    now = now or at
    decisions = []
    for resource in resources:
        decision = _decide(resource, schedules, wanted, overrides.get(resource.key), now)
        if decision is not None:
            decisions.append(decision)
    return decisions


def _decide(
    r: ResourceView,
    schedules: Mapping[Hashable, ScheduleRules],
    wanted: Mapping[Hashable, str],
    override: OverrideView | None,
    now: dt.datetime,
) -> Decision | None:
    if r.state in NEVER_ACT:
        return None
    if override is not None:
        desired = override.state
        enforced, retain, stop_new = True, False, True
        why = f"snoozed: keep {override.state} until {override.until:%Y-%m-%d %H:%M %Z}".rstrip()
    elif r.schedule is not None and r.schedule in schedules:
        rules = schedules[r.schedule]
        desired = wanted[r.schedule]
        enforced, retain, stop_new = rules.enforced, rules.retain_running, rules.stop_new_instances
        why = f"schedule {rules.name}"
    else:
        return None
    if desired == ANY:
        return None

    first_seen = r.desired_state == ""
    transition = r.desired_state != desired

    def unchanged_unless(new_retained: bool) -> Decision | None:
        if r.desired_state == desired and r.retained_running == new_retained:
            return None
        return Decision(r.key, None, why, desired, new_retained)

    if desired == RUNNING:
        if r.state in RUNNING_STATES:
            # Already running when its period began: someone started it early.
            retained = r.retained_running or (transition and not first_seen and r.state == "running")
            return unchanged_unless(retained)
        if not (enforced or transition):
            return None  # stopped by hand during its period: respected
        return _act(r, START, desired, f"{why}: {'enforced ' if enforced and not transition else ''}running period",
                    retained=False, now=now)

    # desired == STOPPED
    if r.state in STOPPED_STATES:
        return unchanged_unless(False)
    if first_seen and not enforced and not stop_new:
        return Decision(r.key, None, f"{why}: first seen outside its period; stop_new_instances is off", desired, False)
    if not (enforced or transition):
        return None  # started by hand outside its period: respected
    if retain and r.retained_running and not enforced:
        return Decision(
            r.key, SKIP, f"{why}: retain_running — it was already running when its period began", desired, False
        )
    label = "first seen outside its period" if first_seen else ("enforced stop" if not transition else "period ended")
    return _act(r, STOP, desired, f"{why}: {label}", retained=False, now=now)


def _act(r: ResourceView, action: str, desired: str, reason: str, *, retained: bool, now: dt.datetime) -> Decision:
    if r.asg_name:
        # Stopping an Auto Scaling member makes the group replace it.
        return Decision(r.key, SKIP, f"managed by Auto Scaling group {r.asg_name}", desired, retained)
    if r.state not in SETTLED:
        # In transition (pending/stopping): the stored state stays, so next tick retries.
        return Decision(r.key, SKIP, f"in transition ({r.state}); retried next tick", r.desired_state, r.retained_running)
    if r.retry_after is not None and now < r.retry_after:
        # Failed before for a reason of its own: the stored state stays, so
        # the decision is retried once the backoff ends (or its state changes).
        why = f"backing off after {r.failures} failed {action}(s) ({r.last_failure}); next try after {r.retry_after:%Y-%m-%d %H:%M %Z}"
        return Decision(r.key, SKIP, why[:300], r.desired_state, r.retained_running)
    return Decision(r.key, action, reason, desired, retained)
