"""A tenant's team: inviting by email (a link used once, until it expires, stored
only as a hash), accepting by creating a password or with one button, the
members page (roles, removal, the last admin kept), and what each role sees."""

from __future__ import annotations

import datetime as dt
import hashlib
import smtplib

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse

from tenants.members import membership_change_role
from tenants.models import AuditEvent, Invitation, Membership
from tests.selfservice.conftest import invite, make_account, make_resources, office_hours

pytestmark = pytest.mark.django_db

MEMBERS = reverse("tenants:members")
PASSWORD = "correct horse battery"
UNUSABLE = "This invitation link cannot be used"


def link(token: str) -> str:
    return reverse("invitations:accept", kwargs={"token": token})


def person(tenant, role: str, username: str):
    user = get_user_model().objects.create_user(username, f"{username}@{tenant.slug}.test", "pw")
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def accept_signed_out(client, token: str, password: str = PASSWORD):
    return client.post(link(token), {"new_password1": password, "new_password2": password})


class FailingEmailBackend(BaseEmailBackend):
    """The mail server refuses (the outside world failing)."""

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("gone")


# --------------------------------------------------------------------------- inviting


def test_an_admin_invites_by_email_and_only_a_hash_of_the_token_is_kept(acme_client, acme):
    response = acme_client.post(reverse("tenants:member_invite"), {"email": "Bob@Example.TEST ", "role": "viewer"})
    assert response.status_code == 302

    (email,) = mail.outbox
    assert email.to == ["bob@example.test"] and "Acme" in email.subject
    assert "as viewer" in email.body
    invitation = Invitation.objects.get()
    token = email.body.split("/app/invitations/")[1].split("/")[0]
    assert len(token) >= 40 and f"http://127.0.0.1:8000/app/invitations/{token}/" in email.body
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(value) for value in Invitation.objects.values().get().values()]
    assert not any(token in value for value in stored)
    event = AuditEvent.objects.get(action="member.invited")
    assert event.details["email"] == "bob@example.test" and event.details["role"] == "viewer"
    assert token not in str(event.details)
    assert invitation.expires_at == invitation.created_at + dt.timedelta(days=7)


def test_the_invitation_lifetime_is_a_setting(acme, settings):
    settings.PARKWAY_INVITATION_DAYS = 2
    invitation, _ = invite(acme, "bob@example.test")
    assert invitation.expires_at - invitation.created_at == dt.timedelta(days=2)


def test_reinviting_replaces_the_pending_invitation(acme_client, acme):
    first, first_token = invite(acme, "bob@example.test", "viewer")
    second, second_token = invite(acme, "bob@example.test", "operator")
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert list(Invitation.objects.open()) == [second]
    acme_client.logout()
    assert acme_client.get(link(first_token)).status_code == 404
    page = acme_client.get(link(second_token))
    assert page.status_code == 200 and "Operator" in page.content.decode()


def test_an_existing_member_is_not_invited_again(acme_client, acme, acme_member):
    response = acme_client.post(reverse("tenants:member_invite"), {"email": "ALICE@acme.test", "role": "viewer"})
    assert response.status_code == 400
    assert "already a member of Acme" in response.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox


