"""Signing in and out, and the password reset by email (Django's auth views, our templates)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core import mail
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse

from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_the_sign_in_page_and_a_wrong_password(client, acme_member):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'data-testid="login-form"' in page.content.decode()
    wrong = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and 'data-testid="login-error"' in wrong.content.decode()


def test_sign_out_is_a_post_and_leads_back_to_sign_in(acme_client):
    assert 'data-testid="sign-out"' in acme_client.get(reverse("tenants:overview")).content.decode()
    response = acme_client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert acme_client.get(reverse("tenants:overview")).status_code == 302


def test_password_reset_sends_a_working_link(client, acme_member):
    response = client.post(reverse("password_reset"), {"email": "alice@acme.test"})
    assert response["Location"] == reverse("password_reset_done")
    (message,) = mail.outbox
    assert message.to == ["alice@acme.test"] and message.subject == "Choose a new Parkway password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert 'data-testid="set-password-form"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-long new password", "new_password2": "a-long new password"})
    assert done["Location"] == reverse("password_reset_complete")
    # django-axes needs the request that authenticate() runs for (it counts failures per client).
    assert client.login(request=HttpRequest(), username="alice", password="a-long new password")


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "who@nowhere.test"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_the_admin_keeps_its_own_sign_out_page(staff_client):
    response = staff_client.post(reverse("admin:logout"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Log in again" in html and "selfservice/parkway.css" not in html  # the admin's own template


# --------------------------------------------------------------------------- lockout


@pytest.fixture
def limit(settings) -> int:
    settings.AXES_FAILURE_LIMIT = 5
    return 5


def sign_in(client, username: str, password: str, *, ip: str = "203.0.113.7", url: str | None = None):
    return client.post(url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("url", [reverse("login"), reverse("admin:login")])
def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(client, staff, limit, url):
    # 300 wrong passwords used to be answered one by one, and the right one then worked.
    for attempt in range(1, limit):
        assert sign_in(client, "staff", f"guess-{attempt}", url=url).status_code == 200
    locked = sign_in(client, "staff", "guess-last", url=url)
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode() and "15 minutes" in locked.content.decode()
    right = sign_in(client, "staff", "pw", url=url)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # By account: another address does not get round it.
    assert sign_in(client, "staff", "pw", ip="198.51.100.9", url=url).status_code == 429


def test_one_address_guessing_many_accounts_is_locked_out(client, acme_member, limit):
    for attempt in range(limit):
        sign_in(client, f"user-{attempt}", "guess")
    # By client: the real account from that address is refused, from another it works.
    assert sign_in(client, "alice", "pw").status_code == 429
    assert sign_in(client, "alice", "pw", ip="198.51.100.9").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, acme_member, limit):
    start = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False):
        for attempt in range(limit):
            sign_in(client, "alice", f"guess-{attempt}")
        assert sign_in(client, "alice", "pw").status_code == 429
    with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
        assert sign_in(client, "alice", "pw").status_code == 302


def test_the_start_of_a_lockout_is_audited_once(client, acme_member, limit):
    for attempt in range(limit + 3):
        sign_in(client, "alice", f"guess-{attempt}")
    (event,) = AuditEvent.objects.filter(action="auth.locked_out")
    assert event.tenant is None and event.actor_label == "system"
    assert event.details["username"] == "alice" and event.details["ip_address"] == "203.0.113.7"
    assert "guess" not in str(event.details)  # never a password


def test_the_count_is_in_the_database_shared_by_every_process(client, acme_member, limit):
    for attempt in range(limit - 1):
        sign_in(client, "alice", f"guess-{attempt}")
    # Another web process has its own memory: only the database is shared.
    assert AccessAttempt.objects.get(username="alice").failures_since_start == limit - 1
    cache.clear()
    assert sign_in(client, "alice", "guess").status_code == 429


def test_behind_proxies_the_address_is_the_one_our_proxy_saw(client, acme_member, limit, settings):
    settings.PARKWAY_TRUSTED_PROXIES = 1
    for attempt in range(limit):
        # The client may prepend anything; our proxy appends the real address.
        client.post(reverse("login"), {"username": f"u{attempt}", "password": "x"},
                    REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.{attempt}, 203.0.113.7")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    forged = client.post(reverse("login"), {"username": "alice", "password": "pw"},
                         REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1")
    assert forged.status_code == 302  # another client behind the same proxy is not locked out


def test_password_reset_sends_at_most_the_hourly_limit_to_one_address_and_answers_the_same(client, acme_member, settings):
    settings.PARKWAY_PASSWORD_RESET_PER_HOUR = 2
    answers = [client.post(reverse("password_reset"), {"email": "alice@acme.test"}) for _ in range(5)]
    assert {a["Location"] for a in answers} == {reverse("password_reset_done")}
    assert len(mail.outbox) == 2
    # Another address from the same client still gets its email, up to ten times the limit per client.
    client.post(reverse("password_reset"), {"email": "ALICE@acme.test"})
    assert len(mail.outbox) == 2  # the same address, whatever its case


def test_password_reset_from_one_client_is_limited_across_addresses(client, acme_member, settings):
    settings.PARKWAY_PASSWORD_RESET_PER_HOUR = 1  # ten per client address
    for n in range(12):
        client.post(reverse("password_reset"), {"email": f"nobody{n}@elsewhere.test"})
    assert client.post(reverse("password_reset"), {"email": "alice@acme.test"})["Location"] == reverse("password_reset_done")
    assert mail.outbox == []  # the client spent its allowance on made-up addresses
