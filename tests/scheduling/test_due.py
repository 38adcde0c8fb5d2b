"""Due work (scheduling.due): the tick calls AWS for an account only when
something is due in (its last clean evaluation, this tick]; every reason makes
an account due, nothing else does, and doing less never skips a transition."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ

from notifications.models import Channel, Delivery
from scheduling import actions, due, parking, services, tasks
from tenants import aws, demo
from scheduling.due import DueInputs, DueState, due_reason
from scheduling.models import Override, ParkingLease, Period, Resource, Schedule
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.scheduling.test_parking import connect, office_hours, states

pytestmark = pytest.mark.django_db

UTC = dt.UTC
BERLIN_OFFICE = {"tz": "Europe/Berlin", "begin": dt.time(9), "end": dt.time(17)}


def berlin_office(tenant=None, *, enforced: bool = False, save: bool = False) -> Schedule:
    schedule = Schedule(tenant=tenant, name="berlin", timezone="Europe/Berlin", enforced=enforced)
    periods = [Period(begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")]
    if save:
        schedule.save()
        for p in periods:
            p.schedule = schedule
            p.save()
        return Schedule.objects.prefetch_related("periods").get(pk=schedule.pk)
    schedule.pk = 999
    # Unsaved: to_spec() reads the periods given through the prefetch cache.
    schedule._prefetched_objects_cache = {"periods": periods}
    return schedule


def clean(evaluated_at: dt.datetime, **state) -> DueInputs:
    return DueInputs(
        state=DueState(evaluated_at=evaluated_at, inventoried_at=state.pop("inventoried_at", evaluated_at),
                       changes=state.pop("changes", 0), last_status=state.pop("last_status", "succeeded")),
        **state,
    )


def tick_window(end: dt.datetime, minutes: int = 5) -> tuple[dt.datetime, dt.datetime]:
    return end - dt.timedelta(minutes=minutes), end


# --- the rule, pure -------------------------------------------------------------


def test_nothing_due_between_transitions():
    since, at = tick_window(dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # a Tuesday, 13:00 in Berlin
    assert due_reason(clean(since, schedules=[berlin_office()]), at=at, now=at) is None


@pytest.mark.parametrize(
    "end, due_now",
    [
        # Autumn: CEST until Sun 2026-10-25 03:00, then CET. 17:00 Berlin = 15:00 UTC on Fri, 16:00 UTC on Mon.
        (dt.datetime(2026, 10, 23, 15, 0, tzinfo=UTC), True),
        (dt.datetime(2026, 10, 26, 15, 0, tzinfo=UTC), False),  # the summer instant, after the change: nothing
        (dt.datetime(2026, 10, 26, 16, 0, tzinfo=UTC), True),
        (dt.datetime(2026, 10, 26, 16, 5, tzinfo=UTC), False),  # the next window: already past
        # Spring: CET until Sun 2026-03-29 02:00, then CEST. 09:00 Berlin = 08:00 UTC on Fri, 07:00 UTC on Mon.
        (dt.datetime(2026, 3, 27, 8, 0, tzinfo=UTC), True),
        (dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC), False),
        (dt.datetime(2026, 3, 30, 7, 0, tzinfo=UTC), True),
    ],
)
def test_a_transition_in_the_window_makes_the_account_due_across_dst_changes(end, due_now):
    since, at = tick_window(end)
    reason = due_reason(clean(since, schedules=[berlin_office()]), at=at, now=at)
    assert (reason is not None) == due_now, reason
    if due_now:
        assert reason.startswith("schedule berlin")


def test_the_window_starts_at_the_last_clean_evaluation_however_long_ago():
    # The 17:00 stop went unevaluated (ticks failed, the worker was down): still due at 18:00.
    since = dt.datetime(2026, 11, 24, 15, 55, tzinfo=UTC)
    at = dt.datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert due_reason(clean(since, schedules=[berlin_office()]), at=at, now=at) is not None


def test_no_transition_on_a_weekend_nor_for_an_always_running_schedule():
    since, at = tick_window(dt.datetime(2026, 11, 28, 16, 0, tzinfo=UTC))  # Saturday 17:00 Berlin
    assert due_reason(clean(since, schedules=[berlin_office()]), at=at, now=at) is None
    always = berlin_office()
    always.override_status = "running"
    since, at = tick_window(dt.datetime(2026, 11, 24, 16, 0, tzinfo=UTC))
    assert due_reason(clean(since, schedules=[always]), at=at, now=at) is None


def test_an_enforced_schedule_is_due_every_tick():
    since, at = tick_window(dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    reason = due_reason(clean(since, schedules=[berlin_office(enforced=True)]), at=at, now=at)
    assert reason == "schedule berlin is enforced"


@pytest.mark.parametrize(
    "until, due_now",
    [
        (dt.datetime(2026, 11, 24, 11, 58, tzinfo=UTC), True),
        (dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC), True),  # (since, at]: the tick's own instant counts
        (dt.datetime(2026, 11, 24, 11, 55, tzinfo=UTC), False),  # ended before the window: seen last tick
        (dt.datetime(2026, 11, 24, 12, 1, tzinfo=UTC), False),  # the next tick's
        # A snooze ending across the autumn DST change: instants are compared, never wall times.
        (dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False),
    ],
)
def test_a_snooze_ending_in_the_window_makes_the_account_due(until, due_now):
    since, at = tick_window(dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    reason = due_reason(clean(since, snooze_ends=[until]), at=at, now=at)
    assert (reason is not None) == due_now
    if due_now:
        assert reason.startswith("a snooze ends")


def test_a_snooze_ending_on_the_night_the_clocks_go_back():
    # 02:30 Berlin happens twice on 2026-10-25 (00:30 and 01:30 UTC): the window holds one instant.
    until = dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    since, at = tick_window(dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert due_reason(clean(since, snooze_ends=[until]), at=at, now=at) is not None
    since, at = tick_window(dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    assert due_reason(clean(since, snooze_ends=[until]), at=at, now=at) is None


def test_a_backoff_ending_in_the_window_makes_the_account_due():
    since, at = tick_window(dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert due_reason(clean(since, retry_afters=[at - dt.timedelta(minutes=1)]), at=at, now=at).startswith("a backoff")
    assert due_reason(clean(since, retry_afters=[at + dt.timedelta(minutes=1)]), at=at, now=at) is None


def test_an_old_inventory_makes_the_account_due_after_its_tenants_interval():
    since, at = tick_window(dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    read = at - dt.timedelta(minutes=59)
    assert due_reason(clean(since, inventoried_at=read), at=at, now=at) is None
    assert due_reason(clean(since, inventoried_at=read - dt.timedelta(minutes=1)), at=at, now=at) == "inventory older than 60 min"
    short = clean(since, inventoried_at=read, inventory_minutes=30)
    assert due_reason(short, at=at, now=at) == "inventory older than 30 min"
    assert due_reason(clean(since, inventoried_at=None), at=at, now=at) is not None


@pytest.mark.parametrize(
    "inputs, expected",
    [
        (DueInputs(), "never evaluated"),
        (clean(dt.datetime(2026, 11, 24, 11, 55, tzinfo=UTC), last_status="failed"), "last run failed: retried"),
        (clean(dt.datetime(2026, 11, 24, 11, 55, tzinfo=UTC), last_status="partial"), "last run partial: retried"),
        (clean(dt.datetime(2026, 11, 24, 11, 55, tzinfo=UTC), last_status="interrupted"), "last run interrupted: retried"),
        (clean(dt.datetime(2026, 11, 24, 11, 55, tzinfo=UTC), changes=1), "changed in Parkway since its last run"),
        (clean(dt.datetime(2026, 11, 24, 11, 55, tzinfo=UTC), unsettled=True), "a run or an action to reconcile"),
    ],
)
def test_every_other_reason_makes_the_account_due(inputs, expected):
    at = dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert due_reason(inputs, at=at, now=at) == expected


# --- through the database and the tick -------------------------------------------


TUESDAY_EVENING = dt.datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


@pytest.fixture
def parked(acme, standin):
    """An account whose first tick ran cleanly at Tuesday 20:00 (its machines stopped)."""
    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).clean
    return account, ids["us-east-1"]


def due_at(account, at):
    return due.accounts_due(accounts=[account], at=at, now=ParkingLease.objects.get(account=account).inventoried_at)


def test_a_clean_run_leaves_its_window_and_inventory_time(parked):
    account, _ = parked
    lease = ParkingLease.objects.get(account=account)
    assert lease.evaluated_at == TUESDAY_EVENING and lease.inventoried_at is not None and lease.changes == 0
    assert due_at(account, TUESDAY_EVENING + dt.timedelta(minutes=5)) == {}
    # Wednesday 09:00 UTC: the office schedule starts them.
    assert due_at(account, dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)) == {account.pk: "schedule office: running at 2026-11-25 09:00 UTC"}


def test_changes_in_parkway_make_the_account_due_until_a_run_has_seen_them(parked, acme_member):
    account, ids = parked
    later = TUESDAY_EVENING + dt.timedelta(minutes=5)
    resource = Resource.objects.get(resource_id=ids[0])
    changes = [
        lambda: actions.override_create(resource=resource, state="running", until=later + dt.timedelta(hours=1), actor=acme_member, now=later),
        lambda: actions.override_clear(resource=resource, actor=acme_member, now=later),
        lambda: actions.resource_assign_schedule(resource=resource, schedule=berlin_office(account.tenant, save=True), actor=acme_member),
        lambda: services.schedule_save(
            spec={"name": "office", "timezone": "UTC", "periods": [{"begintime": "08:00", "endtime": "21:00"}]},
            tenant=account.tenant, actor=acme_member, schedule=Schedule.objects.get(name="office"),
        ),
    ]
    for change in changes:
        assert due_at(account, later) == {}
        change()
        assert due_at(account, later) == {account.pk: "changed in Parkway since its last run"}
        assert parking.park_account(account_id=account.pk, at=later).clean
        later += dt.timedelta(minutes=5)


def test_a_global_templates_change_makes_every_account_due(parked, globex, staff):
    account, _ = parked
    template = Schedule.objects.create(name="nights", timezone="UTC", override_status="stopped")
    services.schedule_save(spec={"name": "nights", "timezone": "UTC", "override_status": "running"}, tenant=None, actor=staff, schedule=template)
    assert due_at(account, TUESDAY_EVENING + dt.timedelta(minutes=5)) == {account.pk: "changed in Parkway since its last run"}


def test_database_reasons_pending_actions_snooze_ends_and_backoffs(parked):
    account, ids = parked
    later = TUESDAY_EVENING + dt.timedelta(minutes=5)
    resource = Resource.objects.get(resource_id=ids[0])
    Resource.objects.filter(pk=resource.pk).update(retry_after=later - dt.timedelta(minutes=1), failures=1)
    assert due_at(account, later) == {account.pk: "a backoff ends at 2026-11-24 20:04 UTC"}
    Resource.objects.filter(pk=resource.pk).update(retry_after=None, failures=0)
    Override.objects.create(resource=resource, state="running", until=later - dt.timedelta(minutes=2))
    assert due_at(account, later) == {account.pk: "a snooze ends at 2026-11-24 20:03 UTC"}
    Override.objects.all().delete()
    run = parking.ParkingRun.objects.create(account=account, tick_at=later, started_at=later)
    assert due_at(account, later) == {account.pk: "a run or an action to reconcile"}
    run.delete()
    assert due_at(account, later) == {}


def test_a_run_that_did_not_end_cleanly_keeps_its_window_open(parked, standin):
    account, ids = parked
    # The Wednesday 09:00 start fails: AWS refuses the account for a moment.
    standin.faults.throttle("ec2:DescribeInstances", times=None, account_id=ACME_ACCOUNT)
    nine = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert parking.park_account(account_id=account.pk, at=nine).status == "failed"
    standin.faults.clear()
    lease = ParkingLease.objects.get(account=account)
    assert (lease.evaluated_at, lease.last_status) == (TUESDAY_EVENING, "failed")
    five_past = nine + dt.timedelta(minutes=5)
    assert due_at(account, five_past) == {account.pk: "last run failed: retried"}
    assert parking.park_account(account_id=account.pk, at=five_past).succeeded == 2
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) <= {"running", "pending"}


def test_a_tick_with_nothing_due_makes_no_aws_call(parked, globex, standin, django_capture_on_commit_callbacks):
    account, _ = parked
    office_hours(globex)
    other, _ = connect(globex, GLOBEX_ACCOUNT, per_region=3, regions=["us-east-1"])
    assert parking.park_account(account_id=other.pk, at=TUESDAY_EVENING).clean
    standin.reset_calls()
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        assert tasks.tick((TUESDAY_EVENING + dt.timedelta(minutes=5)).isoformat()) == 0
    assert not OrmQ.objects.exists()
    assert sum(standin.calls().values()) == 0, standin.calls()
    # The tick's own notices (pre-stop warnings, ended snoozes, legacy deadlines)
    # are a constant few queries per tick, whatever the number of accounts.
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(sql) - _notice_queries(TUESDAY_EVENING + dt.timedelta(minutes=5)) <= 10, [q[:80] for q in sql]
    # Looked at: their last tick moved on, their window did not.
    assert set(ParkingLease.objects.values_list("evaluated_at", flat=True)) == {TUESDAY_EVENING}


def test_the_tick_enqueues_the_due_accounts_only(parked, globex, standin, django_capture_on_commit_callbacks):
    account, _ = parked
    office_hours(globex)
    other, _ = connect(globex, GLOBEX_ACCOUNT, per_region=3, regions=["us-east-1"])  # never evaluated
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.tick((TUESDAY_EVENING + dt.timedelta(minutes=5)).isoformat()) == 1
    assert [q.task["args"][0] for q in OrmQ.objects.all()] == [other.pk]


def test_doing_less_never_skips_a_transition(parked, standin, django_capture_on_commit_callbacks):
    """Tick after tick through a working day: AWS is called at the transitions
    (and when the inventory is old), and every machine is where its schedule wants it."""
    account, _ = parked
    at = TUESDAY_EVENING
    calls_at = []
    while at < dt.datetime(2026, 11, 25, 18, 0, tzinfo=UTC):
        at += dt.timedelta(minutes=5)
        standin.reset_calls()
        with django_capture_on_commit_callbacks(execute=True):
            tasks.tick(at.isoformat())
        for q in OrmQ.objects.order_by("pk"):
            q.delete()
            tasks.park_account(*q.task["args"])
        if standin.calls():
            calls_at.append(at.strftime("%H:%M"))
        if at.hour in (10, 12, 16):
            assert set(states(ACME_ACCOUNT, "us-east-1").values()) <= {"running", "pending"}
        if at.hour in (6, 17):
            assert set(states(ACME_ACCOUNT, "us-east-1").values()) <= {"stopped", "stopping"}
    # The transitions (09:00, 17:00) and nothing else: the inventory stays fresh on the wall clock.
    assert calls_at == ["09:00", "17:00"]


def test_staff_set_the_tenants_inventory_interval_on_the_tenant_page(acme, staff_client):
    url = f"/admin/tenants/tenant/{acme.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert 'name="inventory_minutes"' in page
    data = {"name": acme.name, "slug": acme.slug, "contact_emails": acme.contact_emails, "timezone": "UTC",
            "price_factor": "1.000", "inventory_minutes": "15"}
    for prefix in ("accounts", "memberships"):  # the inlines' empty management forms
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    assert staff_client.post(url, data).status_code == 302
    acme.refresh_from_db()
    assert acme.inventory_minutes == 15
    account = parking.CloudAccount(tenant=acme)
    assert due.inventory_minutes(account) == 15
    data["inventory_minutes"] = "0"
    assert "Ensure this value is greater than or equal to 1" in staff_client.post(url, data).content.decode()


# --- queries: a busy account costs a fixed number, an idle one next to nothing ----


def _queries(fn) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        fn()
    # SAVEPOINT/RELEASE only exist because the test runs inside a transaction.
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def _account_counts(tenant, account_id, machines, capture) -> dict[str, int]:
    office_hours(tenant)
    account, _ = connect(tenant, account_id, per_region=machines, regions=["us-east-1"])
    first = _queries(lambda: parking.park_account(account_id=account.pk, at=TUESDAY_EVENING))  # first sight, all stopped
    nine = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    busy = _queries(lambda: parking.park_account(account_id=account.pk, at=nine))  # all started
    by_hand = _queries(lambda: parking.park_account(account_id=account.pk, at=nine + dt.timedelta(minutes=5)))
    return {"first": len(first), "busy": len(busy), "nothing to do, run by hand": len(by_hand)}


def test_queries_per_busy_account_do_not_grow_with_its_machines(acme, globex, standin, django_capture_on_commit_callbacks):
    small = _account_counts(acme, ACME_ACCOUNT, 10, django_capture_on_commit_callbacks)
    big = _account_counts(globex, GLOBEX_ACCOUNT, 1000, django_capture_on_commit_callbacks)
    assert small == big, (small, big)
    # Lease claimed; the account with its tenant, credential and lease row;
    # schedules with their periods; resources flagged with their snoozes; the
    # changed rows' upsert; the run, every batch's pending actions, their
    # outcomes, the machines' states; run closed, lease given back. Unchanged
    # machines cost no write; snoozes, reconciliation and renewals only when
    # there is one (the first run reconciles: nobody said it was settled).
    assert big == {"first": 15, "busy": 11, "nothing to do, run by hand": 6}, big


def test_an_idle_tick_costs_the_same_queries_for_one_account_or_many(acme, globex, standin, django_capture_on_commit_callbacks):
    def idle_tick(at: dt.datetime) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            queries = _queries(lambda: tasks.tick(at.isoformat()))
        assert not OrmQ.objects.exists()
        return len(queries)

    office_hours(acme)
    one, _ = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    assert parking.park_account(account_id=one.pk, at=TUESDAY_EVENING).clean
    alone = idle_tick(TUESDAY_EVENING + dt.timedelta(minutes=5))
    office_hours(globex)
    two, _ = connect(globex, GLOBEX_ACCOUNT, per_region=40, regions=["us-east-1"])
    assert parking.park_account(account_id=two.pk, at=TUESDAY_EVENING).clean
    assert idle_tick(TUESDAY_EVENING + dt.timedelta(minutes=10)) == alone
    assert alone - _notice_queries(TUESDAY_EVENING + dt.timedelta(minutes=10)) == 9


def test_the_tick_sorts_accounts_in_rounds_with_the_same_answer(acme, globex, standin, monkeypatch):
    """The tick holds one round of accounts at a time (its worker's memory does
    not grow with the number of accounts); rounds change no answer."""
    from tenants.models import Tenant

    office_hours(acme)
    first, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    assert parking.park_account(account_id=first.pk, at=TUESDAY_EVENING).clean
    office_hours(globex)
    second, _ = connect(globex, GLOBEX_ACCOUNT, per_region=1, regions=["us-east-1"])  # never evaluated: due
    initech = Tenant.objects.create(name="Initech", slug="initech", contact_emails="it@initech.test")
    office_hours(initech)
    third, _ = connect(initech, "333333333333", per_region=1, regions=["us-east-1"])
    assert parking.park_account(account_id=third.pk, at=TUESDAY_EVENING).clean
    due.accounts_mark_changed(account_ids=[third.pk])  # changed in Parkway: due
    at, now = TUESDAY_EVENING + dt.timedelta(minutes=5), ParkingLease.objects.get(account=first).inventoried_at
    accounts = parking.active_accounts()
    whole = due.accounts_due(accounts=list(accounts), at=at, now=now)
    assert set(whole) == {second.pk, third.pk}
    for size in (1, 2, 3):
        monkeypatch.setattr(due, "TICK_CHUNK", size)
        assert due.accounts_due_and_idle(accounts=accounts, at=at, now=now) == (whole, [first.pk])


def _notice_queries(at: dt.datetime) -> int:
    """What the tick's notices cost on their own at `at` (nothing to tell here)."""
    from notifications import events as notification_events

    return len(_queries(lambda: notification_events.tick_notices(at=at)))


