"""PARKWAY_LEGACY_DEADLINE is enforced, not only displayed (issue 9).

After the deadline (plus PARKWAY_LEGACY_GRACE_DAYS) legacy keys are no longer
used at all: tenants.aws refuses them, the tick skips the account, every page
says "paused: switch to an IAM role", and nothing of the account's
configuration changes; switching to a role resumes parking at once.
Time is set with time-machine, never read from the wall clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from scheduling import parking, tasks
from scheduling.models import Override, Resource, Schedule
from tenants import aws, demo
from tenants.emails import tenant_email_migration_instructions
from tenants.migration import Outcome, account_migrate_to_role
from tenants.models import AuditEvent, CloudAccount
from tenants.sunset import PAUSED_LABEL, legacy_keys_paused, legacy_pause_starts
from tenants.verification import account_verify
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_parking import office_hours, states
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
DEADLINE = dt.date(2027, 3, 31)  # a Wednesday: keys still work all that day (UTC)
LAST_DAY_MORNING = dt.datetime(2027, 3, 31, 10, 0, tzinfo=UTC)
LAST_DAY_EVENING = dt.datetime(2027, 3, 31, 20, 0, tzinfo=UTC)
PAUSED_EVENING = dt.datetime(2027, 4, 1, 20, 0, tzinfo=UTC)


@pytest.fixture
def legacy_fleet(acme, standin, settings):
    """acme on legacy keys (its role already exists), three machines on an office-hours schedule."""
    settings.PARKWAY_LEGACY_DEADLINE = DEADLINE
    settings.PARKWAY_LEGACY_GRACE_DAYS = 0
    office_hours(acme)
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    ids = demo.seed_instances(ACME_ACCOUNT, "us-east-1", 3, tags={"Schedule": "office"})
    return account, ids


def configuration(account: CloudAccount) -> dict:
    """Everything the pause must leave alone."""
    account = CloudAccount.objects.get(pk=account.pk)
    return {
        "account": (account.status, account.last_error, account.regions, account.name, account.claimed_at),
        "credentials": list(account.credentials.values("pk", "kind", "access_key_id", "retired_at")),
        "resources": list(Resource.objects.filter(account=account).order_by("pk").values("pk", "schedule_id", "state")),
        "overrides": list(Override.objects.filter(resource__account=account).values("pk", "state", "until")),
        "schedules": list(Schedule.objects.values("pk", "name")),
    }


def test_the_pause_starts_the_day_after_the_deadline_plus_the_grace_days(settings):
    settings.PARKWAY_LEGACY_DEADLINE = DEADLINE
    settings.PARKWAY_LEGACY_GRACE_DAYS = 0
    assert legacy_pause_starts() == dt.datetime(2027, 4, 1, tzinfo=UTC)
    assert not legacy_keys_paused(now=dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC))
    assert legacy_keys_paused(now=dt.datetime(2027, 4, 1, tzinfo=UTC))
    settings.PARKWAY_LEGACY_GRACE_DAYS = 7
    assert not legacy_keys_paused(now=dt.datetime(2027, 4, 7, 23, 59, tzinfo=UTC))
    assert legacy_keys_paused(now=dt.datetime(2027, 4, 8, tzinfo=UTC))


def test_legacy_keys_park_until_the_end_of_the_deadline_day(legacy_fleet):
    account, ids = legacy_fleet
    with time_machine.travel(LAST_DAY_EVENING):
        (result,) = parking.run_tick(at=LAST_DAY_EVENING)
    assert result.account == account and result.status == "succeeded" and result.succeeded == 3
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) <= {"stopped", "stopping"}


def test_after_the_deadline_legacy_keys_are_not_used_and_the_account_is_only_paused(legacy_fleet, standin):
    account, ids = legacy_fleet
    with time_machine.travel(LAST_DAY_MORNING):
        parking.run_tick(at=LAST_DAY_MORNING)  # inventory while the keys still work
    resource = Resource.objects.get(resource_id=ids[0])
    Override.objects.create(resource=resource, state="running", until=PAUSED_EVENING + dt.timedelta(days=1))
    before = configuration(account)
    standin.reset_calls()
    with time_machine.travel(PAUSED_EVENING):
        assert account.paused_by_legacy_deadline and account.status_label == PAUSED_LABEL
        # The tick does not even try it...
        assert not parking.active_accounts().filter(pk=account.pk).exists()
        assert parking.run_tick(at=PAUSED_EVENING) == []
        assert tasks.tick(PAUSED_EVENING.isoformat()) == 0
        # ...and nothing else can use the keys: tenants.aws refuses them in one place.
        for build in (aws.session_for, lambda a: aws.fresh_clients(a.active_credential())):
            with pytest.raises(aws.AwsError) as exc:
                build(account)
            assert exc.value.code == aws.LEGACY_PAUSED and not exc.value.permanent
        result = account_verify(account=account, actor="cli")  # "Test connection"
        assert not result.ok and result.code == aws.LEGACY_PAUSED and "Switch this account to an IAM role" in result.message
        # A park already queued before midnight fails without touching AWS or flagging the account.
        late = parking.park_account(account_id=account.pk, at=PAUSED_EVENING)
        assert late.status == "failed" and "paused" in late.error
    assert not any(call.startswith(("ec2:", "sts:")) for call in standin.calls())
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) == {"running"}
    assert configuration(account) == before  # status stays "connected": not an error
    assert not AuditEvent.objects.filter(action__in=["parking.account_failed", "credential.verify_failed"]).exists()


def test_every_page_says_paused_and_the_customer_is_told(legacy_fleet, client, staff, acme, acme_member):
    account, _ = legacy_fleet
    with time_machine.travel(PAUSED_EVENING):
        client.force_login(staff)
        changelist = client.get(reverse("admin:tenants_cloudaccount_changelist")).content.decode()
        detail = client.get(reverse("admin:tenants_cloudaccount_change", args=[account.pk])).content.decode()
        client.force_login(acme_member)
        overview = client.get(reverse("tenants:overview")).content.decode()
        page = client.get(reverse("tenants:account", kwargs={"account_pk": account.pk})).content.decode()
        outcome = tenant_email_migration_instructions(tenant=acme, actor="cli")
    for html in (changelist, detail, overview, page):
        assert PAUSED_LABEL in html
    assert 'data-testid="paused-notice"' in overview and 'data-testid="switch-cta"' in overview
    assert 'data-testid="paused-notice"' in page and 'data-testid="switch-form"' in page
    assert outcome.sent
    (message,) = mail.outbox
    assert message.subject.startswith("Parking paused since 31 March 2027")
    assert "is paused until a role is connected" in message.body and "keep working meanwhile" not in message.body


def test_before_the_deadline_nothing_says_paused(legacy_fleet, client, acme_member):
    account, _ = legacy_fleet
    with time_machine.travel(LAST_DAY_EVENING):
        client.force_login(acme_member)
        overview = client.get(reverse("tenants:overview")).content.decode()
        assert not account.paused_by_legacy_deadline
    assert PAUSED_LABEL not in overview and 'data-testid="legacy-notice"' in overview


def test_switching_to_a_role_resumes_parking_at_once_with_the_same_configuration(legacy_fleet):
    account, ids = legacy_fleet
    with time_machine.travel(LAST_DAY_MORNING):
        parking.run_tick(at=LAST_DAY_MORNING)
    resources = list(Resource.objects.filter(account=account).order_by("pk").values_list("pk", "resource_id"))
    with time_machine.travel(PAUSED_EVENING):
        assert parking.run_tick(at=PAUSED_EVENING) == []
        result = account_migrate_to_role(account=account, actor="cli")
        assert result.outcome is Outcome.MIGRATED, result.message
        account.refresh_from_db()
        assert not account.paused_by_legacy_deadline
        (tick,) = parking.run_tick(at=PAUSED_EVENING)
    assert tick.account == account and tick.status == "succeeded" and tick.succeeded == 3
    assert set(states(ACME_ACCOUNT, "us-east-1").values()) <= {"stopped", "stopping"}
    assert list(Resource.objects.filter(account=account).order_by("pk").values_list("pk", "resource_id")) == resources


def test_a_failed_switch_after_the_deadline_says_parking_stays_paused(acme, standin, settings):
    settings.PARKWAY_LEGACY_DEADLINE = DEADLINE
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT, role="wrong_external_id")
    with time_machine.travel(PAUSED_EVENING):
        result = account_migrate_to_role(account=account, actor="cli")
    assert result.outcome is Outcome.FAILED
    assert "parking stays paused until the account is on a role" in result.message
    assert "still works with its legacy keys" not in result.message
