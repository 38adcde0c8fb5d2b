"""Fixtures for the REST API: tokens for every role of acme, globex's world to
reach for (never found), and a client that sends a token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from api.tokens import staff_token_create, token_create
from tenants.models import Membership
from scheduling.models import Override, ParkingAction, ParkingRun, Resource, Schedule
from tenants.models import CloudAccount
from tests.conftest import ACME_ACCOUNT
from tests.selfservice.conftest import globex_world, make_account, make_resources, office_hours  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate limits live in the cache: no test inherits another's count.
    cache.clear()
    yield
    cache.clear()


class ApiClient:
    """The Django test client, sending `Authorization: Bearer <token>` and JSON."""

    def __init__(self, token: str | None, *, tenant: str | None = None) -> None:
        self.client = Client(raise_request_exception=True)
        self.headers: dict[str, str] = {}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if tenant is not None:
            self.headers["X-Parkway-Tenant"] = tenant

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        call = getattr(self.client, method.lower())
        if method.upper() in ("GET", "HEAD"):
            return call(url, params, headers=self.headers)
        return call(url, body if body is not None else {}, content_type="application/json", headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str, body: Any = None) -> Any:
        return self.request("DELETE", path, body)


@dataclass
class Tokens:
    admin: str
    operator: str
    viewer: str
    other: str  # an admin of globex
    staff: str


@pytest.fixture
def tokens(acme, acme_member, globex_member, staff) -> Tokens:
    User = get_user_model()
    made = {"admin": token_create(membership=acme_member.memberships.get(), name="admin-bot", actor=acme_member)[1]}
    for role in ("operator", "viewer"):
        user = User.objects.create_user(f"{role}-of-acme", f"{role}@acme.test", "pw")
        membership = Membership.objects.create(user=user, tenant=acme, role=role)
        made[role] = token_create(membership=membership, name=f"{role}-bot", actor=user)[1]
    made["other"] = token_create(membership=globex_member.memberships.get(), name="globex-bot", actor=globex_member)[1]
    made["staff"] = staff_token_create(user=staff, name="support-tool", actor=staff)[1]
    return Tokens(**made)


@pytest.fixture
def api(tokens) -> ApiClient:
    """acme's admin."""
    return ApiClient(tokens.admin)


def as_(tokens: Tokens, persona: str) -> ApiClient:
    if persona == "anonymous":
        return ApiClient(None)
    if persona == "staff":
        return ApiClient(tokens.staff, tenant="acme")
    return ApiClient(getattr(tokens, persona))


@dataclass
class World:
    account: CloudAccount
    resource: Resource
    schedule: Schedule
    run: ParkingRun

    def ids(self) -> dict[str, int]:
        return {"account_pk": self.account.pk, "resource_pk": self.resource.pk, "schedule_pk": self.schedule.pk,
                "run_pk": self.run.pk}


@pytest.fixture
def world(acme, tokens) -> World:
    account = make_account(acme, ACME_ACCOUNT)
    CloudAccount.objects.filter(pk=account.pk).update(claimed_at=timezone.now(), status="connected")
    schedule = office_hours(acme)
    (resource,) = make_resources(account, 1)
    Override.objects.create(resource=resource, state="running", until=timezone.now() + dt.timedelta(hours=1),
                            created_by_label="tom")
    now = timezone.now()
    run = ParkingRun.objects.create(account=account, tick_at=now, started_at=now, status="succeeded", planned=1, succeeded=1)
    ParkingAction.objects.create(run=run, resource=resource, action="stop", reason="night", outcome="succeeded")
    return World(account=account, resource=resource, schedule=schedule, run=run)
