"""Shared fixtures: the AWS stand-in and the personas every test may use.

Personas: `staff` (customer-success operator), `acme_member` and
`globex_member` (members of two tenants, for isolation), anonymous = `client`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

from portal.aws_standin import StandinServer
from tenants import aws as tenant_aws
from tenants.models import Membership, Tenant

OUR_ACCOUNT = "123456789012"  # moto's default account = Parkway's own identity in tests
ACME_ACCOUNT = "111111111111"
GLOBEX_ACCOUNT = "222222222222"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache: throttle counts (connection tests,
    password resets) never carry over from the test before."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session")
def standin_server() -> Iterator[StandinServer]:
    server = StandinServer(port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def standin(standin_server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinServer]:
    """A clean AWS stand-in, with boto3 pointed at it through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", standin_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    standin_server.reset()
    tenant_aws.clear_session_cache()
    yield standin_server
    tenant_aws.clear_session_cache()


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("staff", "staff@parkway.test", "pw", is_staff=True, is_superuser=True)


@pytest.fixture
def acme(db) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme", contact_emails="ops@acme.test")


@pytest.fixture
def globex(db) -> Tenant:
    return Tenant.objects.create(name="Globex", slug="globex", contact_emails="it@globex.test")


@pytest.fixture
def acme_member(acme):
    user = get_user_model().objects.create_user("alice", "alice@acme.test", "pw")
    Membership.objects.create(user=user, tenant=acme, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def globex_member(globex):
    user = get_user_model().objects.create_user("gus", "gus@globex.test", "pw")
    Membership.objects.create(user=user, tenant=globex, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def throttle_verification(standin: StandinServer, settings) -> None:
    """AWS throttles the next verification's GetCallerIdentity (retries off, so one refusal fails it)."""
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    standin.faults.throttle("sts:GetCallerIdentity", times=1)
