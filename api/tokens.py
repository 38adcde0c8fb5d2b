"""API tokens: create (the secret is returned once), revoke, authenticate.

Tokens are 32 random bytes, so a fast hash is the right one: SHA-256 of the
whole token is stored (unique, looked up by index), never the token itself;
a slow password hash would add nothing against guessing 256 bits and cost
every request. The first characters (`prefix`) are kept in the clear so that
a person can tell their tokens apart and staff can find a leaked one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from tenants.audit import Actor, audit_record
from tenants.models import Membership

TOKEN_PREFIX = "pwk_"
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is written at most this often per token: not one UPDATE per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MAX_TOKENS_PER_MEMBERSHIP = 20


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _validate(*, name: str, expires_at: dt.datetime | None, now: dt.datetime) -> str:
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name that says what uses it, e.g. ci-bot."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    return name


def _create(*, kind: str, user: AbstractBaseUser, membership: Membership | None, name: str,
            expires_at: dt.datetime | None, actor: Actor) -> tuple[ApiToken, str]:
    now = timezone.now()
    name = _validate(name=name, expires_at=expires_at, now=now)
    secret = _new_secret()
    token = ApiToken(
        kind=kind, user=user, membership=membership, name=name, prefix=secret[:PREFIX_LENGTH],
        token_hash=hash_token(secret), created_at=now, expires_at=expires_at,
    )
    with transaction.atomic():
        token.save()
        audit_record(
            action="api_token.created", actor=actor, tenant=membership.tenant if membership else None,
            details={"token": name, "prefix": token.prefix, "kind": kind,
                     "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return token, secret


def token_create(
    *, membership: Membership, name: str, expires_at: dt.datetime | None = None, actor: Actor
) -> tuple[ApiToken, str]:
    """A member's own token in one tenant. Returns the row and the secret, which
    is not stored and cannot be shown again."""
    if not isinstance(actor, str) and actor.pk != membership.user_id:
        raise PermissionDenied("People create their own API tokens only.")
    if ApiToken.objects.usable().filter(membership=membership).count() >= MAX_TOKENS_PER_MEMBERSHIP:
        raise ValidationError(
            {"name": f"You have {MAX_TOKENS_PER_MEMBERSHIP} working tokens here, the most Parkway allows: revoke one first."}
        )
    return _create(kind=ApiToken.Kind.MEMBER, user=membership.user, membership=membership, name=name,
                   expires_at=expires_at, actor=actor)


def staff_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: dt.datetime | None = None, actor: Actor
) -> tuple[ApiToken, str]:
    """A token for Parkway's internal tools, acting as the staff user `user` (admin only)."""
    if not (user.is_staff and user.is_active):
        raise ValidationError({"user": "A staff token acts as a staff user: choose an active staff user."})
    return _create(kind=ApiToken.Kind.STAFF, user=user, membership=None, name=name, expires_at=expires_at, actor=actor)


def token_revoke(*, token: ApiToken, actor: Actor) -> bool:
    """Revoke `token` for good; False when it was revoked already."""
    now = timezone.now()
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        if revoked:
            token.revoked_at = now
            audit_record(
                action="api_token.revoked", actor=actor,
                tenant=token.membership.tenant if token.membership_id else None,
                details={"token": token.name, "prefix": token.prefix, "kind": token.kind},
            )
    return bool(revoked)


def token_authenticate(secret: str, *, now: dt.datetime | None = None) -> ApiToken | None:
    """The usable token `secret` is, with its user and membership (role and
    tenant as they are now), or None: unknown, revoked, expired, or its user
    deactivated (or, for a member token, made staff: staff use staff tokens)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    now = now or timezone.now()
    token = (
        ApiToken.objects.filter(token_hash=hash_token(secret))
        .select_related("user", "membership__tenant")
        .first()
    )
    if token is None or not token.is_usable(now=now) or not token.user.is_active:
        return None
    if token.kind == ApiToken.Kind.STAFF and not token.user.is_staff:
        return None
    if token.kind == ApiToken.Kind.MEMBER and (token.user.is_staff or token.membership is None):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so concurrent requests of one token write once.
        stale = now - LAST_USED_RESOLUTION
        ApiToken.objects.filter(pk=token.pk).filter(
            **({"last_used_at__isnull": True} if token.last_used_at is None else {"last_used_at__lte": stale})
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
