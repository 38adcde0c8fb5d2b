"""The role matrix: every self-service URL × {anonymous, admin, operator, viewer,
member of another tenant} × {GET, POST}, with the status each must get and
whether acme's rows may change.

The URLs come from walking the resolver, so a page added later FAILS here until
its row is added to EXPECTED (say what every persona gets; that is the point).
Each POST carries data valid enough that an allowed person's request changes
something (checked: the "done" cells), so a denial that leaves everything as it
was proves the refusal, not a bad form.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from api.models import ApiToken
from api.tokens import token_create
from notifications.models import Channel, StopWarning
from notifications.warnings import keep_running_token
from scheduling.models import Override, Resource, Schedule
from tenants.models import CloudAccount, Invitation, Membership, Tenant
from tests.conftest import ACME_ACCOUNT
from tests.selfservice.conftest import invite, make_account, make_resources, office_hours, tenant_snapshot
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db

NAMESPACES = ("tenants", "scheduling", "invitations", "notifications", "links", "tokens")
PERSONAS = ("anonymous", "admin", "operator", "viewer", "other")

# Cells. "done": 302 and acme changed. "created": 201 and acme changed (a page that shows a secret once). "login": 302 to the sign-in page. Every
# other cell is a status code and acme unchanged; "403" also shows the reason.
OK, DONE, BACK, LOGIN, DENIED, MISSING, NOT_ALLOWED = "200", "done", "302", "login", "403", "404", "405"
CREATED = "created"
# "other" is an admin of globex: on pages without an object ID they work in
# their own tenant (acme never changes); another tenant's object is a 404.

EXPECTED: dict[str, dict[str, tuple[str, str, str, str, str]]] = {
    #                                         anonymous admin   operator viewer  other
    "tenants:overview":            {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, OK,     OK,     OK,     OK)},
    "tenants:choose_tenant":       {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, BACK,   BACK,   BACK,   MISSING)},
    "tenants:connect":             {"GET":  (LOGIN, OK,     DENIED, DENIED, OK),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, BACK)},
    "tenants:template":            {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)},
    "tenants:terraform":           {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)},
    "tenants:account":             {"GET":  (LOGIN, OK,     OK,     OK,     MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "tenants:account_test":        {"GET":  (LOGIN, BACK,   DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "tenants:account_switch":      {"GET":  (LOGIN, BACK,   DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "tenants:account_disconnect":  {"GET":  (LOGIN, OK,     DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    # A person's own settings: everyone signed in, and nothing of the tenant's changes.
    "tenants:settings":            {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, BACK,   BACK,   BACK,   BACK)},
    "tenants:members":             {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, OK,     OK,     OK,     OK)},
    "tenants:member_invite":       {"GET":  (LOGIN, BACK,   DENIED, DENIED, BACK),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, BACK)},
    "tenants:member_role":         {"GET":  (LOGIN, BACK,   DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "tenants:member_remove":       {"GET":  (LOGIN, OK,     DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "tenants:invitation_withdraw": {"GET":  (LOGIN, BACK,   DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "scheduling:resources":        {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, OK,     OK,     OK,     OK)},
    "scheduling:resource":         {"GET":  (LOGIN, OK,     OK,     OK,     MISSING),
                                    "POST": (LOGIN, OK,     OK,     OK,     MISSING)},
    "scheduling:resource_assign":  {"GET":  (LOGIN, BACK,   BACK,   DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, MISSING)},
    "scheduling:resource_snooze":  {"GET":  (LOGIN, BACK,   BACK,   DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, MISSING)},
    "scheduling:resource_snooze_cancel": {"GET": (LOGIN, BACK, BACK, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, MISSING)},
    "scheduling:schedules":        {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, OK,     OK,     OK,     OK)},
    "scheduling:schedule_create":  {"GET":  (LOGIN, OK,     OK,     DENIED, OK),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, BACK)},
    "scheduling:schedule":         {"GET":  (LOGIN, OK,     OK,     OK,     MISSING),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, MISSING)},
    "scheduling:schedule_delete":  {"GET":  (LOGIN, OK,     OK,     DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, MISSING)},
    # The selection names acme's machines: another tenant's member selects nothing.
    "scheduling:resource_bulk":    {"GET":  (LOGIN, BACK,   BACK,   DENIED, BACK),
                                    "POST": (LOGIN, DONE,   DONE,   DENIED, BACK)},
    "scheduling:activity":         {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, OK,     OK,     OK,     OK)},
    # Notification channels: tenant admins only.
    "notifications:channels":      {"GET":  (LOGIN, OK,     DENIED, DENIED, OK),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, BACK)},
    "notifications:channel":       {"GET":  (LOGIN, OK,     DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "notifications:channel_test":  {"GET":  (LOGIN, BACK,   DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    "notifications:channel_delete": {"GET": (LOGIN, OK,     DENIED, DENIED, MISSING),
                                    "POST": (LOGIN, DONE,   DENIED, DENIED, MISSING)},
    # Savings are read by every member; the export only reads.
    "scheduling:savings_csv":      {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)},
    # The pre-stop warning's keep-running link is anonymous by design: whoever holds
    # it (signed out, or signed in as anyone) may use it, once; GET only shows a button.
    "links:keep_running":          {"GET":  (OK,    OK,     OK,     OK,     OK),
                                    "POST": (DONE,  DONE,   DONE,   DONE,   DONE)},
    # API tokens: every member makes their own (it acts with their role), in the tenant they work in
    # (another tenant's member makes one in theirs: 201, acme unchanged); each revokes their own only.
    "tokens:tokens":               {"GET":  (LOGIN, OK,     OK,     OK,     OK),
                                    "POST": (LOGIN, CREATED, CREATED, CREATED, "201")},
    "tokens:token_revoke":         {"GET":  (LOGIN, BACK,   MISSING, MISSING, MISSING),
                                    "POST": (LOGIN, DONE,   MISSING, MISSING, MISSING)},
    # The invitation link works signed out; signed in, only for the invited address.
    "invitations:accept":          {"GET":  (OK,    DENIED, DENIED, DENIED, DENIED),
                                    "POST": (DONE,  DENIED, DENIED, DENIED, DENIED)},
}

# Requests that reach AWS when allowed: they run against the stand-in, never the network.
TOUCHES_AWS = {"tenants:connect", "tenants:account_test", "tenants:account_switch"}


def walked_patterns() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list, namespace: str | None) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif namespace in NAMESPACES:
                yield f"{namespace}:{entry.name}", entry

    yield from walk(get_resolver().url_patterns, None)


PATTERNS = dict(walked_patterns())


def test_every_row_of_the_table_is_a_url_that_exists():
    assert set(EXPECTED) <= set(PATTERNS), f"stale rows: {set(EXPECTED) - set(PATTERNS)}"


@dataclass
class AcmeWorld:
    acme: Tenant
    users: dict[str, object]
    account: CloudAccount
    resource: Resource
    schedule: Schedule
    target: Membership  # whose role an admin changes, whom an admin removes
    pending: Invitation  # an invitation an admin withdraws
    token: str  # the link of another one, to newcomer@acme.test
    channel: Channel
    link_token: str  # the keep-running link of a pre-stop warning about acme's machine
    api_token: ApiToken  # the admin's own

    def kwargs(self, pattern: URLPattern) -> dict[str, object]:
        values = {
            "account_pk": self.account.pk,
            "resource_pk": self.resource.pk,
            "schedule_pk": self.schedule.pk,
            "membership_pk": self.target.pk,
            "invitation_pk": self.pending.pk,
            "token": self.token,
            "channel_pk": self.channel.pk,
            "link_token": self.link_token,
            "token_pk": self.api_token.pk,
        }
        wanted = list(pattern.pattern.regex.groupindex)
        unknown = set(wanted) - set(values)
        assert not unknown, f"teach AcmeWorld.kwargs which acme object fills {unknown}"
        return {name: values[name] for name in wanted}

    def post_data(self, name: str) -> dict[str, str]:
        """For each URL, what an allowed person would send to change something."""
        schedule_form = {
            "name": "night shift", "description": "", "timezone": "UTC", "override_status": "", "stop_new_instances": "on",
            "periods-TOTAL_FORMS": "1", "periods-INITIAL_FORMS": "0", "periods-MIN_NUM_FORMS": "0",
            "periods-MAX_NUM_FORMS": "20", "periods-0-begintime": "20:00", "periods-0-endtime": "23:00",
            "periods-0-weekdays": "mon-fri",
        }
        return {
            "tenants:choose_tenant": {"tenant": str(self.acme.pk)},
            "tenants:connect": {"account_id": "444444444444", "role_arn": "", "name": "new", "regions": "us-east-1"},
            "tenants:account": {"name": "renamed", "regions": "us-east-1"},
            "tenants:account_switch": {"role_arn": ""},
            "tenants:member_invite": {"email": "someone@acme.test", "role": "operator"},
            "tenants:member_role": {f"member-{self.target.pk}-role": "viewer"},
            "scheduling:resource_assign": {"schedule": str(self.schedule.pk)},
            "scheduling:resource_snooze": {"state": "stopped", "hours": "2"},
            "scheduling:schedule_create": schedule_form,
            "scheduling:resource_bulk": {
                "action": "assign", "schedule": str(self.schedule.pk), "resource": str(self.resource.pk), "confirm": "1",
            },
            "tenants:settings": {"timezone": "Europe/Berlin"},
            "scheduling:schedule": schedule_form | {"name": self.schedule.name, "periods-0-weekdays": "sat-sun"},
            "notifications:channels": {
                "kind": "email", "name": "ops", "target": "ops@acme.test", "events": ["parking_summary"],
            },
            "notifications:channel": {"name": "renamed", "events": ["failures"], "enabled": "on"},
            "tokens:tokens": {"name": "ci-bot", "expires_in": "30"},
            "invitations:accept": {"new_password1": "correct horse battery", "new_password2": "correct horse battery"},
        }.get(name, {})


@pytest.fixture
def world(acme, acme_member, globex_member) -> AcmeWorld:
    User = get_user_model()
    users = {"admin": acme_member, "other": globex_member}
    for persona, role in (("operator", "operator"), ("viewer", "viewer")):
        users[persona] = User.objects.create_user(f"{persona}-of-acme", f"{persona}@acme.test", "pw")
        Membership.objects.create(user=users[persona], tenant=acme, role=role)
    target = Membership.objects.create(user=User.objects.create_user("tom", "tom@acme.test", "pw"), tenant=acme, role="operator")
    account = make_account(acme, ACME_ACCOUNT)
    schedule = office_hours(acme)
    (resource,) = make_resources(account, 1)
    Override.objects.create(resource=resource, state="running", until=timezone.now() + dt.timedelta(hours=1), created_by_label="tom")
    pending, _ = invite(acme, "pending@acme.test", "operator")
    _, token = invite(acme, "newcomer@acme.test", "viewer")
    channel = Channel.objects.create(tenant=acme, kind="email", name="team", target="team@acme.test", events=["failures"])
    warning = StopWarning.objects.create(
        tenant=acme, resource=resource, stop_at=timezone.now() + dt.timedelta(minutes=10), nonce=secrets.token_hex(16), claim="t"
    )
    api_token, _ = token_create(membership=acme_member.memberships.get(), name="admin-bot", actor=acme_member)
    return AcmeWorld(
        acme=acme, users=users, account=account, resource=resource, schedule=schedule,
        target=target, pending=pending, token=token, channel=channel, link_token=keep_running_token(warning),
        api_token=api_token,
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_role_matrix(name, persona, method, world: AcmeWorld, client, request):
    assert name in EXPECTED, f"{name} is not in the role matrix: add its row to EXPECTED in {__name__}"
    expected = EXPECTED[name][method][PERSONAS.index(persona)]
    if name in TOUCHES_AWS:
        request.getfixturevalue("standin")
    if persona != "anonymous":
        client.force_login(world.users[persona])
    kwargs = world.kwargs(PATTERNS[name])
    if name == "tenants:account_switch":
        # A legacy account (keys and our role in the stand-in), so that a switch has something to do.
        kwargs["account_pk"] = connect_legacy(world.acme, "555555555555")[0].pk
    url = reverse(name, kwargs=kwargs)
    before = tenant_snapshot(world.acme)

    response = client.get(url) if method == "GET" else client.post(url, world.post_data(name))

    changed = tenant_snapshot(world.acme) != before
    where = f"{method} {name} as {persona}"
    if expected == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), where
    elif expected in (DONE, CREATED):
        assert response.status_code == (302 if expected == DONE else 201), (where, response.status_code)
        assert changed, f"{where}: allowed, yet nothing changed (is the test's POST data still valid?)"
        return
    else:
        assert str(response.status_code) == expected, (where, response.status_code)
    if expected == DENIED:
        html = response.content.decode()
        assert 'data-testid="forbidden-message"' in html, where
        if persona == "viewer" and name.startswith(("tenants:", "scheduling:")):
            assert "Viewers can look but not change anything: ask an admin of Acme" in html, where
    assert not changed, f"{where}: acme changed"
