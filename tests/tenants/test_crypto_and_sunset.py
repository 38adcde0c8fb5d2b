import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tenants import aws, services
from tenants.crypto import DecryptionError
from tenants.models import CloudCredential, LegacyCredentialsDisabled

pytestmark = pytest.mark.django_db

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_access_key FROM tenants_cloudcredential WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def legacy_account(acme, settings):
    settings.PARKWAY_ALLOW_LEGACY_USERS = True
    account = services.account_connect_legacy(
        tenant=acme, account_id="111111111111", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key=SECRET, regions=["us-east-1"], actor="cli",
    )
    settings.PARKWAY_ALLOW_LEGACY_USERS = False
    return account


def test_secret_is_encrypted_in_the_database(legacy_account):
    credential = legacy_account.active_credential()
    stored = raw_secret(credential.pk)
    assert SECRET not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert CloudCredential.objects.get(pk=credential.pk).secret_access_key == SECRET


def test_rotate_encryption_keys_re_encrypts_with_the_first_key(legacy_account, settings):
    credential = legacy_account.active_credential()
    old_key = settings.PARKWAY_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.PARKWAY_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "1" in out.getvalue()
    # Readable with the new key alone: the old key can now be removed.
    settings.PARKWAY_ENCRYPTION_KEYS = [new_key]
    assert CloudCredential.objects.get(pk=credential.pk).secret_access_key == SECRET
    assert Fernet(new_key.encode()).decrypt(raw_secret(credential.pk).encode()).decode() == SECRET


def test_a_missing_key_is_a_clear_error_not_garbage(legacy_account, settings):
    settings.PARKWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError) as exc:
        CloudCredential.objects.get(pk=legacy_account.active_credential().pk)
    assert SECRET not in str(exc.value)


def test_new_legacy_credentials_are_refused_after_the_sunset_in_the_service(acme):
    with pytest.raises(ValidationError) as exc:
        services.account_connect_legacy(
            tenant=acme, account_id="111111111111", access_key_id="AKIAIOSFODNN7EXAMPLE",
            secret_access_key=SECRET, regions=["us-east-1"], actor="cli",
        )
    assert exc.value.code == "legacy_disabled"
    assert "IAM role" in exc.value.messages[0]
    assert not acme.accounts.exists()


def test_new_legacy_credentials_are_refused_at_the_model_layer_too(acme):
    account = services.account_connect_role(tenant=acme, account_id="111111111111", regions=["us-east-1"], actor="cli")
    account.active_credential().retire()
    with pytest.raises(LegacyCredentialsDisabled):
        CloudCredential.objects.create(
            account=account, kind=CloudCredential.Kind.LEGACY_USER,
            access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key=SECRET,
        )
    assert account.credentials.filter(kind="legacy_user").count() == 0


def test_existing_legacy_credentials_keep_working_and_warn_on_every_use(legacy_account, caplog):
    credential = legacy_account.active_credential()
    with caplog.at_level(logging.WARNING, logger="tenants.aws"):
        for _ in range(2):
            session = aws.session_for(legacy_account)
            assert session.get_credentials().access_key == "AKIAIOSFODNN7EXAMPLE"
    warnings = [r for r in caplog.records if "Legacy IAM user keys" in r.getMessage()]
    assert len(warnings) == 2
    assert all(SECRET not in r.getMessage() and credential.access_key_id not in r.getMessage() for r in warnings)
    # Existing rows can still be updated (verified_at) after the sunset.
    credential.verified_at = credential.created_at
    credential.save(update_fields=["verified_at"])


@override_settings(PARKWAY_ALLOW_LEGACY_USERS=True)
def test_legacy_credentials_can_be_added_while_the_setting_allows(acme):
    account = services.account_connect_legacy(
        tenant=acme, account_id="111111111111", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key=SECRET, regions=["us-east-1"], actor="cli",
    )
    assert account.active_credential().is_legacy


@override_settings(PARKWAY_ALLOW_LEGACY_USERS=True)
@pytest.mark.parametrize(
    "key_id, secret, field",
    [("AKIA123", SECRET, "access_key_id"), ("AKIAIOSFODNN7EXAMPLE", "short", "secret_access_key")],
)
def test_legacy_keys_are_validated(acme, key_id, secret, field):
    with pytest.raises(ValidationError) as exc:
        services.account_connect_legacy(
            tenant=acme, account_id="111111111111", access_key_id=key_id,
            secret_access_key=secret, regions=["us-east-1"], actor="cli",
        )
    assert secret not in str(exc.value) or secret == SECRET
    assert not acme.accounts.exists()
