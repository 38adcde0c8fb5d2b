"""Roles, enforced in the services themselves: whoever calls a service (a view, a
form page, a script), a viewer changes nothing and an operator does not manage
accounts or members. Staff and command-line actors are not restricted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from scheduling import actions, services as schedule_services
from scheduling.models import Schedule
from tenants import members, services
from tenants.migration import account_migrate_to_role
from tenants.models import Membership
from tenants.permissions import ADMINISTER, OPERATE, VIEW, can, require
from tenants.verification import account_verify
from tests.conftest import ACME_ACCOUNT
from tests.selfservice.conftest import invite, make_account, make_resources, office_hours, tenant_snapshot

pytestmark = pytest.mark.django_db

SPEC = {"name": "late", "timezone": "UTC", "periods": [{"begintime": "18:00", "endtime": "22:00", "weekdays": "mon-fri"}]}


def person(tenant, role: str, name: str | None = None):
    user = get_user_model().objects.create_user(name or f"{role}-of-{tenant.slug}", f"{role}@{tenant.slug}.test", "pw")
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


@pytest.mark.parametrize(
    "role, allowed",
    [("admin", {VIEW, OPERATE, ADMINISTER}), ("operator", {VIEW, OPERATE}), ("viewer", {VIEW})],
)
def test_each_role_grants_its_capabilities_and_no_more(acme, role, allowed):
    user = person(acme, role)
    assert {c for c in (VIEW, OPERATE, ADMINISTER) if can(user, acme, c)} == allowed


def test_membership_in_one_tenant_grants_nothing_in_another(acme, globex, globex_member):
    assert can(globex_member, globex, ADMINISTER)
    assert not can(globex_member, acme, VIEW)
    with pytest.raises(PermissionDenied, match="You are not a member of Acme"):
        require(globex_member, acme, VIEW)


def test_staff_and_command_line_actors_are_not_restricted_but_anonymous_visitors_are(acme, staff):
    for actor in (staff, "cli", "system"):
        assert can(actor, acme, ADMINISTER)
        require(actor, acme, ADMINISTER)
    assert not can(AnonymousUser(), acme, VIEW)


def test_a_new_membership_is_an_operator_unless_chosen(acme):
    user = get_user_model().objects.create_user("new", "new@acme.test", "pw")
    assert Membership.objects.create(user=user, tenant=acme).role == "operator"


def test_the_denial_says_what_to_do(acme):
    with pytest.raises(PermissionDenied) as viewer:
        require(person(acme, "viewer"), acme, OPERATE)
    assert str(viewer.value) == "Viewers can look but not change anything: ask an admin of Acme to make you an operator."
    with pytest.raises(PermissionDenied) as operator:
        require(person(acme, "operator"), acme, ADMINISTER)
    assert "ask an admin of Acme" in str(operator.value)


@pytest.fixture
def acme_things(acme, acme_member, standin):
    """One of everything a service may change in acme, and the services to call on them."""
    account = make_account(acme, ACME_ACCOUNT)
    schedule = office_hours(acme)
    (resource,) = make_resources(account, 1)
    resource = type(resource).objects.select_related("account__tenant").get(pk=resource.pk)
    actions.override_create(resource=resource, state="running", until=timezone.now() + dt.timedelta(hours=1), actor="cli")
    pending, _ = invite(acme, "pending@acme.test")
    admin_membership = Membership.objects.get(user=acme_member)
    return account, schedule, resource, pending, admin_membership


def calls(acme, account, schedule, resource, pending, admin_membership) -> dict[str, tuple[object, Callable]]:
    """name → (capability, call(actor))."""
    until = timezone.now() + dt.timedelta(hours=2)
    return {
        "account_connect_role": (ADMINISTER, lambda a: services.account_connect_role(
            tenant=acme, account_id="444444444444", regions=["us-east-1"], actor=a)),
        "account_update": (ADMINISTER, lambda a: services.account_update(
            account=account, changed=["name"], initial={"name": account.name}, actor=a)),
        "account_verify": (ADMINISTER, lambda a: account_verify(account=account, actor=a)),
        "account_migrate_to_role": (ADMINISTER, lambda a: account_migrate_to_role(account=account, actor=a)),
        "tenant_rotate_external_id": (ADMINISTER, lambda a: services.tenant_rotate_external_id(tenant=acme, actor=a)),
        "member_invite": (ADMINISTER, lambda a: members.member_invite(tenant=acme, email="x@acme.test", role="admin", actor=a)),
        "invitation_revoke": (ADMINISTER, lambda a: members.invitation_revoke(invitation=pending, actor=a)),
        "membership_change_role": (ADMINISTER, lambda a: members.membership_change_role(
            membership=admin_membership, role="viewer", actor=a)),
        "membership_remove": (ADMINISTER, lambda a: members.membership_remove(membership=admin_membership, actor=a)),
        "override_create": (OPERATE, lambda a: actions.override_create(resource=resource, state="stopped", until=until, actor=a)),
        "override_clear": (OPERATE, lambda a: actions.override_clear(resource=resource, actor=a)),
        "resource_assign_schedule": (OPERATE, lambda a: actions.resource_assign_schedule(
            resource=resource, schedule=schedule, actor=a)),
        "resources_act_now": (OPERATE, lambda a: actions.resources_act_now(resources=[resource], action="stop", actor=a)),
        "schedule_save_from_spec": (OPERATE, lambda a: schedule_services.schedule_save_from_spec(spec=SPEC, tenant=acme, actor=a)),
        "schedules_import": (OPERATE, lambda a: schedule_services.schedules_import(data=[SPEC], tenant=acme, actor=a)),
        "schedules_delete": (OPERATE, lambda a: schedule_services.schedules_delete(schedules=[schedule], actor=a)),
    }


SERVICES = [
    "account_connect_role", "account_update", "account_verify", "account_migrate_to_role", "tenant_rotate_external_id",
    "member_invite", "invitation_revoke", "membership_change_role", "membership_remove", "override_create",
    "override_clear", "resource_assign_schedule", "resources_act_now", "schedule_save_from_spec", "schedules_import",
    "schedules_delete",
]


@pytest.mark.parametrize("service", SERVICES)
def test_a_viewer_calling_a_service_directly_is_refused_and_nothing_changes(acme, acme_things, service):
    _, call = calls(acme, *acme_things)[service]
    viewer = person(acme, "viewer")
    before = tenant_snapshot(acme)
    with pytest.raises(PermissionDenied, match="Viewers can look but not change anything"):
        call(viewer)
    assert tenant_snapshot(acme) == before


@pytest.mark.parametrize("service", SERVICES)
def test_an_operator_may_operate_but_not_administer(acme, acme_things, service):
    capability, call = calls(acme, *acme_things)[service]
    operator = person(acme, "operator")
    before = tenant_snapshot(acme)
    if capability is ADMINISTER:
        with pytest.raises(PermissionDenied, match="ask an admin of Acme"):
            call(operator)
        assert tenant_snapshot(acme) == before
    else:
        call(operator)
        assert tenant_snapshot(acme) != before


@pytest.mark.parametrize("service", SERVICES)
def test_a_member_of_another_tenant_changes_nothing_in_acme(acme, acme_things, globex_member, service):
    _, call = calls(acme, *acme_things)[service]
    before = tenant_snapshot(acme)
    with pytest.raises(PermissionDenied, match="You are not a member of Acme"):
        call(globex_member)
    assert tenant_snapshot(acme) == before


def test_only_staff_and_commands_change_the_global_templates(acme, acme_member, staff):
    with pytest.raises(PermissionDenied, match="Only Parkway staff"):
        schedule_services.schedule_save_from_spec(spec=SPEC, tenant=None, actor=acme_member)
    assert not Schedule.objects.filter(tenant=None).exists()
    schedule_services.schedule_save_from_spec(spec=SPEC, tenant=None, actor=staff)
    schedule_services.schedule_save_from_spec(spec=SPEC | {"name": "other"}, tenant=None, actor="cli")
    assert Schedule.objects.filter(tenant=None).count() == 2
