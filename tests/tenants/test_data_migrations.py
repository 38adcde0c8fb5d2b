"""The data migrations of issues 9 and 11, run on a database holding the old shapes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from tenants.models import AuditEvent, CloudAccount, CloudCredential, Membership

# Every app's newest migration, whatever was added since: a test that stopped at
# an older one would leave later tests without the tables they need.
LATEST = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes()
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)


def migrate_to(*targets: tuple[str, str]):
    """Migrate to `targets`; the historical apps registry of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    executor.loader.build_graph()
    return executor.loader.project_state(list(targets)).apps


@pytest.fixture
def back_to(transactional_db):
    """Migrate back for the test; forward to the latest state afterwards, whatever happens."""
    yield migrate_to
    migrate_to(*LATEST)


def test_0003_masks_the_key_id_of_every_retired_credential_and_in_its_audit_events(back_to):
    apps = back_to(("tenants", "0001_initial"))
    Tenant, Account = apps.get_model("tenants", "Tenant"), apps.get_model("tenants", "CloudAccount")
    Credential, Event = apps.get_model("tenants", "CloudCredential"), apps.get_model("tenants", "AuditEvent")
    tenant = Tenant.objects.create(name="Acme", slug="acme", external_id="pkw-0123456789abcdef0123456789abcdef")
    account = Account.objects.create(tenant=tenant, account_id="111111111111", regions=["us-east-1"])
    retired = Credential.objects.create(
        account=account, kind="legacy_user", access_key_id=KEY_ID, secret_access_key=SECRET, retired_at=T0
    )
    active = Credential.objects.create(
        account=account, kind="legacy_user", access_key_id="AKIAACTIVEKEYEXAMPLE", secret_access_key=SECRET
    )
    Event.objects.create(account=account, tenant=tenant, actor_label="cli", action="x", details={"key": f"was {KEY_ID}"})

    back_to(*LATEST)

    retired = CloudCredential.objects.get(pk=retired.pk)
    assert (retired.access_key_id, retired.secret_access_key) == ("AKIA…MPLE", "")
    active = CloudCredential.objects.get(pk=active.pk)  # in use: untouched
    assert (active.access_key_id, active.secret_access_key) == ("AKIAACTIVEKEYEXAMPLE", SECRET)
    assert AuditEvent.objects.get().details == {"key": "was AKIA…MPLE"}


def test_0005_claims_the_accounts_that_showed_control_and_leaves_failed_registrations_unclaimed(back_to):
    apps = back_to(("tenants", "0004_retired_credentials_hold_nothing"), ("scheduling", "0003_schedule_messages"))
    Tenant, Account = apps.get_model("tenants", "Tenant"), apps.get_model("tenants", "CloudAccount")
    Credential, Resource = apps.get_model("tenants", "CloudCredential"), apps.get_model("scheduling", "Resource")
    tenant = Tenant.objects.create(name="Acme", slug="acme", external_id="pkw-0123456789abcdef0123456789abcdef")

    def account(account_id: str, status: str, kind: str = "role", verified_at: dt.datetime | None = None):
        row = Account.objects.create(tenant=tenant, account_id=account_id, regions=["us-east-1"], status=status)
        if kind == "role":
            Credential.objects.create(account=row, kind="role", role_arn=f"arn:aws:iam::{account_id}:role/P", verified_at=verified_at)
        else:
            Credential.objects.create(account=row, kind="legacy_user", access_key_id=KEY_ID, secret_access_key=SECRET)
        return row

    verified = account("111111111111", "error", verified_at=T0)
    connected = account("222222222222", "connected")
    legacy = account("333333333333", "pending", kind="legacy_user")
    inventoried = account("444444444444", "error")
    Resource.objects.create(account=inventoried, region="us-east-1", resource_id="i-1", first_seen_at=T0, last_seen_at=T0)
    never_worked = account("555555555555", "error")

    back_to(*LATEST)

    claimed = dict(CloudAccount.objects.values_list("account_id", "claimed_at"))
    assert claimed[verified.account_id] == T0
    for row in (connected, legacy, inventoried):
        assert claimed[row.account_id] == CloudAccount.objects.get(pk=row.pk).created_at
    assert claimed[never_worked.account_id] is None


def test_0006_members_become_admins_so_that_nobody_loses_access(back_to):
    apps = back_to(("tenants", "0005_account_claims"))
    Tenant, OldMembership = apps.get_model("tenants", "Tenant"), apps.get_model("tenants", "Membership")
    User = apps.get_model("auth", "User")
    tenant = Tenant.objects.create(name="Acme", slug="acme", external_id="pkw-0123456789abcdef0123456789abcdef")
    member = OldMembership.objects.create(user=User.objects.create(username="bob"), tenant=tenant, role="member")
    admin = OldMembership.objects.create(user=User.objects.create(username="ann"), tenant=tenant, role="admin")

    back_to(*LATEST)

    assert set(Membership.objects.values_list("pk", "role")) == {(member.pk, "admin"), (admin.pk, "admin")}
