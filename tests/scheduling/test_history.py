"""Retention: manage.py prune_history and the daily task forget old parking runs
and old audit events, in batches, and never what the engine still reconciles."""

from __future__ import annotations

import datetime as dt
import io
from datetime import UTC

import pytest
import time_machine
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import Schedule as QSchedule

from scheduling.history import history_prune
from scheduling.models import ParkingAction, ParkingRun
from tenants.models import AuditEvent, CloudAccount
from tests.selfservice.conftest import make_account, make_resources

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 1, 3, tzinfo=UTC)
OLD = NOW - dt.timedelta(days=91)
YOUNG = NOW - dt.timedelta(days=89)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def account(acme) -> CloudAccount:
    return make_account(acme, "111111111111")


def make_run(account: CloudAccount, started_at: dt.datetime, *, status: str = "succeeded", outcomes: tuple[str, ...] = ("succeeded",)) -> ParkingRun:
    run = ParkingRun.objects.create(account=account, tick_at=started_at, started_at=started_at, status=status)
    resources = make_resources(account, len(outcomes), start=100 * run.pk)
    for resource, outcome in zip(resources, outcomes, strict=True):
        ParkingAction.objects.create(run=run, resource=resource, action="stop", reason="night", outcome=outcome)
    return run


def make_event(created_at: dt.datetime, action: str = "schedule.updated") -> AuditEvent:
    return AuditEvent.objects.create(created_at=created_at, actor_label="cli", action=action)


def prune(**overrides) -> object:
    arguments = {"now": NOW, "history_days": 90, "audit_days": 400, "batch_size": 1000, "dry_run": False} | overrides
    return history_prune(**arguments)


def test_prune_deletes_runs_and_actions_older_than_the_history_days_only(account):
    old = [make_run(account, OLD), make_run(account, OLD - dt.timedelta(days=300), status="failed", outcomes=("failed", "skipped"))]
    young = make_run(account, YOUNG)
    report = prune()
    assert (report.runs, report.actions) == (2, 3)
    assert list(ParkingRun.objects.values_list("pk", flat=True)) == [young.pk]
    assert not ParkingAction.objects.filter(run_id__in=[r.pk for r in old]).exists()
    assert ParkingAction.objects.filter(run=young).count() == 1


def test_prune_keeps_old_runs_still_running_or_with_pending_actions(account):
    running = make_run(account, OLD, status="running", outcomes=())
    pending = make_run(account, OLD, status="interrupted", outcomes=("succeeded", "pending"))
    done = make_run(account, OLD, status="partial", outcomes=("succeeded", "failed"))
    report = prune()
    assert report.runs == 1
    assert set(ParkingRun.objects.values_list("pk", flat=True)) == {running.pk, pending.pk}
    assert ParkingAction.objects.filter(run=pending).count() == 2
    assert not ParkingRun.objects.filter(pk=done.pk).exists()


def test_prune_deletes_in_batches_one_delete_of_runs_per_batch(account):
    for days in range(5):
        make_run(account, OLD - dt.timedelta(days=days))
    make_run(account, YOUNG)
    with CaptureQueriesContext(connection) as queries:
        report = prune(batch_size=2)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    run_deletes = [sql for sql in deletes if 'FROM "scheduling_parkingrun"' in sql]
    action_deletes = [sql for sql in deletes if 'FROM "scheduling_parkingaction"' in sql]
    assert report.runs == 5 and ParkingRun.objects.count() == 1
    assert len(run_deletes) == 3  # 2 + 2 + 1
    assert len(action_deletes) == 3
    assert len(deletes) == 6  # nothing else: no audit event was old enough


def test_prune_deletes_audit_events_older_than_the_audit_days_and_never_younger_ones():
    AuditEvent.objects.all().delete()
    old = [make_event(NOW - dt.timedelta(days=400, seconds=1)), make_event(NOW - dt.timedelta(days=2000))]
    young = [make_event(NOW - dt.timedelta(days=399, hours=23)), make_event(NOW - dt.timedelta(days=200)), make_event(NOW)]
    report = prune(batch_size=1)
    assert report.audit_events == 2
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {e.pk for e in young}
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()


