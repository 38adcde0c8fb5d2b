"""Account squatting (issue 9): an account ID belongs to a tenant only once a test
proves that tenant controls it; unverified registrations block nobody and expire.

Through the AWS stand-in, which checks trust policies and External IDs as AWS does.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from scheduling import parking
from tenants import demo, services, tasks
from tenants.migration import Outcome, account_migrate_to_role
from tenants.models import AuditEvent, CloudAccount, Tenant
from tenants.verification import account_verify, credential_verify
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc


def seed_role_trusting(account_id: str, *external_ids: str | None) -> None:
    """The customer's role; its trust policy names these External IDs (None: no condition at all)."""
    if len(external_ids) == 1:
        demo.seed_role(account_id, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=external_ids[0])
        return
    demo.seed_role(account_id, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=None)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OUR_ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": list(external_ids)}},
        }],
    }
    demo.account_client("iam", account_id).update_assume_role_policy(RoleName="ParkwayAccess", PolicyDocument=json.dumps(policy))


def register(tenant: Tenant, account_id: str = ACME_ACCOUNT) -> CloudAccount:
    return services.account_connect_role(tenant=tenant, account_id=account_id, regions=["us-east-1"], actor="cli")


# --------------------------------------------------------------------------- claiming


def test_the_first_passing_test_claims_the_account_for_its_tenant(acme, standin):
    seed_role_trusting(ACME_ACCOUNT, acme.external_id)
    account = register(acme)
    assert account.claimed_at is None
    assert not parking.active_accounts().filter(pk=account.pk).exists()  # never parked unclaimed
    result = account_verify(account=account, actor="cli")
    assert result.ok, result.message
    account.refresh_from_db()
    assert account.claimed_at is not None and account.unverified_expires_at is None
    assert parking.active_accounts().filter(pk=account.pk).exists()
    event = AuditEvent.objects.get(action="account.claimed")
    assert event.account == account and event.details["proof"] == f"role {account.conventional_role_arn}"


def test_a_failed_test_claims_nothing_and_blocks_nobody(acme, globex, standin):
    seed_role_trusting(ACME_ACCOUNT, acme.external_id)
    squat = register(globex)
    result = account_verify(account=squat, actor="cli")
    assert not result.ok and result.code == "AccessDenied"
    squat.refresh_from_db()
    assert squat.claimed_at is None and squat.status == CloudAccount.Status.ERROR
    owned = register(acme)
    assert account_verify(account=owned, actor="cli").ok
    owned.refresh_from_db()
    assert owned.claimed_at is not None
    assert not parking.active_accounts().filter(pk=squat.pk).exists()


def test_a_role_that_lets_in_any_external_id_proves_nothing_and_is_not_claimed(acme, standin):
    """Assuming such a role shows nothing about who configured it: any Parkway
    tenant naming it would get in (the confused deputy)."""
    seed_role_trusting(ACME_ACCOUNT, None)
    account = register(acme)
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "ExternalIdNotRequired"
    assert ("sts:ExternalId required", False) in result.checks
    assert acme.external_id in result.message and "trust policy" in result.message
    account.refresh_from_db()
    assert account.claimed_at is None and account.status == CloudAccount.Status.ERROR


def test_when_a_role_trusts_two_tenants_only_the_first_to_test_claims_it(acme, globex, standin):
    seed_role_trusting(ACME_ACCOUNT, acme.external_id, globex.external_id)
    first, second = register(acme), register(globex)
    assert account_verify(account=first, actor="cli").ok
    result = account_verify(account=second, actor="cli")
    # Shown only now that globex proved the owner trusts it, and still without naming acme.
    assert not result.ok and result.code == "AccountTaken"
    assert "already connected to Parkway in another organisation" in result.message and "Acme" not in result.message
    second.refresh_from_db()
    assert second.claimed_at is None and second.status == CloudAccount.Status.ERROR
    assert CloudAccount.objects.claimed().get() == first


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("trusted", ["acme", "both"])
def test_concurrent_connects_of_one_account_let_exactly_one_trusted_tenant_claim_it(trusted, acme, globex, standin):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (CI runs it there); SQLite serialises writers")
    seed_role_trusting(ACME_ACCOUNT, *([acme.external_id] if trusted == "acme" else [acme.external_id, globex.external_id]))
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def connect(tenant: Tenant) -> None:
        try:
            account = register(tenant)
            barrier.wait(timeout=30)
            results[tenant.slug] = account_verify(account=account, actor="cli")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=connect, args=(t,)) for t in (acme, globex)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(results) == {"acme", "globex"}
    claimed = list(CloudAccount.objects.claimed().select_related("tenant"))
    assert len(claimed) == 1
    winner = claimed[0].tenant.slug
    if trusted == "acme":
        assert winner == "acme" and results["globex"].code == "AccessDenied"
    else:
        loser = "globex" if winner == "acme" else "acme"
        assert results[winner].ok and results[loser].code == "AccountTaken"


