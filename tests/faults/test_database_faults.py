"""The database connection dies under a worker (failover, restart, an operator's
pg_terminate_backend) at an exact moment, chosen by a stand-in hook.

Mid-tick: the account being parked fails, the tick goes on with the others and
reports the failure; the next tick closes the half-recorded run and settles it
from AWS's real state. Mid-migration: all or nothing, and a retry migrates."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from portal.aws_standin import Call, StandinServer, instance_states
from scheduling import parking
from scheduling.models import ParkingRun
from tenants.migration import Outcome, account_migrate_to_role
from tenants.models import AuditEvent, CloudAccount
from tests.conftest import ACME_ACCOUNT
from tests.faults.conftest import AT, NEXT, Fleets, backend_pid, expire_lease, needs_postgresql, terminate_backend
from tests.faults.invariants import Mark, assert_invariants, assert_not_repeated
from tests.tenants.test_migration import account_state, assert_legacy_keys_still_park, connect_legacy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_postgresql("pg_terminate_backend kills one connection server-side"),
]


def reconnect() -> None:
    """What a worker does between tasks (and Django between requests): drop a dead connection."""
    connection.close_if_unusable_or_obsolete()


@pytest.fixture(autouse=True)
def fresh_connection_for_teardown() -> Iterator[None]:
    """However a test ends, the database is flushed on a live connection."""
    yield
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def test_a_connection_killed_mid_tick_fails_that_account_and_the_tick_goes_on(
    fleets: Fleets, standin: StandinServer
) -> None:
    target = fleets.target
    pid = backend_pid()  # run_parking runs in this thread, on this connection

    def kill_connection(call: Call) -> None:
        terminate_backend(pid)

    # After AWS stopped the first batch, before the worker can record it.
    fault = standin.faults.hook("ec2:StopInstances", kill_connection, when="after", account_id=target.account_id)
    out = io.StringIO()
    with pytest.raises((CommandError, SystemExit)) as excinfo:  # the command must exit non-zero
        call_command("run_parking", "--at", AT.isoformat(), stdout=out, stderr=out)
    if isinstance(excinfo.value, SystemExit):
        assert excinfo.value.code not in (0, None)
    assert fault.fired == 1
    reconnect()

    for other in (fleets.before, fleets.after):
        assert ParkingRun.objects.get(account=other.account).status == "succeeded"
        assert set(instance_states(other.account_id, "us-east-1").values()) == {"stopped"}
        assert other.account_id in out.getvalue()
    assert target.account_id in out.getvalue()  # the failure is reported for its account

    # AWS stopped the first batch (eu-west-1) before the connection died.
    assert set(instance_states(target.account_id, "eu-west-1").values()) == {"stopped"}
    after_the_fault = Mark.take(standin)

    expire_lease(target.account)  # the worker that lost its connection may not have released it
    call_command("run_parking", "--at", NEXT.isoformat(), stdout=io.StringIO())
    assert_invariants(standin, desired=fleets.desired())
    assert_not_repeated(standin, target.ids["eu-west-1"], action="stop", since=after_the_fault)
    first, *later = ParkingRun.objects.filter(account=target.account).order_by("started_at", "pk")
    assert first.status == "interrupted"


def test_a_connection_killed_while_verifying_the_role_leaves_the_account_as_it_was(acme, standin: StandinServer) -> None:
    account, key_id, secret = connect_legacy(acme, ACME_ACCOUNT)
    before = account_state(account)
    pid = backend_pid()
    # The last permission probe of the verification; the switch comes right after.
    fault = standin.faults.hook(
        "ec2:StartInstances", lambda call: terminate_backend(pid), when="before", account_id=ACME_ACCOUNT
    )
    result = account_migrate_to_role(account=account, actor="cli")
    assert fault.fired == 1
    reconnect()

    assert result.outcome is Outcome.FAILED and not result.permanent, result.message
    assert "Nothing was changed" in result.message
    assert account_state(account) == before
    assert not AuditEvent.objects.filter(action="account.migrated_to_role").exists()
    assert_legacy_keys_still_park(account, key_id, secret)
    assert parking.park_account(account_id=account.pk, at=AT).status == "succeeded"

    retry = account_migrate_to_role(account=CloudAccount.objects.get(pk=account.pk), actor="cli")
    assert retry.outcome is Outcome.MIGRATED, retry.message


def test_a_connection_killed_inside_the_switch_rolls_it_all_back(acme, standin: StandinServer) -> None:
    account, key_id, secret = connect_legacy(acme, ACME_ACCOUNT)
    before = account_state(account)
    pid = backend_pid()
    seen: list[str] = []

    def kill_before_the_audit(execute, sql, params, many, context):
        # The credential is retired and the role saved, in the open transaction:
        # the connection dies before the audit event is written.
        if connection.in_atomic_block and 'INSERT INTO "tenants_auditevent"' in sql and not seen:
            seen.append(sql)
            terminate_backend(pid)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(kill_before_the_audit):
        result = account_migrate_to_role(account=account, actor="cli")
    assert seen, "the switch never wrote its audit event: the fault was not injected"
    reconnect()

    assert result.outcome is Outcome.FAILED and not result.permanent, result.message
    assert "database error" in result.message.lower()
    assert account_state(account) == before
    assert not AuditEvent.objects.filter(action="account.migrated_to_role").exists()
    assert_legacy_keys_still_park(account, key_id, secret)
    assert parking.park_account(account_id=account.pk, at=AT).status == "succeeded"

    retry = account_migrate_to_role(account=CloudAccount.objects.get(pk=account.pk), actor="cli")
    assert retry.outcome is Outcome.MIGRATED, retry.message
