"""The Content-Security-Policy on every response, pages that need nothing
inline, and session lengths: customers by SESSION_COOKIE_AGE, staff until the
browser closes and PARKWAY_STAFF_SESSION_SECONDS at most."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from portal.security import CONTENT_SECURITY_POLICY
from tests.selfservice.conftest import make_account, make_resources, office_hours
from tests.tenants.test_checks import production_env, run_manage

pytestmark = pytest.mark.django_db

REQUIRED_DIRECTIVES = {
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'",
    "frame-ancestors 'none'", "form-action 'self'",
}
# What the policy forbids: inline <script> (src-less), <style>, style="" and on…="" handlers.
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def policy_of(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


def test_the_policy_is_strict():
    directives = {part.strip() for part in CONTENT_SECURITY_POLICY.split(";")}
    assert REQUIRED_DIRECTIVES <= directives
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_every_kind_of_response_carries_the_policy(client, acme_member, staff, settings):
    settings.AXES_FAILURE_LIMIT = 1
    responses = {
        "sign-in page": client.get(reverse("login")),
        "redirect": client.get(reverse("tenants:overview")),
        "404": client.get("/no-such-page/"),
        "admin sign-in": client.get(reverse("admin:login")),
        "lockout": client.post(reverse("login"), {"username": "alice", "password": "wrong"}),
    }
    csrf_client = Client(enforce_csrf_checks=True)
    responses["CSRF refusal"] = csrf_client.post(reverse("login"), {"username": "x", "password": "y"})
    member = Client()
    member.force_login(acme_member)
    responses["self-service page"] = member.get(reverse("tenants:overview"))
    responses["download"] = member.get(reverse("tenants:template"))
    operator = Client()
    operator.force_login(staff)
    responses["admin page"] = operator.get(reverse("admin:index"))
    assert {name: r.status_code for name, r in responses.items()} == {
        "sign-in page": 200, "redirect": 302, "404": 404, "admin sign-in": 200, "lockout": 429, "CSRF refusal": 403,
        "self-service page": 200, "download": 200, "admin page": 200,
    }
    for name, response in responses.items():
        assert REQUIRED_DIRECTIVES <= policy_of(response), name


def test_pages_need_nothing_inline(client, staff, acme, acme_member, standin):
    account = make_account(acme, "111111111111")
    (resource,) = make_resources(account, 1)
    schedule = office_hours(acme)
    member = Client()
    member.force_login(acme_member)
    pages = [
        reverse("login"), reverse("password_reset"),
        reverse("tenants:overview"), reverse("tenants:connect"), reverse("tenants:account", kwargs={"account_pk": account.pk}),
        reverse("scheduling:resources"), reverse("scheduling:resource", kwargs={"resource_pk": resource.pk}),
        reverse("scheduling:schedules"), reverse("scheduling:schedule_create"),
        reverse("scheduling:schedule", kwargs={"schedule_pk": schedule.pk}), reverse("scheduling:activity"),
    ]
    for url in pages:
        html = (member if url.startswith("/app/") else client).get(url).content.decode()
        assert not INLINE.search(html), (url, INLINE.search(html))

    client.force_login(staff)
    admin_pages = [
        reverse("admin:index"), reverse("admin:tenants_cloudaccount_changelist"),
        reverse("admin:tenants_cloudaccount_change", args=[account.pk]), reverse("admin:scheduling_schedule_change", args=[schedule.pk]),
        reverse("admin:scheduling_resource_changelist"),
    ]
    for url in admin_pages:
        html = client.get(url).content.decode()
        assert not INLINE.search(html), (url, INLINE.search(html))
    confirm = client.post(
        reverse("admin:tenants_cloudaccount_changelist"), {"action": "migrate_to_role", ACTION_CHECKBOX_NAME: [account.pk]}
    ).content.decode()
    assert "Migrate to IAM role" in confirm and not INLINE.search(confirm)


def test_a_customer_session_lasts_session_cookie_age(client, acme_member, settings):
    settings.SESSION_COOKIE_AGE = 3600
    client.post(reverse("login"), {"username": "alice", "password": "pw"})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 3600
    assert client.session.get_expiry_age() == 3600


def test_a_staff_session_ends_with_the_browser_and_after_eight_hours(client, staff, settings):
    start = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False):
        response = client.post(reverse("admin:login"), {"username": "staff", "password": "pw"})
        assert response.status_code == 302
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        assert cookie["max-age"] == "" and cookie["expires"] == ""  # a browser-session cookie
        assert client.session.get_expire_at_browser_close()
    with time_machine.travel(start + dt.timedelta(hours=7, minutes=59), tick=False):
        assert client.get(reverse("admin:index")).status_code == 200
    with time_machine.travel(start + dt.timedelta(hours=8), tick=False):
        response = client.get(reverse("admin:index"), follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("admin:login"))
        assert "Staff sessions last 8 hours at most" in response.content.decode()
        assert "_auth_user_id" not in client.session


def test_a_customer_session_is_not_cut_at_the_staff_limit(client, acme_member, acme):
    start = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False):
        client.post(reverse("login"), {"username": "alice", "password": "pw"})
    with time_machine.travel(start + dt.timedelta(hours=9), tick=False):
        assert client.get(reverse("tenants:overview")).status_code == 200


def test_session_and_lockout_settings_come_from_the_environment():
    env = production_env() | {
        "SESSION_COOKIE_AGE": "7200", "PARKWAY_STAFF_SESSION_SECONDS": "1800",
        "PARKWAY_LOGIN_FAILURE_LIMIT": "7", "PARKWAY_LOGIN_COOLOFF_MINUTES": "30", "PARKWAY_TRUSTED_PROXIES": "2",
    }
    code = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_AGE, s.PARKWAY_STAFF_SESSION_SECONDS, "
        "s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()), s.PARKWAY_TRUSTED_PROXIES)"
    )
    result = run_manage("shell", "-c", code, **env)
    assert result.stdout.splitlines()[-1].split() == ["7200", "1800", "7", "1800", "2"], result.stdout + result.stderr


@pytest.mark.parametrize("url", ["/admin/logout/", "/accounts/logout/"])
@pytest.mark.parametrize("target", ["//", "//evil.test", "https://evil.test/", "overview"])
def test_logging_out_never_redirects_to_a_foreign_next(staff_client, url, target):
    # The fuzz suite found Django's logout redirecting to "//" (its own host check lets it through).
    response = staff_client.post(url, {"next": target})
    location = response.get("Location", "")
    assert not location.startswith("//") and "evil.test" not in location and location != "overview"