# --------------------------------------------------------------------------- expiry


def test_an_unverified_registration_is_forgotten_after_its_lifetime(acme, globex, settings, standin):
    settings.PARKWAY_UNVERIFIED_ACCOUNT_HOURS = 24
    seed_role_trusting("333333333333", acme.external_id)
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        squat = register(globex)
        claimed = register(acme, "333333333333")
    with time_machine.travel(start + dt.timedelta(minutes=1)):
        assert account_verify(account=claimed, actor="cli").ok
    assert squat.unverified_expires_at == start + dt.timedelta(hours=24)
    with time_machine.travel(start + dt.timedelta(hours=23, minutes=59), tick=False):
        assert tasks.forget_unverified_accounts() == 0
    with time_machine.travel(start + dt.timedelta(hours=24, minutes=1), tick=False):
        assert tasks.forget_unverified_accounts() == 1
    assert not CloudAccount.objects.filter(pk=squat.pk).exists()
    assert CloudAccount.objects.filter(pk=claimed.pk).exists()  # claimed accounts never expire
    event = AuditEvent.objects.get(action="account.unverified_forgotten")
    assert event.tenant == globex and event.details["account_id"] == ACME_ACCOUNT and event.details["hours"] == 24


def test_a_test_of_a_forgotten_registration_says_so_and_writes_nothing(acme, standin):
    seed_role_trusting(ACME_ACCOUNT, acme.external_id)
    account = register(acme)
    credential = CloudAccount.objects.select_related("tenant").get(pk=account.pk).active_credential()
    CloudAccount.objects.filter(pk=account.pk).delete()  # forgotten while the test was under way
    result = credential_verify(credential=credential, actor="cli")
    assert not result.ok and result.code == "RegistrationGone" and "Connect the account again" in result.message
    assert not CloudAccount.objects.exists()


def test_the_worker_forgets_unverified_registrations_every_hour(settings):
    from django_q.models import Schedule as QSchedule

    call_command("setup_schedules", stdout=StringIO())
    job = QSchedule.objects.get(name="parkway-forget-unverified-accounts")
    assert (job.func, job.minutes) == ("tenants.tasks.forget_unverified_accounts", 60)


# --------------------------------------------------------------------------- the legacy paths staff use


def test_migrating_an_unclaimed_legacy_registration_claims_it(acme, standin):
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=None)
    account.refresh_from_db()
    result = account_migrate_to_role(account=account, actor="cli")
    assert result.outcome is Outcome.MIGRATED, result.message
    account.refresh_from_db()
    assert account.claimed_at is not None


def test_migration_never_claims_an_account_another_tenant_holds(acme, globex, standin):
    """A legacy registration whose role trusts its tenant still cannot take over an account claimed elsewhere."""
    account, key_id, secret = connect_legacy(acme, ACME_ACCOUNT, role=None)
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=None)
    account.refresh_from_db()
    seed_role_trusting(ACME_ACCOUNT, acme.external_id, globex.external_id)
    owner = register(globex)
    assert account_verify(account=owner, actor="cli").ok
    result = account_migrate_to_role(account=account, actor="cli")
    assert result.outcome is Outcome.FAILED and result.code == "AccountTaken"
    assert "Nothing was changed" in result.message
    account.refresh_from_db()
    assert account.claimed_at is None and account.active_credential().is_legacy
    assert account.active_credential().secret_access_key == secret


def test_migrate_to_roles_by_account_id_means_the_owners_account(acme, globex, standin):
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)  # claimed: a customer of long standing
    register(globex)  # someone else's failed attempt at the same ID
    out = StringIO()
    call_command("migrate_to_roles", "--account", ACME_ACCOUNT, stdout=out, stderr=StringIO())
    assert "[1/1] acme" in out.getvalue() and "globex" not in out.getvalue()
    assert account.active_credential().kind == "role"
    with pytest.raises(CommandError):  # with nobody's claim, the unverified registrations are what there is
        call_command("migrate_to_roles", "--account", "333333333333", stdout=StringIO(), stderr=StringIO())
