"""No duplicate work: the tick enqueues no task for an account whose previous
task is still queued or running; the claim is released when the task is done
and expires when the task is lost. (ORM broker: the queue is the OrmQ table.)"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models.functions import Now
from django_q.models import OrmQ

from scheduling import claims, due, parking, tasks
from scheduling.models import ParkingLease
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours

AT = TUESDAY_EVENING.isoformat()


@pytest.fixture
def two_accounts(acme, globex, standin):
    accounts = []
    for tenant, account_id in ((acme, ACME_ACCOUNT), (globex, GLOBEX_ACCOUNT)):
        office_hours(tenant)
        accounts.append(connect(tenant, account_id, per_region=1, regions=["us-east-1"])[0])
    return accounts


def queued() -> list[tuple[str, tuple]]:
    return sorted((q.task["func"], tuple(q.task["args"])) for q in OrmQ.objects.all())


def tick(capture) -> int:
    with capture(execute=True):
        return tasks.tick(AT)


def run_queued() -> list[dict]:
    """What a worker does: run each queued task once, oldest first."""
    results = []
    for q in OrmQ.objects.order_by("pk"):
        func, args = q.task["func"], q.task["args"]
        q.delete()
        assert func == "scheduling.tasks.park_account"
        results.append(tasks.park_account(*args))
    return results


def test_the_tick_enqueues_one_task_per_account_with_its_claim(two_accounts, django_capture_on_commit_callbacks):
    assert tick(django_capture_on_commit_callbacks) == 2
    tokens = dict(ParkingLease.objects.values_list("account_id", "queued_token"))
    # The last argument: whether the account's tenant has a tally (other accounts in the tick).
    alone = {a.pk: sum(b.tenant_id == a.tenant_id for b in two_accounts) == 1 for a in two_accounts}
    assert queued() == sorted(("scheduling.tasks.park_account", (a.pk, AT, tokens[a.pk], not alone[a.pk])) for a in two_accounts)
    assert all(tokens.values())


def test_a_second_tick_enqueues_nothing_while_the_tasks_are_pending(two_accounts, django_capture_on_commit_callbacks):
    tick(django_capture_on_commit_callbacks)
    assert tick(django_capture_on_commit_callbacks) == 0
    assert len(queued()) == 2


def test_a_finished_task_releases_its_account(two_accounts, django_capture_on_commit_callbacks, standin):
    tick(django_capture_on_commit_callbacks)
    assert [r["status"] for r in run_queued()] == ["succeeded", "succeeded"]
    assert not ParkingLease.objects.exclude(queued_token="").exists()
    assert tick(django_capture_on_commit_callbacks) == 0  # nothing due at the same instant (scheduling.due)
    due.accounts_mark_changed(account_ids=[a.pk for a in two_accounts])
    assert tick(django_capture_on_commit_callbacks) == 2  # due again, and no claim in the way


def test_a_lost_task_blocks_its_account_only_until_its_claim_expires(two_accounts, django_capture_on_commit_callbacks):
    acme_account, globex_account = two_accounts
    tick(django_capture_on_commit_callbacks)
    OrmQ.objects.all().delete()  # the broker lost them (a killed cluster had fetched them)
    # The claim of a queued task lasts a little under a tick, on the database's clock.
    claims_until = ParkingLease.objects.annotate(now=Now()).values_list("queued_until", "now")
    for until, now in claims_until:
        assert dt.timedelta(minutes=4) < until - now < dt.timedelta(minutes=5)
    ParkingLease.objects.filter(account=acme_account).update(queued_until=Now() - dt.timedelta(seconds=1))
    assert tick(django_capture_on_commit_callbacks) == 1
    assert [args[0] for _, args in queued()] == [acme_account.pk]


def test_a_task_superseded_by_a_later_ticks_task_does_nothing(two_accounts, django_capture_on_commit_callbacks, standin):
    tick(django_capture_on_commit_callbacks)
    ParkingLease.objects.update(queued_until=Now() - dt.timedelta(seconds=1))  # the workers fell behind
    tick(django_capture_on_commit_callbacks)
    assert len(queued()) == 4
    standin.reset_calls()
    statuses = [r["status"] for r in run_queued()]
    assert statuses == ["superseded", "superseded", "succeeded", "succeeded"]
    assert standin.calls()["ec2:DescribeInstances"] == 2  # the later tasks only, one account each
    assert not ParkingLease.objects.exclude(queued_token="").exists()


def test_a_started_task_holds_its_claim_while_it_runs(two_accounts):
    account = two_accounts[0]
    claim = claims.accounts_claim(account_ids=[account.pk])
    assert claims.claim_start(account_id=account.pk, token=claim.token)
    assert claims.accounts_claim(account_ids=[account.pk]).account_ids == []
    assert not claims.claim_start(account_id=account.pk, token="another tick's")
    assert claims.claim_release(account_ids=[account.pk], token="another tick's") == 0
    assert claims.claim_release(account_ids=[account.pk], token=claim.token) == 1
    assert claims.accounts_claim(account_ids=[account.pk]).account_ids == [account.pk]


def test_sync_inventory_fans_out_one_task_per_account(two_accounts, django_capture_on_commit_callbacks, standin):
    """Folded into the tick: a schedule of an earlier version enqueues one task
    per account (each refreshes that account's inventory), never one for all."""
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sync_inventory() == 2
    assert [(func, args[0]) for func, args in queued()] == sorted(
        ("scheduling.tasks.park_account", a.pk) for a in two_accounts
    )
    standin.reset_calls()
    run_queued()
    assert standin.calls()["ec2:DescribeInstances"] == 2


def test_an_idle_tick_clears_the_expired_claim_of_a_task_killed_after_it_parked(
    two_accounts, django_capture_on_commit_callbacks, standin
):
    """A worker killed between giving the lease back (the run done) and
    releasing its claim leaves the claim behind. Once that claim has expired,
    the next tick that finds nothing due clears it: nothing is pending for the
    account any more; a live claim of another idle account is left alone."""
    acme_account, globex_account = two_accounts
    tick(django_capture_on_commit_callbacks)
    (acme_task, globex_task) = sorted(queued(), key=lambda q: q[1][0])
    OrmQ.objects.all().delete()
    parking.park_account(account_id=acme_account.pk, at=TUESDAY_EVENING)  # parked; then killed: claim kept
    parking.park_account(account_id=globex_account.pk, at=TUESDAY_EVENING)
    ParkingLease.objects.filter(account=acme_account).update(queued_until=Now() - dt.timedelta(seconds=1))
    assert tick(django_capture_on_commit_callbacks) == 0  # nothing due
    leases = dict(ParkingLease.objects.values_list("account_id", "queued_token"))
    assert leases[acme_account.pk] == ""
    assert leases[globex_account.pk] == globex_task[1][2]  # still queued as far as anyone knows
