"""Signing in and out, and the password reset by email (Django's auth views, our templates)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

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
    assert client.login(username="alice", password="a-long new password")


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "who@nowhere.test"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_the_admin_keeps_its_own_sign_out_page(staff_client):
    response = staff_client.post(reverse("admin:logout"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Log in again" in html and "selfservice/parkway.css" not in html  # the admin's own template
