"""Emails to customers' contacts, sent through Django's email framework
(console backend on a laptop, SMTP or a provider in production) and audited."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse

from tenants.models import CloudAccount, Invitation, Tenant
from tenants.onboarding import quick_create_url
from tenants.audit import Actor, audit_record
from tenants.sunset import legacy_keys_paused

logger = logging.getLogger(__name__)


def self_service_url() -> str:
    return f"{settings.PARKWAY_PUBLIC_URL}/app/"


@dataclass
class EmailOutcome:
    tenant: Tenant
    sent: bool
    message: str
    recipients: list[str] = field(default_factory=list)
    accounts: list[CloudAccount] = field(default_factory=list)


def tenant_email_migration_instructions(
    *, tenant: Tenant, actor: Actor, accounts: list[CloudAccount] | None = None
) -> EmailOutcome:
    """One message to the tenant's contacts: how to move its legacy accounts to a role.

    `accounts` narrows the list (admin selection); only accounts still on
    legacy keys are named. Nothing is sent when there is no contact or no
    legacy account: the outcome says why, so callers report it.
    """
    legacy = list(
        CloudAccount.objects.on_legacy_keys().filter(tenant=tenant).order_by("account_id")
        if accounts is None
        else CloudAccount.objects.on_legacy_keys().filter(pk__in=[a.pk for a in accounts]).order_by("account_id")
    )
    if not legacy:
        return EmailOutcome(tenant=tenant, sent=False, message=f"{tenant}: no account on legacy keys, nothing to send.")
    recipients = tenant.contact_email_list
    if not recipients:
        return EmailOutcome(
            tenant=tenant,
            sent=False,
            accounts=legacy,
            message=f"{tenant}: not sent, the tenant has no contact email address. Add one on the tenant's page.",
        )
    credentials = {a.pk: a.active_credential() for a in legacy}
    context = {
        "tenant": tenant,
        "accounts": [(a, credentials[a.pk]) for a in legacy],
        "our_account_id": settings.PARKWAY_AWS_ACCOUNT_ID,
        "external_id": tenant.external_id,
        "role_name": settings.PARKWAY_ROLE_NAME,
        "quick_create_url": quick_create_url(tenant),
        "self_service_url": self_service_url(),
        "deadline": settings.PARKWAY_LEGACY_DEADLINE,
        # Past the deadline the same message says parking *is* paused, not that it will be.
        "paused": legacy_keys_paused(),
    }
    subject = " ".join(render_to_string("tenants/emails/migration_instructions_subject.txt", context).split())
    body = render_to_string("tenants/emails/migration_instructions.txt", context)
    try:
        EmailMessage(subject=subject, body=body, to=recipients).send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("Migration instructions for tenant %s not sent: %s", tenant.slug, type(exc).__name__)
        return EmailOutcome(
            tenant=tenant,
            sent=False,
            accounts=legacy,
            message=f"{tenant}: not sent, the mail server failed ({type(exc).__name__}). Try again later.",
        )
    audit_record(
        action="tenant.migration_instructions_sent",
        actor=actor,
        tenant=tenant,
        details={
            "recipients": recipients,
            "accounts": [a.account_id for a in legacy],
            "deadline": settings.PARKWAY_LEGACY_DEADLINE.isoformat(),
            "paused": context["paused"],
            "subject": subject,
        },
    )
    return EmailOutcome(
        tenant=tenant,
        sent=True,
        recipients=recipients,
        accounts=legacy,
        message=f"{tenant}: migration instructions sent to {', '.join(recipients)} ({len(legacy)} account(s)).",
    )


def invitation_email_send(*, invitation: Invitation, token: str) -> None:
    """The invitation link, to the invited address only. Raises the mail server's
    error (smtplib.SMTPException / OSError): `tenants.members.member_invite` saves
    nothing then."""
    inviter = invitation.invited_by
    context = {
        "invitation": invitation,
        "tenant": invitation.tenant,
        "role": invitation.get_role_display().lower(),
        "inviter": (inviter.get_full_name() or inviter.get_username()) if inviter else "Parkway",
        "link": f"{settings.PARKWAY_PUBLIC_URL}{reverse('invitations:accept', kwargs={'token': token})}",
        "days": settings.PARKWAY_INVITATION_DAYS,
    }
    # One line whatever the tenant's name holds: a line break in a header is refused by Django (BadHeaderError).
    subject = " ".join(render_to_string("tenants/emails/invitation_subject.txt", context).split())
    body = render_to_string("tenants/emails/invitation.txt", context)
    EmailMessage(subject=subject, body=body, to=[invitation.email]).send()
