"""Fixtures for the self-service pages: a signed-in acme member, machines, and a
complete globex tenant whose objects acme must never reach."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from django.core import mail
from django.core.cache import cache
from django.forms.models import model_to_dict
from django.utils import timezone

from api.models import ApiToken
from notifications.models import Channel, Delivery
from scheduling.models import Override, ParkingAction, ParkingRun, Period, Resource, Schedule
from tenants import services
from tenants.audit import Actor
from tenants.members import member_invite
from tenants.models import AuditEvent, CloudAccount, CloudCredential, Invitation, Membership, Tenant
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The connection-test throttle lives in the cache: no test inherits another's count.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def acme_client(client, acme_member):
    client.force_login(acme_member)
    return client


def make_account(tenant: Tenant, account_id: str, *, regions: list[str] | None = None, name: str = "") -> CloudAccount:
    return services.account_connect_role(
        tenant=tenant, account_id=account_id, regions=regions or ["us-east-1"], name=name or f"{tenant.slug} prod", actor="cli"
    )


def make_resources(
    account: CloudAccount, count: int, *, region: str = "us-east-1", start: int = 0, state: str = "running", **fields
) -> list[Resource]:
    now = timezone.now()
    rows = [
        Resource(
            account=account, region=region, resource_id=f"i-{account.account_id[:4]}{start + n:013x}",
            name=f"web-{start + n}", state=state, first_seen_at=now, last_seen_at=now, **fields,
        )
        for n in range(count)
    ]
    return Resource.objects.bulk_create(rows)


def office_hours(tenant: Tenant | None, name: str = "office", zone: str = "UTC") -> Schedule:
    schedule = Schedule.objects.create(tenant=tenant, name=name, timezone=zone)
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
    return schedule


@pytest.fixture
def acme_account(acme) -> CloudAccount:
    return make_account(acme, ACME_ACCOUNT)


@dataclass
class GlobexWorld:
    account: CloudAccount
    resource: Resource
    schedule: Schedule
    override: Override
    run: ParkingRun


@pytest.fixture
def globex_world(globex) -> GlobexWorld:
    account = make_account(globex, GLOBEX_ACCOUNT)
    schedule = office_hours(globex, name="globex-office")
    (resource,) = make_resources(account, 1, schedule=schedule)
    override = Override.objects.create(
        resource=resource, state="running", until=timezone.now() + dt.timedelta(hours=3), created_by_label="gus"
    )
    now = timezone.now()
    run = ParkingRun.objects.create(account=account, tick_at=now, started_at=now, status="succeeded", planned=1, succeeded=1)
    ParkingAction.objects.create(run=run, resource=resource, action="stop", reason="globex's night", outcome="succeeded")
    return GlobexWorld(account=account, resource=resource, schedule=schedule, override=override, run=run)


def invite(tenant: Tenant, email: str, role: str = "viewer", *, actor: Actor = "cli") -> tuple[Invitation, str]:
    """Invite through the service; the token is read from the email it sent, as the invitee would."""
    invitation = member_invite(tenant=tenant, email=email, role=role, actor=actor)
    (link,) = re.findall(r"https?://\S+/app/invitations/([^/\s]+)/", mail.outbox[-1].body)
    return invitation, link


def tenant_snapshot(tenant: Tenant) -> dict[str, list[dict]]:
    """Every row of `tenant` that a self-service page could touch."""

    def rows(queryset) -> list[dict]:
        return [model_to_dict(obj) | {"pk": obj.pk} for obj in queryset.order_by("pk")]

    return {
        "tenant": rows(Tenant.objects.filter(pk=tenant.pk)),
        "accounts": rows(CloudAccount.objects.filter(tenant=tenant)),
        "credentials": rows(CloudCredential.objects.filter(account__tenant=tenant)),
        "resources": rows(Resource.objects.filter(account__tenant=tenant)),
        "overrides": rows(Override.objects.filter(resource__account__tenant=tenant)),
        "schedules": rows(Schedule.objects.filter(tenant=tenant)),
        "periods": rows(Period.objects.filter(schedule__tenant=tenant)),
        "runs": rows(ParkingRun.objects.filter(account__tenant=tenant)),
        "actions": rows(ParkingAction.objects.filter(run__account__tenant=tenant)),
        "events": rows(AuditEvent.objects.filter(tenant=tenant)),
        "memberships": rows(Membership.objects.filter(tenant=tenant)),
        "invitations": rows(Invitation.objects.filter(tenant=tenant)),
        "channels": rows(Channel.objects.filter(tenant=tenant)),
        "deliveries": rows(Delivery.objects.filter(channel__tenant=tenant)),
        "api_tokens": rows(ApiToken.objects.filter(membership__tenant=tenant)),
    }
