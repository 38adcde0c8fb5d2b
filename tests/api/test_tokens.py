"""API tokens: shown once, stored as a hash, refused once revoked or expired,
acting with the owner's role as it is now; staff tokens; the rate limit."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.tokens import token_authenticate, token_create, token_revoke
from tenants.models import AuditEvent, Membership
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def raw_token_columns() -> list[tuple[str, str, str]]:
    """(name, prefix, token_hash) as the database holds them, past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, prefix, token_hash FROM {ApiToken._meta.db_table}")
        return list(cursor.fetchall())


def test_the_page_shows_a_new_token_once_and_stores_only_its_hash(client, acme_member):
    client.force_login(acme_member)
    response = client.post(reverse("tokens:tokens"), {"name": "ci-bot", "expires_in": "30"})
    assert response.status_code == 201
    secret = response.context["created"][1]
    assert secret.startswith("pwk_") and len(secret) > 40
    assert secret in response.content.decode()

    (name, prefix, token_hash), = raw_token_columns()
    assert name == "ci-bot"
    assert token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (name, prefix, token_hash) and secret.startswith(prefix) and len(prefix) < 16
    # Never again: the list shows the prefix only.
    listed = client.get(reverse("tokens:tokens")).content.decode()
    assert secret not in listed and prefix in listed
    assert ApiClient(secret).get("me").json()["token"] == "ci-bot"


def test_a_revoked_token_is_refused(client, acme_member):
    token, secret = token_create(membership=acme_member.memberships.get(), name="ci", actor=acme_member)
    assert ApiClient(secret).get("me").status_code == 200
    client.force_login(acme_member)
    assert client.post(reverse("tokens:token_revoke", kwargs={"token_pk": token.pk})).status_code == 302
    response = ApiClient(secret).get("me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert AuditEvent.objects.filter(action="api_token.revoked", details__token="ci").exists()


def test_an_expired_token_is_refused(acme_member):
    now = timezone.now()
    _, secret = token_create(membership=acme_member.memberships.get(), name="ci", expires_at=now + dt.timedelta(days=1),
                             actor=acme_member)
    assert ApiClient(secret).get("me").status_code == 200
    with time_machine.travel(now + dt.timedelta(days=1, seconds=1)):
        assert ApiClient(secret).get("me").status_code == 401


def test_a_token_acts_with_the_role_its_owner_has_now(acme_member, acme):
    membership = acme_member.memberships.get()
    _, secret = token_create(membership=membership, name="ci", actor=acme_member)
    api = ApiClient(secret)
    assert api.get("me").json()["role"] == "admin"
    Membership.objects.filter(pk=membership.pk).update(role="viewer")
    assert api.get("me").json()["role"] == "viewer"
    denied = api.post("accounts", {"account_id": "111111111111", "regions": ["us-east-1"]})
    assert denied.status_code == 403
    assert "Viewers can look but not change anything" in denied.json()["error"]["message"]


def test_a_removed_members_tokens_stop_working(acme_member):
    membership = acme_member.memberships.get()
    _, secret = token_create(membership=membership, name="ci", actor=acme_member)
    membership.delete()
    assert ApiClient(secret).get("me").status_code == 401


def test_a_deactivated_user_or_one_made_staff_cannot_use_a_member_token(acme_member):
    _, secret = token_create(membership=acme_member.memberships.get(), name="ci", actor=acme_member)
    acme_member.is_staff = True
    acme_member.save()
    assert ApiClient(secret).get("me").status_code == 401
    acme_member.is_staff, acme_member.is_active = False, False
    acme_member.save()
    assert ApiClient(secret).get("me").status_code == 401


def test_last_use_is_written_at_most_once_a_minute(acme_member):
    token, secret = token_create(membership=acme_member.memberships.get(), name="ci", actor=acme_member)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token_authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        token_authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        token_authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at == start + dt.timedelta(seconds=61)


def test_a_member_token_works_in_its_own_tenant_only(tokens):
    mine = ApiClient(tokens.admin, tenant="acme").get("me")
    assert mine.status_code == 200 and mine.json()["tenant"] == "acme"
    other = ApiClient(tokens.admin, tenant="globex").get("me")
    assert other.status_code == 400 and other.json()["error"]["code"] == "tenant_mismatch"


def test_a_staff_token_names_its_tenant_per_request(tokens):
    assert ApiClient(tokens.staff).get("me").json()["error"]["code"] == "tenant_required"
    assert ApiClient(tokens.staff, tenant="nope").get("me").json()["error"]["code"] == "unknown_tenant"
    for slug in ("acme", "globex"):
        me = ApiClient(tokens.staff, tenant=slug).get("me").json()
        assert (me["tenant"], me["token_kind"], me["can_administer"]) == (slug, "staff", True)


def test_a_staff_token_stops_when_its_user_is_no_longer_staff(tokens, staff):
    staff.is_staff = False
    staff.save()
    assert ApiClient(tokens.staff, tenant="acme").get("me").status_code == 401


def test_the_rate_limit_answers_429_with_retry_after(tokens, settings):
    settings.PARKWAY_API_RATE = "3/minute"
    api = ApiClient(tokens.viewer)
    assert [api.get("me").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("me")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Per token: another token of the same tenant is not slowed down.
    assert ApiClient(tokens.operator).get("me").status_code == 200


def test_changes_made_with_a_token_are_audited_with_its_name(tokens, acme):
    ApiClient(tokens.operator).post("schedules", {
        "name": "nights", "timezone": "UTC", "periods": [{"begintime": "20:00", "endtime": "23:00", "weekdays": "mon-fri"}],
    })
    event = AuditEvent.objects.get(action="schedule.created")
    assert event.actor_label == "operator-of-acme (token: operator-bot)"
    assert event.details["via"] == "api" and event.details["token"] == "operator-bot"


def test_sessions_are_not_accepted(client, acme_member):
    """A signed-in browser cannot call the API: no cookie auth, so no CSRF to forge."""
    client.force_login(acme_member)
    assert client.get("/api/v1/me").status_code == 401
    assert client.post("/api/v1/accounts", {}, content_type="application/json").status_code == 401


def test_people_create_tokens_for_themselves_only(acme_member, globex_member):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        token_create(membership=acme_member.memberships.get(), name="sneaky", actor=globex_member)


def test_revoking_twice_changes_nothing(acme_member):
    token, _ = token_create(membership=acme_member.memberships.get(), name="ci", actor=acme_member)
    assert token_revoke(token=token, actor=acme_member) is True
    assert token_revoke(token=token, actor=acme_member) is False
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_staff_create_a_staff_token_in_the_admin_and_see_it_once(staff_client, staff, acme):
    response = staff_client.post(reverse("admin:api_apitoken_add"), {"user": staff.pk, "name": "billing-sync", "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 200, response.content[:500]
    secret = response.context["secret"]
    token = ApiToken.objects.get(name="billing-sync")
    assert token.kind == "staff" and token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in staff_client.get(reverse("admin:api_apitoken_change", args=[token.pk])).content.decode()
    assert ApiClient(secret, tenant="acme").get("me").json()["username"] == "staff"
