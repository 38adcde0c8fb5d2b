"""Staff migrate two legacy accounts from the admin, in a real browser."""

import pytest
from django.contrib.auth import get_user_model
from django.test.utils import override_settings

from tenants import demo, services
from tenants.models import CloudAccount, Tenant
from tests.conftest import OUR_ACCOUNT

pytestmark = pytest.mark.django_db(transaction=True)


def legacy_customer(slug: str, account_id: str) -> CloudAccount:
    tenant = Tenant.objects.create(name=slug.title(), slug=slug, contact_emails=f"ops@{slug}.test")
    key_id, secret = demo.seed_legacy_user(account_id)
    demo.seed_role(account_id, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id)
    with override_settings(PARKWAY_ALLOW_LEGACY_USERS=True):
        return services.account_connect_legacy(
            tenant=tenant, account_id=account_id, access_key_id=key_id, secret_access_key=secret,
            regions=["us-east-1"], actor="cli",
        )


def test_staff_migrate_two_legacy_accounts_with_a_confirmation(page, standin):
    first = legacy_customer("hooli", "444444444444")
    second = legacy_customer("umbrella", "555555555555")
    get_user_model().objects.create_superuser("ops", "ops@parkway.test", "correct horse battery")

    page.goto("/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "correct horse battery")
    page.click("input[type=submit]")
    page.goto("/admin/tenants/cloudaccount/?auth=legacy")
    assert page.locator(".pw-badge-legacy").count() >= 2

    for account in (first, second):
        page.check(f"input[name=_selected_action][value='{account.pk}']")
    page.select_option("select[name=action]", "migrate_to_role")
    page.click("button[name=index]")

    # The confirmation page: each account, its proposed role, a pre-check; nothing changed yet.
    page.wait_for_selector(f"#account-{first.pk}")
    assert page.locator(f"#account-{second.pk}").is_visible()
    assert "arn:aws:iam::444444444444:role/ParkwayAccess" in page.content()
    assert all(a.active_credential().is_legacy for a in CloudAccount.objects.all())

    page.click("button[name=confirm][value=yes]")
    page.wait_for_selector(".messagelist")
    text = page.locator(".messagelist").inner_text()
    assert "444444444444" in text and "555555555555" in text
    for account in (first, second):
        account.refresh_from_db()
        assert account.active_credential().kind == "role"