def test_an_address_longer_than_a_username_is_refused_with_what_was_typed_kept(acme_client):
    email = "a" * 140 + "@example.test"
    response = acme_client.post(reverse("tenants:member_invite"), {"email": email, "role": "viewer"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 150 characters" in html and email in html
    assert not Invitation.objects.exists()


def test_when_the_mail_server_fails_nobody_is_invited_and_the_earlier_link_still_works(acme_client, acme, settings):
    earlier, token = invite(acme, "bob@example.test")
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    response = acme_client.post(reverse("tenants:member_invite"), {"email": "bob@example.test", "role": "admin"})
    assert response.status_code == 400
    assert "could not be sent (SMTPServerDisconnected)" in response.content.decode()
    assert list(Invitation.objects.open()) == [earlier]
    assert AuditEvent.objects.filter(action="member.invited").count() == 1
    acme_client.logout()
    assert acme_client.get(link(token)).status_code == 200


# --------------------------------------------------------------------------- accepting


def test_signed_out_the_link_shows_tenant_and_role_and_creating_a_password_joins(client, acme):
    _, token = invite(acme, "bob@example.test", "operator")
    page = client.get(link(token))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Join Acme" in html and "Operator" in html and "bob@example.test" in html

    response = accept_signed_out(client, token)
    assert response.status_code == 302 and response["Location"] == reverse("tenants:overview")
    user = get_user_model().objects.get(username="bob@example.test")
    assert user.email == "bob@example.test" and user.check_password(PASSWORD)
    assert Membership.objects.get(user=user).role == "operator"
    assert client.get(reverse("tenants:overview")).status_code == 200  # signed in
    invitation = Invitation.objects.get()
    assert invitation.accepted_at is not None and invitation.accepted_by == user
    event = AuditEvent.objects.get(action="member.invitation_accepted")
    assert event.actor == user and event.tenant == acme


def test_a_weak_password_is_refused_and_nothing_is_created(client, acme):
    _, token = invite(acme, "bob@example.test")
    response = accept_signed_out(client, token, password="bob")
    assert response.status_code == 400
    assert "too short" in response.content.decode()
    assert not get_user_model().objects.filter(username="bob@example.test").exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_link_works_once(client, acme):
    _, token = invite(acme, "bob@example.test")
    assert accept_signed_out(client, token).status_code == 302
    client.logout()
    for response in (client.get(link(token)), accept_signed_out(client, token)):
        assert response.status_code == 404
        assert UNUSABLE in response.content.decode()
    assert get_user_model().objects.filter(username="bob@example.test").count() == 1
    assert Membership.objects.filter(tenant=acme).count() == 1


def test_a_link_expires(client, acme):
    invitation, token = invite(acme, "bob@example.test")
    with time_machine.travel(invitation.expires_at - dt.timedelta(minutes=1)):
        assert client.get(link(token)).status_code == 200
    with time_machine.travel(invitation.expires_at + dt.timedelta(seconds=1)):
        assert UNUSABLE in client.get(link(token)).content.decode()
        response = accept_signed_out(client, token)
    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="bob@example.test").exists()


@pytest.mark.parametrize("token", ["nope", "x" * 5000, "%C2%B2", "..", "' or 1=1 --"])
def test_unknown_tokens_get_the_same_page_as_used_ones(client, acme, token):
    invite(acme, "bob@example.test")
    response = client.get(f"/app/invitations/{token}/")
    assert response.status_code == 404
    assert UNUSABLE in response.content.decode()
    assert "Acme" not in response.content.decode()


def test_a_signed_in_person_with_the_invited_address_accepts_with_one_button(client, acme, globex):
    user = person(globex, "admin", "bob")
    user.email = "Bob@Example.test"
    user.save()
    _, token = invite(acme, "bob@example.test", "viewer")
    client.force_login(user)
    page = client.get(link(token))
    assert page.status_code == 200 and 'data-testid="accept-invitation"' in page.content.decode()
    assert "new_password1" not in page.content.decode()
    response = client.post(link(token))
    assert response.status_code == 302
    assert Membership.objects.get(user=user, tenant=acme).role == "viewer"
    assert client.get(reverse("tenants:overview")).context["request"].tenant == acme  # working in the new tenant


def test_a_signed_in_person_with_another_address_is_refused(client, acme, globex_member):
    _, token = invite(acme, "bob@example.test")
    client.force_login(globex_member)
    for response in (client.get(link(token)), client.post(link(token))):
        assert response.status_code == 403
        assert "sent to another email address than yours" in response.content.decode()
    assert not Membership.objects.filter(tenant=acme).exists()
    assert Invitation.objects.get().accepted_at is None


def test_signed_out_with_an_existing_login_for_the_address_asks_to_sign_in(client, acme, globex):
    existing = person(globex, "viewer", "bob")
    existing.email = "bob@example.test"
    existing.save()
    _, token = invite(acme, "bob@example.test")
    page = client.get(link(token))
    assert 'data-testid="sign-in-first"' in page.content.decode()
    response = accept_signed_out(client, token)
    assert "sign in" in response.content.decode()
    assert get_user_model().objects.filter(email__iexact="bob@example.test").count() == 1
    assert not Membership.objects.filter(tenant=acme).exists()


def test_signing_in_from_the_invitation_comes_back_to_it(client, acme, globex):
    existing = person(globex, "viewer", "bob")
    existing.email = "bob@example.test"
    existing.save()
    _, token = invite(acme, "bob@example.test", "operator")
    page = client.get(link(token))
    login_url = page.context["login_url"]
    signed_in = client.post(login_url, {"username": "bob", "password": "pw", "next": link(token)})
    assert signed_in["Location"] == link(token)
    assert client.post(link(token)).status_code == 302
    assert Membership.objects.get(user=existing, tenant=acme).role == "operator"


def test_a_tenant_name_with_a_line_break_still_makes_a_one_line_subject(acme):
    acme.name = "Acme\nBcc: everyone@example.test"
    acme.save()
    invite(acme, "bob@example.test")
    assert "\n" not in mail.outbox[-1].subject and mail.outbox[-1].to == ["bob@example.test"]


def test_a_withdrawn_invitation_no_longer_opens(acme_client, acme, client):
    invitation, token = invite(acme, "bob@example.test")
    url = reverse("tenants:invitation_withdraw", kwargs={"invitation_pk": invitation.pk})
    assert acme_client.post(url).status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert AuditEvent.objects.filter(action="member.invitation_revoked", details__email="bob@example.test").exists()
    acme_client.post(url)  # twice: nothing more
    assert AuditEvent.objects.filter(action="member.invitation_revoked").count() == 1
    acme_client.logout()
    assert acme_client.get(link(token)).status_code == 404


# --------------------------------------------------------------------------- the members page


def test_the_members_page_lists_people_roles_and_pending_invitations(acme_client, acme, acme_member):
    person(acme, "viewer", "vera")
    invite(acme, "bob@example.test", "operator")
    html = acme_client.get(MEMBERS).content.decode()
    assert "alice" in html and "vera" in html and "Viewer" in html
    assert "bob@example.test" in html and 'data-testid="withdraw-invitation"' in html
    assert 'data-testid="invite-form"' in html and 'data-testid="change-role"' in html


def test_a_viewer_sees_the_members_read_only(client, acme, acme_member):
    client.force_login(person(acme, "viewer", "vera"))
    invite(acme, "bob@example.test")
    response = client.get(MEMBERS)
    html = response.content.decode()
    assert response.status_code == 200 and "alice" in html and "bob@example.test" in html
    for control in ("invite-form", "change-role", "remove-member", "withdraw-invitation"):
        assert f'data-testid="{control}"' not in html


def test_an_admin_changes_a_role(acme_client, acme):
    vera = person(acme, "viewer", "vera")
    membership = Membership.objects.get(user=vera)
    url = reverse("tenants:member_role", kwargs={"membership_pk": membership.pk})
    assert acme_client.post(url, {f"member-{membership.pk}-role": "operator"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == "operator"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.details == {"user": "vera", "before": "viewer", "after": "operator"}


def test_the_last_admin_can_be_neither_demoted_nor_removed(acme_client, acme, acme_member):
    mine = Membership.objects.get(user=acme_member)
    demote = acme_client.post(reverse("tenants:member_role", kwargs={"membership_pk": mine.pk}), {f"member-{mine.pk}-role": "viewer"})
    assert demote.status_code == 400
    assert "alice is the last admin of Acme" in demote.content.decode()
    remove = acme_client.post(reverse("tenants:member_remove", kwargs={"membership_pk": mine.pk}))
    assert remove.status_code == 400
    assert "make someone else an admin first" in remove.content.decode()
    mine.refresh_from_db()
    assert mine.role == "admin"
    assert not AuditEvent.objects.filter(action__in=["member.role_changed", "member.removed"]).exists()


def test_with_a_second_admin_the_first_may_step_down(acme_client, acme, acme_member):
    person(acme, "admin", "ann")
    mine = Membership.objects.get(user=acme_member)
    membership_change_role(membership=mine, role="operator", actor=acme_member)
    mine.refresh_from_db()
    assert mine.role == "operator"
    # ann is now the last admin.
    ann = Membership.objects.get(user__username="ann")
    with pytest.raises(ValidationError, match="last admin"):
        membership_change_role(membership=ann, role="viewer", actor="cli")


def test_an_admin_removes_a_member_after_a_confirmation(acme_client, acme):
    vera = person(acme, "viewer", "vera")
    url = reverse("tenants:member_remove", kwargs={"membership_pk": Membership.objects.get(user=vera).pk})
    page = acme_client.get(url)
    assert page.status_code == 200 and "Remove vera from Acme?" in page.content.decode()
    assert Membership.objects.filter(user=vera).exists()
    assert acme_client.post(url).status_code == 302
    assert not Membership.objects.filter(user=vera).exists()
    assert get_user_model().objects.filter(username="vera").exists()  # the login stays
    assert AuditEvent.objects.get(action="member.removed").details == {"user": "vera", "role": "viewer"}


def test_an_admin_who_leaves_loses_access_at_once(acme_client, acme, acme_member):
    person(acme, "admin", "ann")
    url = reverse("tenants:member_remove", kwargs={"membership_pk": Membership.objects.get(user=acme_member).pk})
    assert acme_client.post(url)["Location"] == reverse("tenants:overview")
    assert acme_client.get(reverse("tenants:overview")).status_code == 403  # no organisation any more


# --------------------------------------------------------------------------- what each role sees


def test_a_viewer_sees_no_button_that_changes_something(client, acme, acme_member):
    account = make_account(acme, "111111111111")
    schedule = office_hours(acme)
    (resource,) = make_resources(account, 1)
    client.force_login(person(acme, "viewer", "vera"))
    pages = {
        "overview": reverse("tenants:overview"),
        "account": reverse("tenants:account", kwargs={"account_pk": account.pk}),
        "resources": reverse("scheduling:resources"),
        "resource": reverse("scheduling:resource", kwargs={"resource_pk": resource.pk}),
        "schedules": reverse("scheduling:schedules"),
        "schedule": reverse("scheduling:schedule", kwargs={"schedule_pk": schedule.pk}),
        "members": MEMBERS,
    }
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert 'method="post"' not in html.replace('action="/accounts/logout/"', "").split("<main", 1)[1], name
        assert 'href="/app/connect/"' not in html, name
        assert 'data-testid="nav-members"' in html, name


def test_an_operator_sees_snoozes_and_schedules_but_not_account_controls(client, acme, acme_member):
    account = make_account(acme, "111111111111")
    (resource,) = make_resources(account, 1)
    client.force_login(person(acme, "operator", "oscar"))
    resource_page = client.get(reverse("scheduling:resource", kwargs={"resource_pk": resource.pk})).content.decode()
    assert 'data-testid="snooze-form"' in resource_page and 'data-testid="assign-form"' in resource_page
    account_page = client.get(reverse("tenants:account", kwargs={"account_pk": account.pk})).content.decode()
    assert 'data-testid="test-again"' not in account_page and 'data-testid="account-settings-form"' not in account_page
    assert 'data-testid="new-schedule"' in client.get(reverse("scheduling:schedules")).content.decode()


def test_a_denied_change_is_a_403_page_with_the_reason(client, acme, acme_member):
    account = make_account(acme, "111111111111")
    client.force_login(person(acme, "viewer", "vera"))
    response = client.post(reverse("tenants:account", kwargs={"account_pk": account.pk}), {"name": "x", "regions": "us-east-1"})
    assert response.status_code == 403
    assert "Viewers can look but not change anything: ask an admin of Acme to make you an operator." in response.content.decode()
    account.refresh_from_db()
    assert account.name != "x"


def test_the_role_is_read_at_each_request(client, acme, acme_member):
    """A demotion takes effect on the next request, not at the next sign-in."""
    oscar = person(acme, "operator", "oscar")
    client.force_login(oscar)
    assert client.get(reverse("scheduling:schedule_create")).status_code == 200
    membership_change_role(membership=Membership.objects.get(user=oscar), role="viewer", actor=acme_member)
    assert client.get(reverse("scheduling:schedule_create")).status_code == 403


def test_the_members_page_costs_the_same_for_2_or_20_members(acme_client, acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert acme_client.get(MEMBERS).status_code == 200
        return len(captured)

    person(acme, "viewer", "m0")
    invite(acme, "i0@example.test", actor=Membership.objects.get(user__username="alice").user)
    two = queries()
    for n in range(1, 10):
        person(acme, "operator", f"m{n}")
        invite(acme, f"i{n}@example.test", actor=Membership.objects.get(user__username="alice").user)
    assert queries() == two
