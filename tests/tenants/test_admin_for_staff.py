"""The admin speaks to staff (issue 11, defects 8 and 9): messages written for
customers ("your External ID", "contact support") are reworded for staff, who
may be told which tenant holds an account (customers never are); the migrate
confirmation counts and offers only the accounts it will migrate."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from tenants import demo, services
from tenants.models import CloudAccount, Tenant
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:tenants_cloudaccount_changelist"
CUSTOMER_VOICE = ("your Parkway page", "your External ID", "contact support", "not yours")


def messages_of(response) -> list[str]:
    return [m.message for m in response.context["messages"]]


def globex_holds_acme_account(globex) -> None:
    """Globex proved control of ACME_ACCOUNT first (its own role trusts its External ID)."""
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=globex.external_id)
    held = services.account_connect_role(tenant=globex, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    CloudAccount.objects.filter(pk=held.pk).update(claimed_at=timezone.now(), status=CloudAccount.Status.CONNECTED)


ACME_ROLE = f"arn:aws:iam::{ACME_ACCOUNT}:role/AcmeParkway"


def acme_role_in_the_same_account(acme) -> None:
    demo.seed_role(ACME_ACCOUNT, role_name="AcmeParkway", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)


# --------------------------------------------------------------------------- defect 9: staff wording


def test_admin_test_connection_explains_a_refused_role_to_staff(staff_client, acme, standin):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id="someone-elses")
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    response = staff_client.post(reverse(CHANGELIST), {"action": "test_connection", ACTION_CHECKBOX_NAME: [account.pk]}, follow=True)
    (text,) = [t for t in messages_of(response) if ACME_ACCOUNT in t]
    assert "the tenant's External ID" in text and "The customer must" in text, text
    assert not any(words in text for words in CUSTOMER_VOICE), text
    # The customer's own page keeps the customer's words.
    account.refresh_from_db()
    assert "your Parkway page" in account.last_error


def test_admin_test_connection_names_the_tenant_holding_the_account(staff_client, acme, globex, standin):
    globex_holds_acme_account(globex)
    acme_role_in_the_same_account(acme)
    registration = services.account_connect_role(
        tenant=acme, account_id=ACME_ACCOUNT, role_arn=ACME_ROLE, regions=["us-east-1"], actor="cli"
    )
    response = staff_client.post(
        reverse(CHANGELIST), {"action": "test_connection", ACTION_CHECKBOX_NAME: [registration.pk]}, follow=True
    )
    (text,) = [t for t in messages_of(response) if t.startswith("Acme /")]
    assert "already connected to Parkway by the tenant Globex (globex)" in text, text
    assert "contact support" not in text
    registration.refresh_from_db()
    assert registration.claimed_at is None
    # What the customer reads (stored on their account) never names the holder.
    assert "Globex" not in registration.last_error and "another organisation" in registration.last_error


def test_self_service_never_names_the_tenant_holding_the_account(client, acme, acme_member, globex, standin):
    globex_holds_acme_account(globex)
    acme_role_in_the_same_account(acme)
    client.force_login(acme_member)
    response = client.post(
        reverse("tenants:connect"), {"account_id": ACME_ACCOUNT, "role_arn": ACME_ROLE, "regions": "us-east-1"}, follow=True
    )
    html = response.content.decode()
    assert "another organisation" in html
    assert "Globex" not in html and "globex" not in html


def test_admin_migration_names_the_tenant_holding_the_account(staff_client, acme, globex, standin):
    legacy, _, _ = connect_legacy(acme, ACME_ACCOUNT, role=None)
    CloudAccount.objects.filter(pk=legacy.pk).update(claimed_at=None)  # registered, never proven
    globex_holds_acme_account(globex)
    acme_role_in_the_same_account(acme)
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [legacy.pk], f"role_arn_{legacy.pk}": ACME_ROLE, "confirm": "yes"},
        follow=True,
    )
    (text,) = [t for t in messages_of(response) if t.startswith("Acme /")]
    assert text.startswith(f"Acme / {ACME_ACCOUNT}: Not migrated") and "by the tenant Globex (globex)" in text, text
    assert "contact support" not in text
    legacy.refresh_from_db()
    assert legacy.active_credential().is_legacy
    assert "Globex" not in legacy.last_error  # the customer's copy


# --------------------------------------------------------------------------- defect 8: the migrate page


@pytest.fixture
def legacy_and_role(acme, globex, standin):
    legacy, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    initech = Tenant.objects.create(name="Initech", slug="initech")
    on_role = services.account_connect_role(tenant=initech, account_id="333333333333", regions=["us-east-1"], actor="cli")
    return legacy, on_role


def test_migrate_page_counts_only_the_accounts_it_will_migrate(staff_client, legacy_and_role):
    legacy, on_role = legacy_and_role
    response = staff_client.post(reverse(CHANGELIST), {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [legacy.pk, on_role.pk]})
    page = response.content.decode()
    assert "Migrate 1 account<" in page and "Migrate 2" not in page and "account(s)" not in page
    assert "1 of 1 account passed the pre-check" in page
    # The skipped one is named, with why.
    assert 'data-testid="skipped"' in page and "333333333333" in page and "Initech" in page
    assert "already on an IAM role" in page
    # The admin's own button styles.
    assert 'class="button default" data-testid="migrate"' in page
    assert 'value="recheck" class="button"' in page


def test_migrate_page_offers_no_migration_when_every_account_is_on_a_role(staff_client, legacy_and_role):
    _, on_role = legacy_and_role
    response = staff_client.post(reverse(CHANGELIST), {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [on_role.pk]})
    page = response.content.decode()
    assert 'data-testid="nothing-to-migrate"' in page
    assert 'name="confirm" value="yes"' not in page
