"""Mail leaves from the worker (portal.mail), after the transaction that asked for it commits.

The rest of the suite sends straight into mail.outbox (tests/settings.py); these
tests run the production backend, with django-q2 executing tasks inline."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import OrmQ, Task

from portal.mail import email_deliver
from tenants.models import Invitation

pytestmark = pytest.mark.django_db


class FailingEmailBackend(BaseEmailBackend):
    """The mail server refuses (the outside world failing)."""

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("gone")


@pytest.fixture
def background_mail(settings):
    settings.EMAIL_BACKEND = "portal.mail.BackgroundEmailBackend"
    settings.PARKWAY_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_an_invitation_is_mailed_by_the_worker_once_committed(
    background_mail, client, acme, acme_member, monkeypatch, django_capture_on_commit_callbacks
):
    acme_client = client
    acme_client.force_login(acme_member)
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr(Conf, "SAVE_LIMIT", 0)  # keep the successful task, to look at what was queued
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = acme_client.post(reverse("tenants:member_invite"), {"email": "bob@example.test", "role": "viewer"})
        assert response.status_code == 302
        assert mail.outbox == []  # nothing left during the request's transaction
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: queued, and (inline here) delivered by the worker's task
    (message,) = mail.outbox
    assert message.to == ["bob@example.test"] and "/app/invitations/" in message.body
    page = acme_client.get(reverse("tenants:members"), follow=True).content.decode()
    assert "the email is on its way" in page
    task = Task.objects.get(func="portal.mail.email_deliver")
    assert task.success
    token = message.body.split("/app/invitations/")[1].split("/")[0]
    assert token not in str(task.args)  # the queued copy is encrypted


def test_a_rolled_back_invitation_sends_nothing(background_mail, acme, monkeypatch, django_capture_on_commit_callbacks):
    from django.db import transaction

    from tenants.members import member_invite

    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                member_invite(tenant=acme, email="bob@example.test", role="viewer", actor="cli")
                raise RuntimeError("something after it failed")
    assert mail.outbox == [] and not Invitation.objects.exists()


def test_without_sync_the_message_waits_in_the_queue_encrypted(background_mail, client, acme_member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("password_reset"), {"email": "alice@acme.test"})
    assert mail.outbox == []
    (queued,) = OrmQ.objects.all()
    assert queued.func() == "portal.mail.email_deliver"
    (sealed,) = queued.task["args"]
    assert "alice@acme.test" not in sealed and "reset" not in sealed
    assert email_deliver(sealed) == 1  # what the worker does with it
    (message,) = mail.outbox
    assert message.to == ["alice@acme.test"] and "/accounts/reset/" in message.body


def test_a_refused_delivery_fails_the_task_and_is_logged_without_the_body(background_mail, settings, caplog):
    from django.core.mail import EmailMessage

    from portal.mail import _seal

    settings.PARKWAY_EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    sealed = _seal(EmailMessage(subject="Join Acme", body="https://x/app/invitations/SECRET-TOKEN/", to=["bob@example.test"]))
    with pytest.raises(smtplib.SMTPServerDisconnected):
        email_deliver(sealed)  # a failed task: listed in the admin's Failed tasks, where staff resubmit it
    assert "'Join Acme' to 1 recipient(s) not sent: SMTPServerDisconnected" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text


def test_email_url_configures_the_delivering_backend(monkeypatch):
    import importlib

    import portal.settings as portal_settings

    monkeypatch.setenv("EMAIL_URL", "smtp+tls://parkway:pa55@mail.example.com:587")
    try:
        reloaded = importlib.reload(portal_settings)
        assert reloaded.EMAIL_BACKEND == "portal.mail.BackgroundEmailBackend"
        assert reloaded.PARKWAY_EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
        assert (reloaded.EMAIL_HOST, reloaded.EMAIL_PORT, reloaded.EMAIL_USE_TLS) == ("mail.example.com", 587, True)
        assert (reloaded.EMAIL_HOST_USER, reloaded.EMAIL_HOST_PASSWORD) == ("parkway", "pa55")
    finally:
        monkeypatch.delenv("EMAIL_URL")
        importlib.reload(portal_settings)
