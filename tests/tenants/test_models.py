import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from tenants import audit, services
from tenants.models import AuditEvent, CloudAccount, CloudCredential, Tenant
from tenants.validation import validate_external_id

pytestmark = pytest.mark.django_db


def test_external_id_is_generated_unique_and_in_aws_charset():
    ids = {Tenant.objects.create(name=f"T{i}", slug=f"t{i}").external_id for i in range(50)}
    assert len(ids) == 50
    for external_id in ids:
        validate_external_id(external_id)
        # 128 bits of randomness = 32 hex digits after the prefix.
        assert re.fullmatch(r"pkw-[0-9a-f]{32}", external_id)


def test_external_id_is_not_editable_in_forms():
    assert Tenant._meta.get_field("external_id").editable is False


def test_contact_emails_are_validated(acme):
    acme.contact_emails = "ops@acme.test, not-an-email"
    with pytest.raises(ValidationError) as exc:
        acme.full_clean()
    assert "not-an-email" in str(exc.value.message_dict["contact_emails"])


def test_rotate_external_id_changes_it_and_audits_without_the_full_value(acme, staff):
    old = acme.external_id
    new = services.tenant_rotate_external_id(tenant=acme, actor=staff)
    acme.refresh_from_db()
    assert acme.external_id == new != old
    event = AuditEvent.objects.get(action="tenant.external_id_rotated")
    assert event.tenant == acme and event.actor == staff
    assert old not in str(event.details) and new not in str(event.details)


def test_only_one_active_credential_per_account_is_enforced_by_the_database(acme):
    account = services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    with pytest.raises(IntegrityError), transaction.atomic():
        CloudCredential.objects.create(
            account=account, kind=CloudCredential.Kind.ROLE, role_arn="arn:aws:iam::111111111111:role/Other"
        )
    # A retired one may sit beside the active one: history stays.
    account.active_credential().retire()
    CloudCredential.objects.create(account=account, kind="role", role_arn="arn:aws:iam::111111111111:role/Other")
    assert account.credentials.count() == 2
    assert account.active_credential().role_arn.endswith("role/Other")


def test_account_connect_role_defaults_to_the_conventional_role(acme):
    account = services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    assert account.status == CloudAccount.Status.PENDING
    assert account.active_credential().role_arn == "arn:aws:iam::111111111111:role/ParkwayAccess"
    assert AuditEvent.objects.filter(action="account.connected_role", account=account).exists()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"account_id": "123"}, "account_id"),
        ({"regions": ["atlantis-1"]}, "regions"),
        ({"regions": []}, "regions"),
        ({"role_arn": "arn:aws:iam::999999999999:role/ParkwayAccess"}, "role_arn"),
        ({"role_arn": "arn:aws-cn:iam::111111111111:role/ParkwayAccess"}, "role_arn"),
        ({"role_arn": "nonsense"}, "role_arn"),
    ],
)
def test_account_connect_role_rejects_bad_input_and_writes_nothing(acme, kwargs, field):
    args = {"tenant": acme, "account_id": "111111111111", "regions": ["us-east-1"], "actor": "cli"} | kwargs
    with pytest.raises(ValidationError) as exc:
        services.account_connect_role(**args)
    assert field in exc.value.message_dict or field == "account_id"
    assert not CloudAccount.objects.exists() and not CloudCredential.objects.exists()
    assert not AuditEvent.objects.exists()


def test_registering_an_account_id_another_tenant_registered_or_claimed_succeeds_unclaimed(acme, globex):
    squat = services.account_connect_role(tenant=globex, account_id="111111111111", regions=["us-east-1"], actor="cli")
    mine = services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    assert squat.claimed_at is None and mine.claimed_at is None
    CloudAccount.objects.filter(pk=squat.pk).update(claimed_at=timezone.now())
    # Registering reveals nothing either way: only a proven claim is exclusive.
    services.account_connect_role(tenant=Tenant.objects.create(name="Initech", slug="initech"), account_id="111111111111",
                                  regions=["us-east-1"], actor="cli")
    assert CloudAccount.objects.filter(account_id="111111111111").count() == 3


