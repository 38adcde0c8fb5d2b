"""Defect 3 (issue 11): Parkway's own AWS account ID — shown with a Copy button
right above the connect form — was accepted as a customer's account, after
which every tick wrote a failed run. Every path refuses it, and an account
already stored with that ID is never parked and is shown as a problem."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from scheduling import parking
from scheduling.models import ParkingRun
from tenants import demo, services
from tenants.models import CloudAccount, CloudCredential
from tenants.validation import validate_customer_account_id
from tenants.verification import account_verify
from tests.conftest import OUR_ACCOUNT

pytestmark = pytest.mark.django_db

CUSTOMER_WORDS = f"{OUR_ACCOUNT} is Parkway's own AWS account — the one your role trusts. Enter the ID of your account, where your machines run."


def stored_parkway_account(tenant) -> CloudAccount:
    """As such a row exists today: registered before the refusal, claimed, with a role."""
    account = CloudAccount.objects.create(
        tenant=tenant, account_id=OUR_ACCOUNT, regions=["us-east-1"], status=CloudAccount.Status.CONNECTED,
        claimed_at=timezone.now(),
    )
    CloudCredential.objects.create(account=account, kind=CloudCredential.Kind.ROLE, role_arn=account.conventional_role_arn)
    return account


def test_validation_refuses_parkways_own_account_and_explains_the_difference():
    with pytest.raises(ValidationError) as exc:
        validate_customer_account_id(OUR_ACCOUNT)
    assert exc.value.messages == [CUSTOMER_WORDS]
    validate_customer_account_id("111111111111")  # any other account is fine


def test_validation_accepts_any_account_when_parkways_own_is_not_configured(settings):
    settings.PARKWAY_AWS_ACCOUNT_ID = ""
    validate_customer_account_id(OUR_ACCOUNT)


@pytest.mark.parametrize("connect", ["role", "legacy"])
def test_the_services_refuse_it(acme, connect, settings):
    settings.PARKWAY_ALLOW_LEGACY_USERS = True
    with pytest.raises(ValidationError) as exc:
        if connect == "role":
            services.account_connect_role(tenant=acme, account_id=OUR_ACCOUNT, regions=["us-east-1"], actor="cli")
        else:
            services.account_connect_legacy(
                tenant=acme, account_id=OUR_ACCOUNT, access_key_id="AKIA" + "A" * 16, secret_access_key="s" * 40,
                regions=["us-east-1"], actor="cli",
            )
    assert exc.value.message_dict["account_id"] == [CUSTOMER_WORDS]
    assert not CloudAccount.objects.exists()


@pytest.mark.parametrize("typed", [OUR_ACCOUNT, "1234-5678-9012", " 1234 5678 9012 "])
def test_the_connect_form_refuses_it_on_its_field(client, acme_member, typed):
    client.force_login(acme_member)
    response = client.post(reverse("tenants:connect"), {"account_id": typed, "regions": "us-east-1"})
    assert response.status_code == 400
    assert response.context["form"].errors["account_id"] == [CUSTOMER_WORDS]
    assert 'data-testid="error-account_id"' in response.content.decode()
    assert not CloudAccount.objects.exists()


def test_the_admin_add_form_refuses_it_in_staff_words(staff_client, acme):
    form = {"tenant": acme.pk, "account_id": OUR_ACCOUNT, "name": "", "regions": "us-east-1", "role_arn": ""}
    response = staff_client.post(reverse("admin:tenants_cloudaccount_add"), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["account_id"]
    assert errors == [
        f"{OUR_ACCOUNT} is Parkway's own AWS account — the one customers' roles trust. "
        "Enter the customer's account ID, where their machines run."
    ]
    assert not CloudAccount.objects.exists()


def test_a_stored_parkway_account_is_never_parked_and_writes_no_run(acme, standin):
    account = stored_parkway_account(acme)
    assert not parking.active_accounts().filter(pk=account.pk).exists()
    for _ in range(3):
        results = parking.run_tick()
        assert [r.account.pk for r in results] == []
    assert not ParkingRun.objects.exists()


def test_a_stored_parkway_account_fails_its_test_and_is_never_claimed(acme, standin):
    # Even with a role there that would let Parkway in, the test proves nothing about a customer.
    demo.seed_role(OUR_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    account = stored_parkway_account(acme)
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=None)
    account.refresh_from_db()
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "ParkwayAccount"
    assert result.message == CUSTOMER_WORDS and "customers' roles trust" in result.for_staff
    account.refresh_from_db()
    assert account.claimed_at is None
    assert account.status == CloudAccount.Status.ERROR and account.last_error == CUSTOMER_WORDS


def test_the_admin_flags_a_stored_parkway_account(staff_client, acme):
    account = stored_parkway_account(acme)
    changelist = staff_client.get(reverse("admin:tenants_cloudaccount_changelist")).content.decode()
    assert "Parkway's own account: never parked" in changelist
    change = staff_client.get(reverse("admin:tenants_cloudaccount_change", args=[account.pk])).content.decode()
    assert "never parked" in change and "customers&#x27; roles trust" in change


def test_admin_test_connection_on_it_explains_in_staff_words(staff_client, acme, standin):
    account = stored_parkway_account(acme)
    response = staff_client.post(
        reverse("admin:tenants_cloudaccount_changelist"), {"action": "test_connection", ACTION_CHECKBOX_NAME: [account.pk]},
        follow=True,
    )
    texts = [m.message for m in response.context["messages"]]
    assert any("customers' roles trust" in t for t in texts), texts
    assert not any("your role" in t for t in texts), texts
