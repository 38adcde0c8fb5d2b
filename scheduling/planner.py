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
* Never act on Auto Scaling members, machines in transition or terminated ones,
  nor on what AWS cannot stop (`refusal`: a cluster member, a read replica…).
* A database AWS restarted by itself after 7 days stopped is stopped again,
  enforced or not (it is not a person's start).
* Manual starts/stops between transitions are respected unless enforced.
* An active override (snooze) beats the schedule and is enforced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from portal.zones import format_when
from scheduling.periods import CompiledSchedule

RUNNING, STOPPED, ANY = "running", "stopped", "any"
START, STOP, SKIP = "start", "stop", "skip"
# Decisions people ask about most; the resolver adds when and until when.
MANUAL_START, MANUAL_STOP = "manual_start", "manual_stop"
AUTO_RESTART = "auto_restart"

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
    # Why it is never started or stopped by Parkway ("" = it may be).
    refusal: str = ""
    # A database Parkway stopped that runs again after AWS's 7-day limit: AWS's start, not a person's.
    auto_restarted: bool = False


@dataclass(frozen=True)
class OverrideView:
    state: str
    until: dt.datetime
    by: str = ""  # who snoozed it
    note: str = ""  # their reason


@dataclass(frozen=True)
class Decision:
    """What the tick does with one machine, and why.

    `action` None = no AWS call (`changes` says whether the stored fields
    change). For start/stop, the stored fields apply on success; for skip and
    None they apply at once. `wanted` is what the snooze or schedule wants
    now (running / stopped / any; None when nothing applies)."""

    key: Hashable
    action: str | None
    reason: str
    desired_state: str
    retained_running: bool
    wanted: str | None = None
    changes: bool = True
    code: str = ""

    @property
    def for_the_tick(self) -> bool:
        """The tick has something to do: an AWS call, a skip, or stored fields to change."""
        return self.action is not None or self.changes


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
    return [d for d in explain(resources, schedules, overrides, at, now=now) if d.for_the_tick]


def explain(
    resources: Iterable[ResourceView],
    schedules: Mapping[Hashable, ScheduleRules],
    overrides: Mapping[Hashable, OverrideView],
    at: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """A decision for every resource, with its reason, including "nothing to
    do" ones: the tick (through `plan`) and every page read the same answer."""
    wanted = {key: rules.compiled.desired_state(at) for key, rules in schedules.items()}
    now = now or at
    return [_decide(resource, schedules, wanted, overrides.get(resource.key), now) for resource in resources]


def _decide(
    r: ResourceView,
    schedules: Mapping[Hashable, ScheduleRules],
    wanted: Mapping[Hashable, str],
    override: OverrideView | None,
    now: dt.datetime,
) -> Decision:
    def nothing(reason: str, wanted_now: str | None) -> Decision:
        return Decision(r.key, None, reason, r.desired_state, r.retained_running, wanted=wanted_now, changes=False)

    if override is not None:
        desired = override.state
        enforced, retain, stop_new = True, False, True
        by = f" by {override.by}" if override.by else ""
        note = f" ({override.note})" if override.note else ""
        why = f"snoozed{by} until {format_when(override.until)}{note}: keep {override.state}"
    elif r.schedule is not None and r.schedule in schedules:
        rules = schedules[r.schedule]
        desired = wanted[r.schedule]
        enforced, retain, stop_new = rules.enforced, rules.retain_running, rules.stop_new_instances
        why = f"schedule {rules.name}"
    else:
        return nothing("not scheduled", None)
    if r.state in NEVER_ACT:
        return nothing(f"{r.state}: never acted on", desired)
    if desired == ANY:
        return nothing(f"{why}: no change wanted now (neither a start nor a stop applies)", desired)

    first_seen = r.desired_state == ""
    transition = r.desired_state != desired

    def decide(action: str | None, reason: str, new_desired: str, new_retained: bool, code: str = "") -> Decision:
        changes = (new_desired, new_retained) != (r.desired_state, r.retained_running)
        return Decision(r.key, action, reason, new_desired, new_retained, wanted=desired, changes=changes, code=code)

    if desired == RUNNING:
        if r.state in RUNNING_STATES:
            # Already running when its period began: someone started it early.
            retained = r.retained_running or (transition and not first_seen and r.state == "running")
            return decide(None, f"{why}: running, as wanted", desired, retained)
        if r.refusal:
            return _act(r, START, desired, why, retained=False, now=now)
        if not (enforced or transition):
            return decide(None, f"{why}: stopped by hand during its running period; the schedule is not enforced, "
                                "so it stays stopped until the next transition", r.desired_state, r.retained_running,
                          MANUAL_STOP)
        return _act(r, START, desired, f"{why}: {'enforced ' if enforced and not transition else ''}running period",
                    retained=False, now=now)

    # desired == STOPPED
    if r.state in STOPPED_STATES:
        return decide(None, f"{why}: stopped, as wanted", desired, False)
    if r.refusal:
        return _act(r, STOP, desired, why, retained=False, now=now)
    if first_seen and not enforced and not stop_new:
        return decide(None, f"{why}: first seen outside its period; stop_new_instances is off", desired, False)
    if r.auto_restarted and not transition:
        return _act(r, STOP, desired, f"{why}: AWS restarted it after 7 days stopped; stopped again",
                    retained=False, now=now, code=AUTO_RESTART)
    if not (enforced or transition):
        return decide(None, f"{why}: started by hand outside its running period; the schedule is not enforced, "
                            "so it stays running until the next transition", r.desired_state, r.retained_running,
                      MANUAL_START)
    if retain and r.retained_running and not enforced:
        return decide(SKIP, f"{why}: retain_running — it was already running when its period began", desired, False)
    label = "first seen outside its period" if first_seen else ("enforced stop" if not transition else "period ended")
    return _act(r, STOP, desired, f"{why}: {label}", retained=False, now=now)


def _act(
    r: ResourceView, action: str, desired: str, reason: str, *, retained: bool, now: dt.datetime, code: str = ""
) -> Decision:
    def skip(why: str, new_desired: str, new_retained: bool) -> Decision:
        changes = (new_desired, new_retained) != (r.desired_state, r.retained_running)
        return Decision(r.key, SKIP, why[:300], new_desired, new_retained, wanted=desired, changes=changes)

    if r.refusal:
        return skip(r.refusal, desired, retained)
    if r.asg_name:
        # Stopping an Auto Scaling member makes the group replace it.
        return skip(f"part of Auto Scaling group {r.asg_name}: never parked one by one", desired, retained)
    if r.state not in SETTLED:
        # In transition (pending/stopping): the stored state stays, so next tick retries.
        return skip(f"in transition ({r.state}); retried next tick", r.desired_state, r.retained_running)
    if r.retry_after is not None and now < r.retry_after:
        # Failed before for a reason of its own: the stored state stays, so
        # the decision is retried once the backoff ends (or its state changes).
        return skip(
            f"backing off after {r.failures} failed {action}(s) ({r.last_failure}); "
            f"next try after {format_when(r.retry_after)}", r.desired_state, r.retained_running,
        )
    return Decision(r.key, action, reason, desired, retained, wanted=desired, code=code)
