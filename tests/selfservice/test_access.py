"""Who may see what: sign-in everywhere, staff to the admin, one tenant at a time,
and another tenant's objects unreachable through every URL of the self-service pages.

The URL walks read the project's resolver, so a page added later is covered
without touching these tests (and a new kind of object ID fails them until
it is taught here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from notifications.models import Channel
from tenants.members import member_invite
from tenants.models import Membership
from tests.selfservice.conftest import GlobexWorld, make_account, make_resources, office_hours, tenant_snapshot

pytestmark = pytest.mark.django_db

SELF_SERVICE_NAMESPACES = ("tenants", "scheduling", "notifications")


def selfservice_patterns() -> Iterator[tuple[str, URLPattern]]:
    """(namespace:name, pattern) for every self-service URL, found by walking the root resolver."""

    def walk(patterns: list, namespace: str | None) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif namespace in SELF_SERVICE_NAMESPACES:
                assert entry.name, f"every self-service URL needs a name: {entry.pattern}"
                yield f"{namespace}:{entry.name}", entry

    yield from walk(get_resolver().url_patterns, None)


def kwarg_names(pattern: URLPattern) -> list[str]:
    return list(pattern.pattern.regex.groupindex)


def url_for(name: str, pattern: URLPattern, ids: dict[str, int]) -> str:
    return reverse(name, kwargs={kwarg: ids[kwarg] for kwarg in kwarg_names(pattern)})


def test_the_walk_finds_every_page():
    names = {name for name, _ in selfservice_patterns()}
    assert {
        "tenants:overview", "tenants:connect", "tenants:account", "tenants:account_switch",
        "scheduling:resources", "scheduling:resource_snooze", "scheduling:schedule", "scheduling:activity",
    } <= names


def test_anonymous_visitors_are_sent_to_sign_in_from_every_page(client):
    for name, pattern in selfservice_patterns():
        url = url_for(name, pattern, {kwarg: 1 for kwarg in kwarg_names(pattern)})
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (name, method)
            assert response["Location"].startswith(reverse("login") + "?next="), name


def test_staff_are_pointed_to_the_admin(staff_client):
    response = staff_client.get(reverse("tenants:overview"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert "staff work here, in the admin" in response.content.decode()


def test_signing_in_lands_on_the_overview(client, acme_member):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == reverse("tenants:overview")
    assert client.get("/").url == reverse("tenants:overview")


def test_a_login_without_membership_gets_an_explanation_not_data(client, acme_account):
    user = get_user_model().objects.create_user("nobody", "nobody@example.test", "pw")
    client.force_login(user)
    response = client.get(reverse("tenants:overview"))
    assert response.status_code == 403
    assert "not part of any organisation" in response.content.decode()
    assert acme_account.account_id not in response.content.decode()


def test_several_memberships_choose_one_and_the_choice_is_remembered(client, acme_member, acme, globex):
    acme_account = make_account(acme, "111111111111", name="Acme prod")
    globex_account = make_account(globex, "222222222222", name="Globex prod")
    Membership.objects.create(user=acme_member, tenant=globex)
    client.force_login(acme_member)

    response = client.get(reverse("scheduling:resources"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("tenants:choose_tenant"))
    page = client.get(response["Location"]).content.decode()
    assert "Acme" in page and "Globex" in page

    chosen = client.post(reverse("tenants:choose_tenant"), {"tenant": globex.pk, "next": reverse("scheduling:resources")})
    assert chosen["Location"] == reverse("scheduling:resources")
    overview = client.get(reverse("tenants:overview")).content.decode()
    assert "Globex prod" in overview and "Acme prod" not in overview
    # Objects of the other membership are out of reach until it is chosen.
    assert client.get(reverse("tenants:account", kwargs={"account_pk": acme_account.pk})).status_code == 404
    assert client.get(reverse("tenants:account", kwargs={"account_pk": globex_account.pk})).status_code == 200


@pytest.mark.parametrize("hostile", ["overview", "scheduling:resources", "//evil.test", "https://evil.test/"])
def test_choosing_a_tenant_redirects_only_to_a_local_path(client, acme_member, acme, globex, hostile):
    Membership.objects.create(user=acme_member, tenant=globex)
    client.force_login(acme_member)
    chosen = client.post(reverse("tenants:choose_tenant"), {"tenant": globex.pk, "next": hostile})
    assert chosen.status_code == 302 and chosen["Location"] == reverse("tenants:overview")


@pytest.mark.parametrize("tenant", ["²", "1²", "99999999999999999999999", "-1", "", "abc"])
def test_choosing_a_tenant_by_a_malformed_id_is_a_404(acme_client, tenant):
    assert acme_client.post(reverse("tenants:choose_tenant"), {"tenant": tenant}).status_code == 404


@pytest.mark.parametrize("path", ["/app/accounts/99999999999999999999999/", "/app/resources/1000000000000000000000/snooze/", "/app/schedules/-1/", "/app/schedules/%C2%B2/"])
def test_object_ids_in_urls_are_bounded_ascii_digits(acme_client, acme_account, path):
    assert acme_client.get(path).status_code == 404


def test_choosing_a_tenant_one_is_not_a_member_of_is_a_404(acme_client, globex):
    response = acme_client.post(reverse("tenants:choose_tenant"), {"tenant": globex.pk})
    assert response.status_code == 404
    assert "parkway_tenant_id" not in acme_client.session


def test_no_url_reaches_another_tenants_objects(
    acme_client, acme_account, globex, globex_member, globex_world: GlobexWorld
):
    """Every pattern with an object ID, filled with globex's object: GET and a
    plausible, otherwise valid POST are both 404, and globex is unchanged."""
    globex_ids = {
        "account_pk": globex_world.account.pk,
        "resource_pk": globex_world.resource.pk,
        "schedule_pk": globex_world.schedule.pk,
        "membership_pk": Membership.objects.get(user=globex_member, tenant=globex).pk,
        "invitation_pk": member_invite(tenant=globex, email="new@globex.test", role="viewer", actor="cli").pk,
        "channel_pk": Channel.objects.create(tenant=globex, kind="email", name="it", target="it@globex.test").pk,
    }
    # Everything any form of ours reads, valid enough that an unscoped view would act.
    post_data = {
        "name": "hijacked", "regions": "us-east-1, eu-west-1", "role_arn": "", "schedule": "",
        "state": "stopped", "hours": "2", "timezone": "UTC", "description": "x", "stop_new_instances": "on",
        "periods-TOTAL_FORMS": "1", "periods-INITIAL_FORMS": "0", "periods-MIN_NUM_FORMS": "0",
        "periods-MAX_NUM_FORMS": "20", "periods-0-weekdays": "sat-sun",
        "events": ["failures"], "enabled": "on",
        "role": "viewer", f"member-{globex_ids['membership_pk']}-role": "viewer",
    }
    before = tenant_snapshot(globex)
    checked = []
    for name, pattern in selfservice_patterns():
        kwargs = kwarg_names(pattern)
        if not kwargs:
            continue
        unknown = set(kwargs) - set(globex_ids)
        assert not unknown, f"{name}: teach this test which globex object fills {unknown}"
        url = url_for(name, pattern, globex_ids)
        assert acme_client.get(url).status_code == 404, f"GET {name}"
        assert acme_client.post(url, post_data).status_code == 404, f"POST {name}"
        checked.append(name)
    assert len(checked) >= 7
    assert tenant_snapshot(globex) == before


def test_lists_show_only_the_current_tenants_rows(acme_client, acme_account, globex_world: GlobexWorld):
    make_resources(acme_account, 2)
    pages = {
        name: acme_client.get(reverse(name)).content.decode()
        for name in ("tenants:overview", "scheduling:resources", "scheduling:schedules", "scheduling:activity")
    }
    for name, html in pages.items():
        assert globex_world.account.account_id not in html, name
        assert globex_world.resource.resource_id not in html, name
        assert "globex" not in html.lower(), name
    assert "web-0" in pages["scheduling:resources"]


def test_filtering_by_another_tenants_ids_shows_nothing_of_theirs(acme_client, acme_account, globex_world: GlobexWorld):
    make_resources(acme_account, 2)
    for params in ({"account": globex_world.account.pk}, {"schedule": globex_world.schedule.pk}, {"account": "x; drop"}):
        response = acme_client.get(reverse("scheduling:resources"), params)
        assert response.status_code == 200
        html = response.content.decode()
        assert globex_world.resource.resource_id not in html and "web-0" not in html
        assert "Select a valid choice" in html


def test_copying_another_tenants_schedule_is_a_404(acme_client, globex_world: GlobexWorld):
    url = reverse("scheduling:schedule_create")
    assert acme_client.get(url, {"from": globex_world.schedule.pk}).status_code == 404
    assert acme_client.get(url, {"from": "abc"}).status_code == 404


def test_changes_need_a_csrf_token(acme_member, acme_account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme_member)
    url = reverse("tenants:account", kwargs={"account_pk": acme_account.pk})
    response = client.post(url, {"name": "renamed", "regions": "us-east-1"})
    assert response.status_code == 403
    acme_account.refresh_from_db()
    assert acme_account.name != "renamed"


def test_every_page_has_unique_element_ids(acme_client, acme, acme_member, acme_account):
    """Browser tests and labels find elements by id: none may appear twice on a page."""
    schedule = office_hours(acme)
    (resource,) = make_resources(acme_account, 1, schedule=schedule)
    invitation = member_invite(tenant=acme, email="new@acme.test", role="viewer", actor="cli")
    ids = {
        "account_pk": acme_account.pk, "resource_pk": resource.pk, "schedule_pk": schedule.pk,
        "membership_pk": Membership.objects.get(user=acme_member).pk, "invitation_pk": invitation.pk,
        "channel_pk": Channel.objects.create(tenant=acme, kind="webhook", name="hook", target="https://h.test/x", secret="s").pk,
    }
    for name, pattern in selfservice_patterns():
        response = acme_client.get(url_for(name, pattern, ids), follow=True)
        if "text/html" not in response["Content-Type"]:
            continue
        found = re.findall(r'\sid="([^"]+)"', response.content.decode())
        duplicates = {i for i in found if found.count(i) > 1}
        assert not duplicates, f"{name}: {duplicates}"