def test_audit_days_shorter_than_history_days_still_keep_younger_events(account):
    event = make_event(NOW - dt.timedelta(days=10))
    run = make_run(account, NOW - dt.timedelta(days=10))
    prune(history_days=20, audit_days=11)
    assert AuditEvent.objects.filter(pk=event.pk).exists() and ParkingRun.objects.filter(pk=run.pk).exists()
    prune(history_days=9, audit_days=9)
    assert not AuditEvent.objects.filter(pk=event.pk).exists() and not ParkingRun.objects.filter(pk=run.pk).exists()


def test_dry_run_counts_and_deletes_nothing(account):
    make_run(account, OLD, outcomes=("succeeded", "failed"))
    make_run(account, OLD, status="running", outcomes=("pending",))
    make_event(NOW - dt.timedelta(days=500))
    counts = (ParkingRun.objects.count(), ParkingAction.objects.count(), AuditEvent.objects.count())
    with CaptureQueriesContext(connection) as queries:
        report = prune(dry_run=True)
    assert (report.runs, report.actions, report.audit_events, report.dry_run) == (1, 2, 1, True)
    assert not [q for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
    assert (ParkingRun.objects.count(), ParkingAction.objects.count(), AuditEvent.objects.count()) == counts


def test_the_command_prints_what_it_deleted_using_the_settings(account, settings):
    settings.PARKWAY_HISTORY_DAYS = 30
    settings.PARKWAY_AUDIT_DAYS = 60
    make_run(account, NOW - dt.timedelta(days=31))
    make_run(account, NOW - dt.timedelta(days=29))
    make_event(NOW - dt.timedelta(days=61))
    out = io.StringIO()
    call_command("prune_history", "--batch-size", "1", stdout=out)
    assert out.getvalue().strip() == (
        "Deleted 1 parking run(s) and 1 action(s) started before 2025-05-02 03:00 UTC, "
        "and 1 audit event(s) before 2025-04-02 03:00 UTC."
    )
    assert ParkingRun.objects.count() == 1


def test_the_command_dry_run_says_would_delete_and_keeps_everything(account):
    make_run(account, OLD)
    out = io.StringIO()
    call_command("prune_history", "--dry-run", stdout=out)
    assert out.getvalue().startswith("Would delete 1 parking run(s) and 1 action(s)")
    assert ParkingRun.objects.count() == 1


@pytest.mark.parametrize("value", ["0", "-1", "10001", "ten", "1.5", "", "²", "99999999999999999999999"])
def test_a_bad_batch_size_is_a_command_error(value):
    with pytest.raises(CommandError, match="--batch-size must be a whole number from 1 to 10000"):
        call_command("prune_history", "--batch-size", value, stdout=io.StringIO())


def test_the_daily_task_prunes_with_the_settings(account, settings):
    from scheduling.tasks import prune_history

    settings.PARKWAY_HISTORY_DAYS = 90
    make_run(account, OLD)
    kept = make_run(account, YOUNG)
    assert prune_history().startswith("Deleted 1 parking run(s)")
    assert list(ParkingRun.objects.values_list("pk", flat=True)) == [kept.pk]


def test_setup_schedules_creates_the_daily_prune_once():
    call_command("setup_schedules", stdout=io.StringIO())
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    assert "updated parkway-prune-history: scheduling.tasks.prune_history every day" in out.getvalue()
    (schedule,) = QSchedule.objects.filter(name="parkway-prune-history")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == ("scheduling.tasks.prune_history", QSchedule.DAILY, -1)


@pytest.mark.parametrize(("setting", "check_id"), [("PARKWAY_HISTORY_DAYS", "scheduling.E005"), ("PARKWAY_AUDIT_DAYS", "tenants.E015")])
def test_retention_days_below_one_are_a_system_check_error(settings, setting, check_id):
    assert check_id not in [m.id for m in run_checks()]
    setattr(settings, setting, 0)
    assert check_id in [m.id for m in run_checks()]
