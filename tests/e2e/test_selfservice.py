"""The customer's paths through the self-service page, in a real browser,
against the AWS stand-in (which checks trust policies and External IDs)."""

import datetime as dt

import pytest
from django.test.utils import override_settings

from scheduling import parking
from scheduling.models import Override, Period, Resource, Schedule
from tenants import demo, services
from tenants.models import CloudAccount
from tests.conftest import OUR_ACCOUNT
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_copies_the_external_id_and_connects_an_account_by_role(page, customer, standin):
    log_in(page)
    page.goto("/app/connect/")
    page.click("[data-testid=copy-external-id]")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == customer.external_id
    # Step 1 happens in AWS: the customer creates our role with the External ID they copied.
    demo.seed_role("111111111111", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=copied)
    # Steps 2 and 3: paste the account ID, connect and test.
    page.fill("#id_account_id", "111111111111")
    page.click("[data-testid=connect-submit]")
    page.wait_for_selector("[data-testid=messages]")
    assert "Connected" in page.locator("[data-testid=messages]").inner_text()
    account = CloudAccount.objects.get(account_id="111111111111")
    assert account.tenant == customer and account.status == CloudAccount.Status.CONNECTED
    page.goto("/app/")
    assert "111111111111" in page.locator("[data-testid=accounts]").inner_text()


def test_customer_switches_a_legacy_account_to_a_role(page, customer, standin):
    key_id, secret = demo.seed_legacy_user("222222222222")
    with override_settings(PARKWAY_ALLOW_LEGACY_USERS=True):
        account = services.account_connect_legacy(
            tenant=customer, account_id="222222222222", access_key_id=key_id, secret_access_key=secret,
            regions=["us-east-1"], actor="cli",
        )
    demo.seed_role("222222222222", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=customer.external_id)
    log_in(page)
    notice = page.locator("[data-testid=legacy-notice]")
    assert notice.get_attribute("data-account-id") == "222222222222"
    assert secret not in page.content()
    page.click("[data-testid=switch-cta]")
    page.click("#switch-to-role")
    page.wait_for_selector("[data-testid=delete-key-reminder]")
    assert "delete" in page.locator("[data-testid=delete-key-reminder]").inner_text().lower()
    credential = account.active_credential()
    assert credential.kind == "role" and credential.role_arn.endswith(":role/ParkwayAccess")


def test_customer_snoozes_a_machine_and_sees_the_snooze(page, customer, standin):
    demo.seed_role("111111111111", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=customer.external_id)
    account = services.account_connect_role(tenant=customer, account_id="111111111111", regions=["us-east-1"], actor="cli")
    schedule = Schedule.objects.create(tenant=customer, name="office", timezone="UTC")
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
    (instance_id,) = demo.seed_instances("111111111111", "us-east-1", 1, tags={"Schedule": "office", "Name": "build-box"})
    parking.park_account(account_id=account.pk, at=dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc))
    log_in(page)
    page.goto("/app/resources/")
    page.locator(f"[data-resource-id='{instance_id}'] a").first.click()
    page.select_option("[data-testid=snooze-hours]", "2")
    page.click("[data-testid=snooze-for-submit]")
    page.wait_for_selector("[data-testid=active-snooze]")
    assert "running" in page.locator("[data-testid=active-snooze]").inner_text()
    override = Override.objects.get(resource=Resource.objects.get(resource_id=instance_id))
    assert override.state == "running" and override.cancelled_at is None
    page.click("[data-testid=cancel-snooze]")
    page.wait_for_selector("[data-testid=snooze-for-form]")
    override.refresh_from_db()
    assert override.cancelled_at is not None


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_fit_the_screen(page, customer, standin, width):
    demo.seed_role("111111111111", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=customer.external_id)
    services.account_connect_role(tenant=customer, account_id="111111111111", regions=["us-east-1"], actor="cli")
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page)
    for path in ("/app/", "/app/connect/", "/app/resources/", "/app/schedules/", "/app/activity/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways at {width}px"
