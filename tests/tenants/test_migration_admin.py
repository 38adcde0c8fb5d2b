"""Admin: "Migrate to IAM role…" (confirmation with pre-checks, per-account ARN,
per-account results), "Email migration instructions", and the index panel."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants import demo, services
from tenants.models import AuditEvent, CloudAccount, Tenant
from tenants.onboarding import quick_create_url
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT
from tests.tenants.test_migration import account_state, connect_legacy

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:tenants_cloudaccount_changelist"


def messages_of(response) -> list[str]:
    return [m.message for m in response.context["messages"]]


@pytest.fixture
def accounts(acme, globex, standin):
    """acme: ready to migrate; globex: legacy, its role is named "Custom"; initech: on a role."""
    ready, _, acme_secret = connect_legacy(acme, ACME_ACCOUNT)
    custom, _, globex_secret = connect_legacy(globex, "222222222222", role=None)
    demo.seed_role("222222222222", role_name="Custom", trusted_account_id=OUR_ACCOUNT, external_id=globex.external_id)
    initech = Tenant.objects.create(name="Initech", slug="initech")
    on_role = services.account_connect_role(tenant=initech, account_id="333333333333", regions=["us-east-1"], actor="cli")
    return {"ready": ready, "custom": custom, "on_role": on_role, "secrets": [acme_secret, globex_secret]}


def test_confirmation_page_lists_each_account_with_a_precheck_and_changes_nothing(staff_client, accounts):
    ready, custom, on_role = accounts["ready"], accounts["custom"], accounts["on_role"]
    before = [account_state(a) for a in (ready, custom)]
    events = AuditEvent.objects.count()
    response = staff_client.post(
        reverse(CHANGELIST), {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [ready.pk, custom.pk, on_role.pk]}
    )
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Acme", "Globex", "Initech", ACME_ACCOUNT, "222222222222", "333333333333", "pw-badge-legacy"):
        assert text in page
    assert f'name="role_arn_{ready.pk}" value="arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess"' in page
    assert f'name="role_arn_{on_role.pk}"' not in page  # nothing to migrate
    rows = {row["account"].pk: row["check"] for row in response.context["rows"]}
    assert rows[ready.pk].outcome == "ready"
    assert rows[custom.pk].outcome == "failed" and "does not exist" in rows[custom.pk].message
    assert on_role.pk not in rows
    assert [row["account"].pk for row in response.context["skipped"]] == [on_role.pk]
    assert "1 of 2 accounts passed the pre-check" in page
    assert "delete the access key themselves" in page
    assert [account_state(a) for a in (ready, custom)] == before and AuditEvent.objects.count() == events
    for secret in accounts["secrets"]:
        assert secret not in page


def test_the_role_arn_is_editable_per_account_and_can_be_checked_again(staff_client, accounts):
    custom = accounts["custom"]
    custom_arn = "arn:aws:iam::222222222222:role/Custom"
    recheck = staff_client.post(
        reverse(CHANGELIST),
        {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [custom.pk], f"role_arn_{custom.pk}": custom_arn, "confirm": "recheck"},
    )
    assert recheck.status_code == 200
    assert recheck.context["rows"][0]["check"].outcome == "ready"
    assert f'value="{custom_arn}"' in recheck.content.decode()
    assert custom.active_credential().is_legacy


def test_confirming_migrates_each_account_and_reports_each_result(staff_client, staff, accounts):
    ready, custom, on_role = accounts["ready"], accounts["custom"], accounts["on_role"]
    custom_before = account_state(custom)
    response = staff_client.post(
        reverse(CHANGELIST),
        {
            "action": "migrate_to_role",
            ACTION_CHECKBOX_NAME: [ready.pk, custom.pk, on_role.pk],
            f"role_arn_{ready.pk}": "",  # empty: the conventional role
            f"role_arn_{custom.pk}": "arn:aws:iam::222222222222:role/ParkwayAccess",  # the wrong one
            "confirm": "yes",
        },
        follow=True,
    )
    assert response.status_code == 200
    texts = messages_of(response)
    assert any(t.startswith(f"Acme / {ACME_ACCOUNT}: Migrated to the IAM role") and "Delete the IAM user's access key" in t for t in texts), texts
    assert any(t.startswith("Globex / 222222222222: Not migrated") for t in texts), texts
    assert any(t.startswith("Initech / 333333333333: skipped: Already on the IAM role") for t in texts), texts
    assert (
        "1 account migrated, 1 failed, 1 skipped (already on a role). "
        "Ask each migrated customer to delete the IAM user's access key Parkway used (named above)." in texts
    )
    assert ready.active_credential().role_arn == f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess"
    assert account_state(custom) == custom_before
    assert AuditEvent.objects.get(action="account.migrated_to_role").actor == staff
    for secret in accounts["secrets"]:
        assert all(secret not in t for t in texts)

    # Then with the ARN corrected on the confirmation page.
    staff_client.post(
        reverse(CHANGELIST),
        {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [custom.pk], f"role_arn_{custom.pk}": "arn:aws:iam::222222222222:role/Custom", "confirm": "yes"},
    )
    assert custom.active_credential().role_arn == "arn:aws:iam::222222222222:role/Custom"


def test_migrating_is_refused_for_too_many_accounts_at_once(staff_client, accounts, monkeypatch):
    from tenants.admin import CloudAccountAdmin

    monkeypatch.setattr(CloudAccountAdmin, "max_migration_batch", 1)
    response = staff_client.post(
        reverse(CHANGELIST), {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [accounts["ready"].pk, accounts["custom"].pk]}, follow=True
    )
    assert any("migrate_to_roles" in t for t in messages_of(response))
    assert accounts["ready"].active_credential().is_legacy


# --------------------------------------------------------------------------- instructions email


def test_instructions_email_has_everything_the_customer_needs(staff_client, staff, accounts, acme, settings):
    settings.PARKWAY_LEGACY_DEADLINE = dt.date(2027, 3, 31)
    settings.PARKWAY_TEMPLATE_URL = "https://parkway-templates.s3.amazonaws.com/parkway-role.yaml"
    settings.PARKWAY_PUBLIC_URL = "https://portal.parkway.test"
    acme.contact_emails = "ops@acme.test, cto@acme.test"
    acme.save()
    ready = accounts["ready"]
    masked = ready.active_credential().masked_key_id
    with time_machine.travel(dt.datetime(2027, 1, 15, 12, 0, tzinfo=dt.timezone.utc)):
        staff_client.force_login(staff)  # a session opened at that time
        response = staff_client.post(
            reverse(CHANGELIST),
            {"action": "email_migration_instructions", ACTION_CHECKBOX_NAME: [ready.pk]},
            follow=True,
        )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@acme.test", "cto@acme.test"]
    assert "Action needed by 31 March 2027" in message.subject and "IAM role" in message.subject
    body = message.body
    assert OUR_ACCOUNT in body and acme.external_id in body
    assert quick_create_url(acme) in body  # unescaped: & stays &
    assert "https://portal.parkway.test/app/" in body
    assert "31 March 2027" in body
    assert ACME_ACCOUNT in body and masked in body
    assert "delete the IAM user's access key" in body
    for secret in accounts["secrets"]:
        assert secret not in body
    assert ready.active_credential().access_key_id not in body
    event = AuditEvent.objects.get(action="tenant.migration_instructions_sent")
    assert (event.tenant, event.actor) == (acme, staff)
    assert event.details["recipients"] == ["ops@acme.test", "cto@acme.test"] and event.details["accounts"] == [ACME_ACCOUNT]
    assert acme.external_id not in str(event.details)
    assert any("sent to ops@acme.test, cto@acme.test" in t for t in messages_of(response))


def test_instructions_email_without_a_template_url_says_how_to_get_the_template(accounts, acme, settings):
    from tenants.emails import tenant_email_migration_instructions

    settings.PARKWAY_TEMPLATE_URL = ""
    outcome = tenant_email_migration_instructions(tenant=acme, actor="cli")
    assert outcome.sent
    body = mail.outbox[0].body
    assert "Download Parkway's CloudFormation template" in body and "Upload a template file" in body
    assert "quickcreate" not in body


def test_one_email_per_tenant_and_tenants_without_contacts_are_reported(staff_client, accounts, acme, globex):
    globex.contact_emails = ""
    globex.save()
    connect_legacy(acme, "111111111119")
    response = staff_client.post(
        reverse("admin:tenants_tenant_changelist"),
        {"action": "email_migration_instructions", ACTION_CHECKBOX_NAME: [acme.pk, globex.pk, accounts["on_role"].tenant.pk]},
        follow=True,
    )
    assert [m.to for m in mail.outbox] == [["ops@acme.test"]]
    assert ACME_ACCOUNT in mail.outbox[0].body and "111111111119" in mail.outbox[0].body
    texts = messages_of(response)
    assert any("Globex" in t and "no contact email address" in t for t in texts), texts
    assert any("Initech" in t and "no account on legacy keys" in t for t in texts), texts
    assert "Migration instructions sent to 1 of 3 tenant(s)." in texts
    assert AuditEvent.objects.filter(action="tenant.migration_instructions_sent").count() == 1


# --------------------------------------------------------------------------- index panel


def test_index_panel_shows_progress_and_links_to_the_filtered_lists(staff_client, accounts):
    services_account = accounts["ready"]
    from tenants.migration import account_migrate_to_role

    account_migrate_to_role(account=services_account, actor="cli")
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert 'id="migration-panel"' in page
    changelist = reverse(CHANGELIST)
    assert f'href="{changelist}?auth=legacy"' in page and f'href="{changelist}?auth=role"' in page
    assert "Still on legacy keys" in page and "1 (50%)" in page  # 1 migrated, 1 still on keys


def test_index_panel_costs_one_query_whatever_the_fleet(staff_client, acme):
    def index_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(reverse("admin:index")).status_code == 200
        return len(queries)

    few = index_queries()
    for i in range(30):
        services.account_connect_role(tenant=acme, account_id=f"{500000000000 + i}", regions=["us-east-1"], actor="cli")
    assert index_queries() == few
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse("admin:index"))
    assert sum("tenants_cloudcredential" in q["sql"] for q in queries.captured_queries) == 1


def test_index_panel_is_hidden_from_staff_without_access_to_accounts(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert 'id="migration-panel"' not in client.get(reverse("admin:index")).content.decode()
    assert CloudAccount.objects.count() == 0


def test_a_mail_server_failure_is_reported_and_not_audited_as_sent(accounts, acme, monkeypatch):
    import smtplib

    from django.core.mail import EmailMessage

    from tenants.emails import tenant_email_migration_instructions

    def refuse(self, fail_silently=False):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(EmailMessage, "send", refuse)
    outcome = tenant_email_migration_instructions(tenant=acme, actor="cli")
    assert not outcome.sent and "mail server failed" in outcome.message
    assert not AuditEvent.objects.filter(action="tenant.migration_instructions_sent").exists()