def test_an_inventory_writes_only_the_machines_that_changed(acme, standin):
    from scheduling.inventory import inventory_sync

    office_hours(acme)
    account, ids = connect(acme, ACME_ACCOUNT, per_region=5, regions=["us-east-1"])
    inventory_sync(account=account)
    unchanged = _queries(lambda: inventory_sync(account=account))
    assert [q for q in unchanged if not q.startswith("SELECT")] == []
    ec2 = demo.account_client("ec2", ACME_ACCOUNT, "us-east-1")
    ec2.create_tags(Resources=[ids["us-east-1"][0]], Tags=[{"Key": "Schedule", "Value": "nights"}])
    ec2.terminate_instances(InstanceIds=[ids["us-east-1"][1]])
    writes = [q for q in _queries(lambda: inventory_sync(account=account)) if not q.startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO \"scheduling_resource\"")  # the retag and the termination, one upsert
    assert Resource.objects.get(resource_id=ids["us-east-1"][0]).schedule_tag == "nights"
    ec2_gone = ids["us-east-1"][2]
    standin.reset()  # every machine gone from AWS
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id="123456789012", external_id=acme.external_id)
    aws.clear_session_cache()
    cache.clear()  # the shared credential cache: moto forgot those sessions
    writes = [q for q in _queries(lambda: inventory_sync(account=account)) if not q.startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith('UPDATE "scheduling_resource" SET "gone_at"')
    assert Resource.objects.get(resource_id=ec2_gone).gone_at is not None


def _task_queries(account, at: dt.datetime) -> list[str]:
    """The worker's whole task for one account, as the tick enqueues it (its
    claim and its tenant's tally made by the tick): claim started, parked,
    reported to the tally, claim released."""
    from notifications import events
    from scheduling import claims

    claim = claims.accounts_claim(account_ids=[account.pk])
    tallied = events.tick_opened(tick=claim.token, account_ids=claim.account_ids)
    return _queries(lambda: tasks.park_account(account.pk, at.isoformat(), claim.token, account.pk in tallied))


def test_queries_per_task_of_a_busy_and_a_quiet_account(acme, standin):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=20, regions=["us-east-1", "eu-west-1"])
    _task_queries(account, TUESDAY_EVENING)  # first sight, every machine stopped
    nine = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    busy = _task_queries(account, nine)  # every machine started, in two regions
    assert Resource.objects.filter(account=account, state="pending").count() == 40
    # Nothing to do (only by hand or for a due reason such as an old inventory:
    # a tick enqueues no task for an account with nothing due, scheduling.due).
    quiet = _task_queries(account, nine + dt.timedelta(minutes=5))
    # Busy: the lease and claim started in one UPDATE, the account (with its
    # tenant, credential, lease and whether the tenant has channels), the
    # schedules, the rows (with their snooze flags), the upsert of the rows
    # AWS changed (all 40: stopping -> stopped), the run, its actions written
    # ahead, settled, the states, the run closed, the lease and claim given
    # back in one. No summary query: Acme has no channel to send it to.
    # Quiet: no run, no batch, nothing to tell (the upsert: pending -> running).
    assert (len(busy), len(quiet)) == (11, 6), "\n".join(busy + ["--- quiet:"] + quiet)
    # The steady state: at six every machine stops, and AWS says what the rows
    # already say (running), so nothing is upserted: 10 queries.
    evening = _task_queries(account, dt.datetime(2026, 11, 25, 18, 0, tzinfo=UTC))
    assert Resource.objects.filter(account=account, state="stopping").count() == 40
    assert len(evening) == 10, "\n".join(evening)
    # A tenant with a channel hears of it: one query for the channels, one for the deliveries.
    Channel.objects.create(tenant=acme, kind="email", name="ops", target="ops@acme.test", events=["parking_summary"])
    morning = _task_queries(account, dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert Delivery.objects.filter(channel__tenant=acme).count() == 1
    assert len(morning) == len(evening) + 1 + 2, "\n".join(morning)


def _describes(calls) -> dict[str, int]:
    return {op: n for op, n in sorted(calls.items()) if ":Describe" in op}


def test_between_complete_inventories_a_run_describes_only_the_kinds_the_account_has(acme, standin):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1", "eu-west-1"])
    demo.seed_database(ACME_ACCOUNT, "eu-west-1", "orders", tags={"Schedule": "office"})
    standin.reset_calls()
    first = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)  # never inventoried: everything
    assert first.clean and first.inventoried_at is not None
    assert set(_describes(standin.calls())) == {
        "ec2:DescribeInstances", "rds:DescribeDBInstances", "rds:DescribeDBClusters", "autoscaling:DescribeAutoScalingGroups",
    }
    inventoried = ParkingLease.objects.get(account=account).inventoried_at
    # A database appears in a region that had none, between inventories.
    demo.seed_database(ACME_ACCOUNT, "us-east-1", "late", tags={"Schedule": "office"})
    standin.reset_calls()
    nine = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    busy = parking.park_account(account_id=account.pk, at=nine)
    assert busy.clean and busy.succeeded == 5  # 4 machines and the database: nothing known is skipped
    # EC2 everywhere, databases where there is one (eu-west-1); no clusters, no groups.
    assert _describes(standin.calls()) == {"ec2:DescribeInstances": 2, "rds:DescribeDBInstances": 1}
    lease = ParkingLease.objects.get(account=account)
    assert lease.inventoried_at == inventoried  # not a complete inventory: the interval still runs from the last one
    assert not Resource.objects.filter(resource_id="late").exists()
    # Once the inventory is older than the tenant's interval, everything is read again.
    ParkingLease.objects.filter(account=account).update(inventoried_at=inventoried - dt.timedelta(minutes=61))
    standin.reset_calls()
    assert parking.park_account(account_id=account.pk, at=nine + dt.timedelta(minutes=5)).clean
    assert _describes(standin.calls())["rds:DescribeDBClusters"] == 2
    assert Resource.objects.filter(resource_id="late").exists()
    assert ParkingLease.objects.get(account=account).inventoried_at > inventoried


def test_a_change_in_parkway_asks_for_a_complete_inventory_at_once(acme, standin):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=2, regions=["us-east-1"])
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).clean
    due.accounts_mark_changed(account_ids=[account.pk])  # as a connection test or an assignment does
    standin.reset_calls()
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING + dt.timedelta(minutes=5)).clean
    assert "autoscaling:DescribeAutoScalingGroups" in standin.calls()
