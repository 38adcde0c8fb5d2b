"""The planner's rules, table-driven, without AWS or a database."""

import datetime as dt

import pytest

from scheduling import planner
from scheduling.periods import compile_spec

AT = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)  # a Tuesday, noon UTC
ALWAYS_RUNNING = compile_spec({"timezone": "UTC", "periods": [{"weekdays": "mon-sun"}]})
NEVER_RUNNING = compile_spec({"timezone": "UTC", "periods": [{"weekdays": "sat"}]})  # Tuesday → stopped
ANY = compile_spec({"timezone": "UTC", "periods": [{"begintime": "13:00"}]})  # before begin → any


def rules(compiled, **flags):
    return planner.ScheduleRules(name="office", compiled=compiled, **flags)


def decide(*, state, stored="", compiled=NEVER_RUNNING, retained=False, asg="", override=None, **flags):
    resource = planner.ResourceView(key="r", state=state, desired_state=stored, retained_running=retained, schedule="s", asg_name=asg)
    overrides = {"r": override} if override else {}
    decisions = planner.plan([resource], {"s": rules(compiled, **flags)}, overrides, AT)
    return decisions[0] if decisions else None


@pytest.mark.parametrize(
    "case, kwargs, action, stored_after",
    [
        # desired stopped
        ("transition stops", dict(state="running", stored="running"), "stop", "stopped"),
        ("already stopped: just remember", dict(state="stopped", stored="running"), None, "stopped"),
        ("manual start respected", dict(state="running", stored="stopped"), "nothing", None),
        ("enforced re-asserts", dict(state="running", stored="stopped", enforced=True), "stop", "stopped"),
        ("first seen stopped by default", dict(state="running", stored=""), "stop", "stopped"),
        ("first seen kept without stop_new_instances", dict(state="running", stored="", stop_new_instances=False), None, "stopped"),
        ("retain_running keeps an early start", dict(state="running", stored="running", retained=True, retain_running=True), "skip", "stopped"),
        ("retained flag without the option is ignored", dict(state="running", stored="running", retained=True), "stop", "stopped"),
        ("stopping counts as stopped", dict(state="stopping", stored="running"), None, "stopped"),
        ("pending waits a tick, stored state kept", dict(state="pending", stored="running"), "skip", "running"),
        ("terminated never touched", dict(state="terminated", stored="running"), "nothing", None),
        ("shutting-down never touched", dict(state="shutting-down", stored="running"), "nothing", None),
        ("asg member reported, not stopped", dict(state="running", stored="running", asg="web-asg"), "skip", "stopped"),
        # desired running
        ("transition starts", dict(state="stopped", stored="stopped", compiled=ALWAYS_RUNNING), "start", "running"),
        ("first seen stopped is started", dict(state="stopped", stored="", compiled=ALWAYS_RUNNING), "start", "running"),
        ("manual stop respected", dict(state="stopped", stored="running", compiled=ALWAYS_RUNNING), "nothing", None),
        ("enforced start", dict(state="stopped", stored="running", compiled=ALWAYS_RUNNING, enforced=True), "start", "running"),
        ("already running at period start is retained", dict(state="running", stored="stopped", compiled=ALWAYS_RUNNING), None, "running"),
        ("stopping waits a tick", dict(state="stopping", stored="stopped", compiled=ALWAYS_RUNNING), "skip", "stopped"),
        ("asg member not started", dict(state="stopped", stored="stopped", compiled=ALWAYS_RUNNING, asg="web-asg"), "skip", "running"),
        # any
        ("any: nothing at all", dict(state="running", stored="stopped", compiled=ANY, enforced=True), "nothing", None),
    ],
)
def test_rules(case, kwargs, action, stored_after):
    decision = decide(**kwargs)
    if action == "nothing":
        assert decision is None, case
        return
    assert decision is not None, case
    assert decision.action == action, (case, decision)
    assert decision.desired_state == stored_after, (case, decision)


def test_period_start_with_machine_already_running_sets_retained():
    decision = decide(state="running", stored="stopped", compiled=ALWAYS_RUNNING)
    assert decision.retained_running is True


def test_first_seen_running_machine_is_not_retained():
    decision = decide(state="running", stored="", compiled=ALWAYS_RUNNING)
    assert decision.retained_running is False and decision.action is None


def test_asg_reason_names_the_group():
    decision = decide(state="running", stored="running", asg="web-asg")
    assert decision.reason == "part of Auto Scaling group web-asg: never parked one by one"


@pytest.mark.parametrize("override_state, state, action", [("running", "stopped", "start"), ("stopped", "running", "stop")])
def test_override_beats_the_schedule_and_is_enforced(override_state, state, action):
    override = planner.OverrideView(state=override_state, until=AT + dt.timedelta(hours=2))
    compiled = NEVER_RUNNING if override_state == "running" else ALWAYS_RUNNING
    stored = override_state  # not a transition: only enforcement makes it act
    decision = decide(state=state, stored=stored, compiled=compiled, override=override)
    assert decision.action == action
    assert "snoozed" in decision.reason


def test_unassigned_resources_are_left_alone():
    resource = planner.ResourceView(key="r", state="running", schedule=None)
    assert planner.plan([resource], {}, {}, AT) == []


def test_each_schedule_is_evaluated_once_per_tick():
    calls = []

    class Counting:
        def desired_state(self, at):
            calls.append(at)
            return "stopped"

    resources = [planner.ResourceView(key=i, state="running", desired_state="running", schedule="s") for i in range(50)]
    decisions = planner.plan(resources, {"s": planner.ScheduleRules(name="s", compiled=Counting())}, {}, AT)
    assert len(decisions) == 50 and len(calls) == 1
