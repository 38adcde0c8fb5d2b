"""No page scrolls sideways at 390 px (a phone) or 1280 px (a laptop), whatever
people typed: every text a customer or staff can fill holds its longest
accepted value (300 characters where the field takes that many), written
without spaces so that nothing can wrap at a word boundary.

The data is built with the models and services directly; each page is loaded
once and measured at both widths."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from scheduling import actions
from scheduling.models import Override, ParkingAction, ParkingLease, ParkingRun, Period, Resource, Schedule
from tenants import demo, services
from tenants.audit import audit_record
from tenants.models import CloudAccount, CloudCredential, Membership, Tenant
from tests.conftest import OUR_ACCOUNT

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery"
WIDTHS = (390, 1280)
ROLE_ACCOUNT, LEGACY_ACCOUNT = "111111111111", "222222222222"


def long(size: int, letter: str = "W") -> str:
    """`size` characters with no break opportunity: the widest text a field can hold."""
    return letter * size


def long_role_arn(account_id: str, size: int) -> str:
    """A role ARN of `size` characters that the grammar accepts (a long IAM path)."""
    head, tail = f"arn:aws:iam::{account_id}:role/", "/ParkwayAccess"
    return head + long(size - len(head) - len(tail), "p") + tail


def build_world() -> dict[str, object]:
    """Two tenants of one customer login, a role and a legacy account, a schedule,
    a machine with a snooze, parking history and audit events: every text at its longest."""
    User = get_user_model()
    tenant = Tenant.objects.create(name=long(200), slug="acme", contact_emails="ops@acme.test")
    other = Tenant.objects.create(name=long(200, "M"), slug="acme-eu", contact_emails="ops@acme.test")
    customer = User.objects.create_user(long(150, "u"), "alice@acme.test", PASSWORD, first_name=long(150), last_name=long(150))
    for each in (tenant, other):
        Membership.objects.create(user=customer, tenant=each, role=Membership.Role.ADMIN)
    User.objects.create_superuser("ops", "ops@parkway.test", PASSWORD, first_name=long(150), last_name=long(150))

    demo.seed_role(ROLE_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id)
    account = services.account_connect_role(
        tenant=tenant, account_id=ROLE_ACCOUNT, name=long(200), regions=["us-east-1", "eu-west-1", "ap-southeast-2"], actor="cli"
    )
    CloudCredential.objects.filter(account=account).update(role_arn=long_role_arn(ROLE_ACCOUNT, 2048))
    CloudAccount.objects.filter(pk=account.pk).update(
        status=CloudAccount.Status.ERROR, last_error=long(600, "E"), claimed_at=timezone.now()
    )
    key_id, secret = demo.seed_legacy_user(LEGACY_ACCOUNT)
    with override_settings(PARKWAY_ALLOW_LEGACY_USERS=True):
        legacy = services.account_connect_legacy(
            tenant=tenant, account_id=LEGACY_ACCOUNT, access_key_id=key_id, secret_access_key=secret,
            name=long(200, "L"), regions=["us-east-1"], actor="cli",
        )
    CloudAccount.objects.filter(pk=legacy.pk).update(
        status=CloudAccount.Status.CONNECTED, claimed_at=timezone.now(), last_error=long(600, "F")
    )
    now = timezone.now()
    ParkingLease.objects.create(
        account=account, until=now, last_tick_at=now, last_status="failed", last_error=long(600, "T")
    )

    schedule = Schedule.objects.create(tenant=tenant, name=long(100, "S"), description=long(300, "D"), timezone="UTC")
    Period.objects.create(
        schedule=schedule, begintime=dt.time(9), endtime=dt.time(17),
        weekdays=("mon," * 50)[:199], monthdays=("1," * 100)[:199], months=("jan," * 50)[:199],
    )
    template = Schedule.objects.create(tenant=None, name=long(100, "G"), description=long(300, "H"), timezone="UTC")
    Period.objects.create(schedule=template, begintime=dt.time(8), endtime=dt.time(18), weekdays="mon-fri")

    resource = Resource.objects.create(
        account=account, region="ap-southeast-2", resource_id="i-0123456789abcdef0", name=long(256, "N"),
        state="running", instance_type=long(32, "t"), asg_name=long(255, "A"), schedule_tag=long(256, "X"),
        failures=2, last_failure=long(300, "B"), retry_after=now + dt.timedelta(hours=1), first_seen_at=now, last_seen_at=now,
    )
    Resource.objects.create(
        account=account, region="us-east-1", resource_id="i-0fedcba9876543210", name=long(256, "O"),
        state="stopped", schedule=schedule, first_seen_at=now, last_seen_at=now,
    )
    actions.override_create(resource=resource, state="running", until=now + dt.timedelta(days=2), actor=customer, reason=long(300, "R"))
    Override.objects.create(
        resource=resource, state="stopped", until=now - dt.timedelta(hours=1), reason=long(300, "Q"),
        created_by_label=long(150, "c"), cancelled_at=now - dt.timedelta(hours=2),
    )
    run = ParkingRun.objects.create(
        account=account, tick_at=now, started_at=now, finished_at=now, status="failed", planned=1, failed=1, error=long(600, "Z")
    )
    ParkingAction.objects.create(
        run=run, resource=resource, action="stop", reason=long(300, "Y"), outcome="failed",
        error_code=long(100, "K"), error_message=long(600, "M"),
    )
    audit_record(
        action="schedule.updated", actor=customer, tenant=tenant,
        details={"name": long(300, "V"), "description": long(300, "V"), "reason": long(300, "V")},
    )
    return {"tenant": tenant, "other": other, "account": account, "legacy": legacy, "schedule": schedule,
            "template": template, "resource": resource, "run": run}


# The outermost elements reaching past the right edge (outside any scroll box): what to fix.
CULPRITS = """() => {
  const edge = window.innerWidth + 1, found = [];
  const clipped = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
    if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(a).overflowX) && a !== document.documentElement
        && a !== document.body) return true; } return false; };
  for (const el of document.querySelectorAll("body *")) {
    if (el.getBoundingClientRect().right <= edge || clipped(el)) continue;
    if (el.parentElement && el.parentElement.getBoundingClientRect().right > edge) continue;
    found.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : ""));
  }
  return found.slice(0, 6);
}"""


def overflow_at(page, widths: tuple[int, ...] = WIDTHS) -> list[str]:
    """The widths at which the page loaded in `page` scrolls sideways: how far, and because of what."""
    wide = []
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            wide.append(f"{width}px: {scroll}px wide, past the edge: {', '.join(page.evaluate(CULPRITS))}")
    return wide


def sign_in(page, url: str, username: str, submit: str) -> None:
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click(submit)
    page.wait_for_load_state()


def test_no_page_scrolls_sideways_with_the_longest_values(page, browser, live_server, standin):
    world = build_world()
    account, legacy, schedule, template, resource = (
        world["account"], world["legacy"], world["schedule"], world["template"], world["resource"]
    )
    problems: dict[str, list[str]] = {}
    missing: list[str] = []  # /favicon.ico was one, on every page
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

    def check(label: str) -> None:
        wide = overflow_at(page)
        if wide:
            problems[label] = wide

    # ---------------------------------------------------------------- the customer
    sign_in(page, "/accounts/login/", get_user_model().objects.get(email="alice@acme.test").username,
            "[data-testid=login-submit]")
    page.goto("/app/organisation/")
    check("choose organisation")
    page.click("[data-testid=choose-tenant-acme]")
    page.wait_for_load_state()
    for label, path in [
        ("overview", reverse("tenants:overview")),
        ("connect", reverse("tenants:connect")),
        ("role account", reverse("tenants:account", kwargs={"account_pk": account.pk})),
        ("legacy account", reverse("tenants:account", kwargs={"account_pk": legacy.pk})),
        ("resources", reverse("scheduling:resources")),
        ("resource", reverse("scheduling:resource", kwargs={"resource_pk": resource.pk})),
        ("schedules", reverse("scheduling:schedules")),
        ("schedule", reverse("scheduling:schedule", kwargs={"schedule_pk": schedule.pk})),
        ("template", reverse("scheduling:schedule", kwargs={"schedule_pk": template.pk})),
        ("new schedule from the template", reverse("scheduling:schedule_create") + f"?from={template.pk}"),
        ("activity", reverse("scheduling:activity")),
        ("change password", reverse("password_change")),
        ("members", reverse("tenants:members")),
        ("settings", reverse("tenants:settings")),
        ("disconnect", reverse("tenants:account_disconnect", kwargs={"account_pk": account.pk})),
        ("delete schedule", reverse("scheduling:schedule_delete", kwargs={"schedule_pk": schedule.pk})),
    ]:
        page.goto(path)
        check(label)

    # The confirmation of an action on a selection lists each machine and what it will do.
    page.goto(reverse("scheduling:resources"))
    page.locator("input[name=resource]").first.check()
    page.select_option("#bulk_action", "assign")
    page.click("[data-testid=bulk-submit]")
    page.wait_for_selector("[data-testid=bulk-confirm]")
    check("selection, confirmation")

    # Forms sent back with what was typed, too long, and the errors beside it.
    page.goto(reverse("tenants:connect"))
    page.fill("#id_account_id", "333333333333")
    page.fill("#id_name", long(500))
    page.fill("#id_role_arn", long_role_arn("333333333333", 3000))
    page.click("[data-testid=connect-submit]")
    page.wait_for_selector("[data-testid=error-name]")
    check("connect, refused")
    page.goto(reverse("tenants:account", kwargs={"account_pk": legacy.pk}))
    page.fill("[data-testid=switch-form] input[name=role_arn]", long_role_arn(LEGACY_ACCOUNT, 2000))
    page.click("[data-testid=switch-to-role]")
    page.wait_for_selector("[data-testid=switch-form] .errorlist")
    check("legacy account, switch refused")
    page.goto(reverse("scheduling:resource", kwargs={"resource_pk": resource.pk}))
    page.fill("[data-testid=snooze-form] input[name=reason]", long(400))
    page.fill("[data-testid=snooze-form] input[name=until]", "2099-01-01T10:00")
    page.click("[data-testid=snooze-submit]")
    page.wait_for_selector("[data-testid=error-reason]")
    check("resource, snooze refused")
    page.goto(reverse("scheduling:schedule_create"))
    page.fill("#id_name", long(300))
    page.fill("#id_description", long(300))
    page.fill("#id_periods-0-weekdays", long(300))
    page.click("[data-testid=save-schedule]")
    page.wait_for_selector("[data-testid=error-name]")
    check("new schedule, refused")

    # ---------------------------------------------------------------- staff
    staff = browser.new_context(base_url=live_server.url)
    page = staff.new_page()
    page.set_default_timeout(15000)
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    try:
        sign_in(page, "/admin/login/", "ops", "input[type=submit]")
        for label, name, args in [
            ("admin index", "admin:index", []),
            ("admin tenants", "admin:tenants_tenant_changelist", []),
            ("admin tenant", "admin:tenants_tenant_change", [world["tenant"].pk]),
            ("admin accounts", "admin:tenants_cloudaccount_changelist", []),
            ("admin role account", "admin:tenants_cloudaccount_change", [account.pk]),
            ("admin legacy account", "admin:tenants_cloudaccount_change", [legacy.pk]),
            ("admin credentials", "admin:tenants_cloudcredential_changelist", []),
            ("admin audit events", "admin:tenants_auditevent_changelist", []),
            ("admin schedules", "admin:scheduling_schedule_changelist", []),
            ("admin schedule", "admin:scheduling_schedule_change", [schedule.pk]),
            ("admin resources", "admin:scheduling_resource_changelist", []),
            ("admin resource", "admin:scheduling_resource_change", [resource.pk]),
            ("admin snoozes", "admin:scheduling_override_changelist", []),
            ("admin parking runs", "admin:scheduling_parkingrun_changelist", []),
            ("admin parking run", "admin:scheduling_parkingrun_change", [world["run"].pk]),
            ("admin parking actions", "admin:scheduling_parkingaction_changelist", []),
            ("admin users", "admin:auth_user_changelist", []),
        ]:
            page.goto(reverse(name, args=args))
            check(label)

        # The migrate-to-role page, then again with a 3,000-character ARN typed for the legacy account.
        page.goto(reverse("admin:tenants_cloudaccount_changelist"))
        for each in (account, legacy):
            page.check(f"input[name=_selected_action][value='{each.pk}']")
        page.select_option("select[name=action]", "migrate_to_role")
        page.click("button[name=index]")
        page.wait_for_selector(f"#account-{legacy.pk}")
        check("admin migrate to role")
        page.fill(f"input[name=role_arn_{legacy.pk}]", long_role_arn(LEGACY_ACCOUNT, 3000))
        page.click("button[name=confirm][value=recheck]")
        page.wait_for_selector(f"#account-{legacy.pk}")
        check("admin migrate to role, 3,000-character ARN")
    finally:
        staff.close()

    assert not problems, f"pages that scroll sideways: {problems}"
    assert not missing, f"not found: {sorted(set(missing))}"
