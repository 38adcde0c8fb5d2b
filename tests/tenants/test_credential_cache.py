"""Assumed-role sessions are shared through the cache by every worker process,
encrypted, so a second process (or a recycled worker, or another machine) makes
no AssumeRole of its own."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import override_settings

from tenants import aws
from tenants.credential_cache import KEY_PREFIX
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_parking import connect, office_hours

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "credential-cache-tests"}}


@pytest.fixture
def shared_cache():
    with override_settings(CACHES=LOCMEM):
        cache.clear()
        yield cache
        cache.clear()


@pytest.fixture
def role_account(acme, standin, shared_cache):
    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    aws.clear_session_cache()
    standin.reset_calls()
    return account


def describe(account) -> None:
    aws.client(aws.session_for(account), "ec2", "us-east-1").describe_instances()


def stored_entries(shared_cache) -> dict[str, bytes]:
    """What the cache backend really holds (locmem: pickled values by full key)."""
    return {k: v for k, v in shared_cache._cache.items() if KEY_PREFIX in k}


def test_a_second_process_reuses_the_first_ones_session(role_account, standin):
    describe(role_account)
    assert standin.calls()["sts:AssumeRole"] == 1
    aws.clear_session_cache()  # a new worker process: nothing of the first one's in memory
    describe(role_account)
    describe(role_account)
    assert standin.calls()["sts:AssumeRole"] == 1
    assert standin.calls()["ec2:DescribeInstances"] == 3


def test_the_cached_session_is_encrypted(role_account, shared_cache, standin):
    session = aws.session_for(role_account)
    describe(role_account)
    frozen = session.get_credentials().get_frozen_credentials()
    (key, raw), = stored_entries(shared_cache).items()
    for secret in (frozen.secret_key, frozen.token, frozen.access_key, role_account.tenant.external_id):
        assert secret.encode() not in raw and secret not in key
    assert role_account.active_credential().role_arn.encode() not in raw


def test_an_unreadable_entry_is_a_miss_not_a_failure(role_account, shared_cache, standin, settings):
    describe(role_account)
    from cryptography.fernet import Fernet

    settings.PARKWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key rotated away
    aws.clear_session_cache()
    describe(role_account)
    assert standin.calls()["sts:AssumeRole"] == 2


def test_an_entry_lasts_until_botocore_would_refresh_the_session(role_account, shared_cache, settings):
    describe(role_account)
    (key,) = stored_entries(shared_cache)
    lifetime = shared_cache._expire_info[key] - time.time()
    # A 3600 s session, refreshed 15 min before it expires: shared for 45 min.
    assert settings.PARKWAY_ASSUME_ROLE_SECONDS - 900 - 60 < lifetime <= settings.PARKWAY_ASSUME_ROLE_SECONDS - 900


def test_once_the_entry_is_gone_the_next_process_assumes_the_role_again(role_account, shared_cache, standin):
    describe(role_account)
    shared_cache.clear()  # its time ran out (or Redis was flushed)
    aws.clear_session_cache()
    describe(role_account)
    assert standin.calls()["sts:AssumeRole"] == 2


def test_a_worker_keeps_at_most_parkway_session_cache_size_sessions(acme, globex, standin, shared_cache, settings):
    """Memory bounded whatever the number of accounts: the least recently used
    session is dropped; using it again rebuilds it from the shared cache, with
    no AssumeRole. The clients are the process's, one per service and region,
    whatever the number of accounts."""
    import gc

    from tests.conftest import GLOBEX_ACCOUNT

    settings.PARKWAY_SESSION_CACHE_SIZE = 1
    office_hours(acme)
    office_hours(globex)
    first, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    second, _ = connect(globex, GLOBEX_ACCOUNT, per_region=1, regions=["us-east-1"])
    aws.clear_session_cache()
    standin.reset_calls()
    describe(first)
    describe(second)  # evicts the first account's session
    gc.collect()
    assert len(aws._cache) == 1 and list(aws._shared_clients) == [("ec2", "us-east-1")]
    describe(first)
    gc.collect()
    assert len(aws._cache) == 1 and list(aws._shared_clients) == [("ec2", "us-east-1")]
    assert standin.calls()["sts:AssumeRole"] == 2  # one per account, none for the rebuilt session
    assert standin.calls()["ec2:DescribeInstances"] == 3
