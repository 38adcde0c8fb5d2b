"""Mail leaves from the worker, not from the request or the transaction that asked for it.

`BackgroundEmailBackend` is Django's EMAIL_BACKEND: `send()` hands each message
to django-q2 once the current transaction commits (nothing is sent for work
that rolled back), and the page answers at once whatever the mail server does.
The worker's `email_deliver` sends it through the backend EMAIL_URL configured
(`PARKWAY_EMAIL_BACKEND`: SMTP, console…). Messages carry links that are
secrets (invitations, password resets): the queued copy is encrypted with
PARKWAY_ENCRYPTION_KEYS, so neither the broker nor django-q2's task table
holds them readable.

A delivery the mail server refuses fails its task: it is logged (and reported
to Sentry) and listed under Django Q › Failed tasks, where staff resubmit it.
"""

from __future__ import annotations

import base64
import logging
import pickle
from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django_q.tasks import async_task

from tenants import crypto

logger = logging.getLogger(__name__)


def _seal(message: EmailMessage) -> str:
    message.connection = None  # a backend holds sockets and settings: not part of the message
    return crypto.encrypt(base64.b64encode(pickle.dumps(message)).decode())


def _unseal(sealed: str) -> EmailMessage:
    # Only what _seal encrypted with our own keys is ever unpickled (Fernet authenticates it).
    return pickle.loads(base64.b64decode(crypto.decrypt(sealed)))  # noqa: S301


class BackgroundEmailBackend(BaseEmailBackend):
    """Queues each message for the worker after the current transaction commits."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        queued = 0
        for message in email_messages:
            if not message.recipients():
                continue
            transaction.on_commit(partial(email_enqueue, sealed=_seal(message)))
            queued += 1
        return queued


def email_enqueue(*, sealed: str) -> None:
    async_task("portal.mail.email_deliver", sealed, group="email")


def email_deliver(sealed: str) -> int:
    """The worker's task: send one queued message with the configured mail backend."""
    message = _unseal(sealed)
    connection = get_connection(settings.PARKWAY_EMAIL_BACKEND)
    try:
        return connection.send_messages([message]) or 0
    except Exception as exc:
        # The subject and addresses only: the body carries the links.
        logger.error(
            "Email %r to %d recipient(s) not sent: %s", message.subject, len(message.recipients()), type(exc).__name__
        )
        raise
