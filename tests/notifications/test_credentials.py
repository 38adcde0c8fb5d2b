"""Credential problems: a failing connection test and a role the tick finds
revoked are told once until the account works again; legacy keys nearing
PARKWAY_LEGACY_DEADLINE are told 30, 7 and 1 days before, each once per account."""

from __future__ import annotations

import functools

import datetime as dt
import json

import pytest
from django.core.cache import cache

from notifications import credentials
from notifications.models import CredentialNotice, Delivery
from scheduling import parking, tasks
from tenants import aws, demo
from tenants.migration import account_migrate_to_role
from tenants.verification import account_verify
from tests.notifications.conftest import deliveries, email_channel
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT, OUR_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours
from tests.selfservice.conftest import make_account
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db

DEADLINE = dt.date(2027, 3, 31)


listening = functools.partial(email_channel, events=("credential_problems",))


told = functools.partial(deliveries, event="credential_problems")


def trust(account_id: str, external_id: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUR_ACCOUNT}:root"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
    }]}
    demo.account_client("iam", account_id).update_assume_role_policy(RoleName="ParkwayAccess", PolicyDocument=json.dumps(policy))
    # Credentials assumed before stay valid until they expire (in AWS too): forget them,
    # as an hour's passing would.
    aws.clear_session_cache()
    cache.clear()


def revoke(account_id: str) -> None:
    """The customer's role no longer trusts us (someone else's External ID)."""
    trust(account_id, "someone-else")


def restore(tenant, account_id: str) -> None:
    trust(account_id, tenant.external_id)


# --------------------------------------------------------------------------- failing connections


def test_a_failing_connection_test_is_told_once_until_it_works_again(acme, standin):
    account, _ = connect(acme, ACME_ACCOUNT, per_region=0, regions=["us-east-1"])
    listening(acme)
    revoke(ACME_ACCOUNT)
    for _ in range(3):
        assert not account_verify(account=account, actor="cli").ok
    (message,) = told(acme)
    assert "cannot get into AWS account" in message.message["title"]
    assert "could not assume the role" in message.message["lines"][0]
    assert message.message["data"] | {"message": ""} == {
        "problem": "connection_failed", "account": ACME_ACCOUNT, "found_by": "the connection test by cli", "message": "",
    }

    restore(acme, ACME_ACCOUNT)
    assert account_verify(account=account, actor="cli").ok
    assert not CredentialNotice.objects.exists()
    revoke(ACME_ACCOUNT)
    assert not account_verify(account=account, actor="cli").ok
    assert len(told(acme)) == 2  # failing again after it worked: told again


def test_a_role_revoked_during_ticks_is_told_once_until_it_recovers(acme, standin):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    listening(acme, events=["credential_problems", "failures"])
    revoke(ACME_ACCOUNT)
    for _ in range(3):
        assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).status == "failed"
    (message,) = told(acme)
    assert message.message["data"]["found_by"] == "the parking tick"
    assert "could not assume the role" in message.message["data"]["message"]

    restore(acme, ACME_ACCOUNT)
    assert parking.park_account(account_id=account.pk, at=TUESDAY_EVENING).status == "succeeded"
    assert not CredentialNotice.objects.exists()
    revoke(ACME_ACCOUNT)
    result = parking.park_account(account_id=account.pk, at=TUESDAY_EVENING)
    assert result.status == "failed", result
    assert len(told(acme)) == 2


def test_an_account_still_being_connected_is_not_told(acme, standin):
    account = make_account(acme, ACME_ACCOUNT)  # registered, never verified: no role yet
    listening(acme)
    assert not account_verify(account=account, actor="cli").ok
    assert told(acme) == []


def test_a_channel_without_the_event_hears_nothing(acme, standin):
    account, _ = connect(acme, ACME_ACCOUNT, per_region=0, regions=["us-east-1"])
    listening(acme, events=["parking_summary"])
    revoke(ACME_ACCOUNT)
    account_verify(account=account, actor="cli")
    assert not Delivery.objects.exists()
    assert CredentialNotice.objects.count() == 1  # told (to nobody): not again until it works


# --------------------------------------------------------------------------- legacy deadline


@pytest.fixture
def legacy(acme, globex, standin, settings):
    settings.PARKWAY_LEGACY_DEADLINE = DEADLINE
    listening(acme)
    listening(globex)
    accounts = [connect_legacy(acme, ACME_ACCOUNT)[0], connect_legacy(acme, "333333333333")[0],
                connect_legacy(globex, GLOBEX_ACCOUNT)[0]]
    return accounts


def every_day(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def test_legacy_keys_are_told_30_7_and_1_days_before_each_once(acme, globex, legacy):
    for day in every_day(DEADLINE - dt.timedelta(days=40), DEADLINE + dt.timedelta(days=3)):
        for hour in (0, 9, 23):  # several ticks a day, as a restarted worker would run them
            credentials.legacy_deadline_notices_send(at=dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC))
    acme_messages = told(acme)
    assert [m.message["data"]["threshold"] for m in acme_messages] == [30, 7, 1]
    for message in acme_messages:
        assert sorted(message.message["data"]["accounts"]) == ["111111111111", "333333333333"]  # one message for both
        assert "31 March 2027" in message.message["title"]
    assert [m.message["data"]["days_left"] for m in acme_messages] == [30, 7, 1]
    assert [m.message["data"]["threshold"] for m in told(globex)] == [30, 7, 1]
    assert CredentialNotice.objects.filter(topic="legacy_deadline").count() == 3 * 3


def test_a_late_start_tells_the_nearest_threshold_only(acme, legacy):
    credentials.legacy_deadline_notices_send(at=dt.datetime(2027, 3, 26, 9, tzinfo=dt.UTC))  # 5 days left
    credentials.legacy_deadline_notices_send(at=dt.datetime(2027, 3, 27, 9, tzinfo=dt.UTC))
    credentials.legacy_deadline_notices_send(at=dt.datetime(2027, 3, 31, 9, tzinfo=dt.UTC))  # the last day
    assert [m.message["data"]["threshold"] for m in told(acme)] == [7, 1]
    assert told(acme)[1].message["data"]["days_left"] == 0


def test_the_tick_tells_the_deadline_and_switched_accounts_are_not_told(acme, legacy):
    account_migrate_to_role(account=legacy[0], role_arn=None, actor="cli")
    tasks.tick(dt.datetime(2027, 3, 24, 9, tzinfo=dt.UTC).isoformat())  # 7 days left
    (message,) = told(acme)
    assert message.message["data"]["accounts"] == ["333333333333"]
    assert "switch it to an IAM role" in message.message["lines"][0]