def test_a_tenant_registers_an_account_id_once(acme):
    services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    with pytest.raises(ValidationError) as exc:
        services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    assert "already registered in your organisation" in " ".join(exc.value.messages)
    with pytest.raises(IntegrityError), transaction.atomic():
        CloudAccount.objects.create(tenant=acme, account_id="111111111111", regions=["us-east-1"])


def test_the_database_lets_only_one_tenant_claim_an_account_id(acme, globex):
    first = services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    second = services.account_connect_role(tenant=globex, account_id="111111111111", regions=["us-east-1"], actor="cli")
    CloudAccount.objects.filter(pk=first.pk).update(claimed_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        CloudAccount.objects.filter(pk=second.pk).update(claimed_at=timezone.now())


def test_audit_events_are_append_only(acme):
    event = audit.audit_record(action="x", actor="system", tenant=acme)
    event.action = "y"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


@override_settings(PARKWAY_ALLOW_LEGACY_USERS=True)
def test_credential_repr_and_str_never_hold_the_secret(acme):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    account = services.account_connect_legacy(
        tenant=acme, account_id="111111111111", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key=secret, regions=["us-east-1"], actor="cli",
    )
    credential = account.active_credential()
    assert credential.secret_access_key == secret
    for text in (repr(credential), str(credential), repr(account), str(AuditEvent.objects.get().details)):
        assert secret not in text
        assert "AKIAIOSFODNN7EXAMPLE" not in text
    assert "AKIA…MPLE" in str(credential)


@override_settings(PARKWAY_ALLOW_LEGACY_USERS=True)
def test_retiring_destroys_the_secret_and_keeps_the_masked_key(acme):
    account = services.account_connect_legacy(
        tenant=acme, account_id="111111111111", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", regions=["us-east-1"], actor="cli",
    )
    credential = account.active_credential()
    credential.retire()
    credential.refresh_from_db()
    assert credential.secret_access_key == "" and credential.retired_at is not None
    # Only the masked key ID stays, as documented (issue 9): not the whole one.
    assert credential.access_key_id == credential.masked_key_id == "AKIA…MPLE"
    assert "AKIAIOSFODNN7EXAMPLE" not in str([e.details for e in AuditEvent.objects.all()])


@override_settings(PARKWAY_ALLOW_LEGACY_USERS=True)
def test_the_database_refuses_a_retired_credential_with_a_secret_or_a_whole_key_id(acme):
    account = services.account_connect_legacy(
        tenant=acme, account_id="111111111111", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", regions=["us-east-1"], actor="cli",
    )
    credential = account.active_credential()
    with pytest.raises(IntegrityError), transaction.atomic():
        CloudCredential.objects.filter(pk=credential.pk).update(retired_at=timezone.now(), secret_access_key="")
    with pytest.raises(IntegrityError), transaction.atomic():
        CloudCredential.objects.filter(pk=credential.pk).update(retired_at=timezone.now(), access_key_id="AKIA…MPLE")
    CloudCredential.objects.filter(pk=credential.pk).update(
        retired_at=timezone.now(), access_key_id="AKIA…MPLE", secret_access_key=""
    )


@pytest.mark.parametrize(
    ("status", "last_error", "health"),
    [
        ("connected", "", ("Connected", "ok", "")),
        # A failed switch to a role: the keys still work, but "Connected" beside a problem misleads.
        ("connected", "Migration to IAM role failed: …", ("Needs attention", "attention", "Migration to IAM role failed: …")),
        ("pending", "", ("Pending", "pending", "")),
        ("pending", "Migration to IAM role failed: …", ("Needs attention", "attention", "Migration to IAM role failed: …")),
        ("error", "AccessDenied", ("Error", "bad", "AccessDenied")),
        ("error", "", ("Error", "bad", "The last connection test failed.")),
        ("disabled", "", ("Disabled", "neutral", "")),
    ],
)
def test_an_accounts_badge_and_problem_come_together(acme, status, last_error, health):
    account = CloudAccount(tenant=acme, account_id="111111111111", status=status, last_error=last_error)
    assert (account.health.label, account.health.tone, account.health.problem) == health
