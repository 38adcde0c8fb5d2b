"""A tenant's team: invitations, roles, removals — audited, for tenant admins.

* `member_invite` — email an invitation link with a role (re-inviting an
  address replaces its open invitation);
* `invitation_find` — the usable invitation behind a link's token, or None;
* `invitation_accept` / `invitation_accept_with_password` — join, as the
  signed-in person or as a new login created from the invitation;
* `invitation_revoke`, `membership_add` (staff, in the admin), `membership_change_role`,
  `membership_remove`, and `team_update` (several of those at once, all or none);
* selectors for the members page: `tenant_members`, `tenant_open_invitations`.

A tenant always keeps an admin: the last one can neither be demoted nor
removed. Changes to one tenant's team are serialized on the tenant's row, so
two admins demoting each other at once cannot leave it with none.
"""

from __future__ import annotations

import datetime as dt
import secrets
import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from tenants.audit import Actor, audit_record
from tenants.emails import invitation_email_send
from tenants.models import Invitation, Membership, Tenant, hash_invitation_token
from tenants.permissions import ADMINISTER, require

Role = Membership.Role
EMAIL_MAX_LENGTH = Invitation._meta.get_field("email").max_length


class InvitationUnusable(ValidationError):
    """One answer for an unknown, expired, used or revoked link: which of them it was is nobody's business."""

    def __init__(self) -> None:
        super().__init__(
            "This invitation link cannot be used: it may have expired, been used already, or been withdrawn. "
            "Ask the admin who invited you for a new invitation.",
            code="invitation_unusable",
        )


# --------------------------------------------------------------------------- selectors


def tenant_members(tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username", "pk")


def tenant_open_invitations(tenant: Tenant) -> QuerySet[Invitation]:
    """Neither accepted nor revoked; expired ones too, so admins see them and re-invite."""
    return Invitation.objects.filter(tenant=tenant).open().select_related("invited_by").order_by("email")


def users_with_email(email: str) -> QuerySet[AbstractBaseUser]:
    """Logins that are this address: by their email, or by a username that is the address."""
    return get_user_model().objects.filter(Q(email__iexact=email) | Q(username__iexact=email))


def _lock_team(tenant: Tenant) -> None:
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()


def _is_last_admin(membership: Membership) -> bool:
    if membership.role != Role.ADMIN:
        return False
    return not Membership.objects.filter(tenant_id=membership.tenant_id, role=Role.ADMIN).exclude(pk=membership.pk).exists()


def _last_admin_error(membership: Membership, doing: str) -> ValidationError:
    return ValidationError(
        f"{membership.user.get_username()} is the last admin of {membership.tenant.name} and cannot be {doing}: "
        "make someone else an admin first, so that somebody can still manage members and accounts.",
        code="last_admin",
    )


# --------------------------------------------------------------------------- invitations


def normalize_email(raw: str) -> str:
    """Lower-cased (it becomes a username, and usernames are case-sensitive) and validated."""
    email = (raw or "").strip().lower()
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationError({"email": f"An address of at most {EMAIL_MAX_LENGTH} characters, please."})
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    return email


def member_invite(*, tenant: Tenant, email: str, role: str, actor: Actor, now: dt.datetime | None = None) -> Invitation:
    """Invite `email` to `tenant` as `role` and email them the link.

    The token exists only in the email; the database keeps its hash. An open
    invitation of the same address is replaced (revoked), so only the newest
    link works. The email leaves from the worker once the invitation is
    committed (portal.mail); a mail backend that sends at once and fails saves
    nothing, and the ValidationError says so.
    """
    require(actor, tenant, ADMINISTER)
    email = normalize_email(email)
    if role not in Role.values:
        raise ValidationError({"role": "Choose admin, operator or viewer."})
    if Membership.objects.filter(tenant=tenant, user__in=users_with_email(email)).exists():
        raise ValidationError(
            {"email": f"{email} is already a member of {tenant.name}: change their role in the list instead."}
        )
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            _lock_team(tenant)
            replaced = list(
                Invitation.objects.filter(tenant=tenant, email=email).open().values_list("pk", flat=True)
            )
            Invitation.objects.filter(pk__in=replaced).update(revoked_at=now)
            invitation = Invitation.objects.create(
                tenant=tenant,
                email=email,
                role=role,
                token_hash=hash_invitation_token(token),
                invited_by=None if isinstance(actor, str) else actor,
                created_at=now,
                expires_at=now + dt.timedelta(days=settings.PARKWAY_INVITATION_DAYS),
            )
            # Handed to the mail backend inside the transaction: the background backend
            # (portal.mail) queues it only once the invitation is committed, so a rollback
            # sends nothing; a backend that sends at once and fails leaves nothing behind
            # (the previous invitation of this address stays open, too).
            invitation_email_send(invitation=invitation, token=token)
            audit_record(
                action="member.invited",
                actor=actor,
                tenant=tenant,
                details={
                    "email": email,
                    "role": role,
                    "expires_at": invitation.expires_at.isoformat(),
                    "replaced": len(replaced),
                },
            )
    except (smtplib.SMTPException, OSError) as exc:
        raise ValidationError(
            f"The invitation email could not be sent ({type(exc).__name__}), so nobody was invited. Try again later.",
            code="email_failed",
        ) from None
    except IntegrityError:
        # Another admin invited the same address at the same moment; theirs stands.
        raise ValidationError({"email": f"{email} was invited a moment ago by someone else."}) from None
    return invitation


def invitation_find(token: str, *, now: dt.datetime | None = None) -> Invitation | None:
    """The usable invitation a link's token opens; None for any other (unknown, expired, used, revoked)."""
    if not token or len(token) > 200:
        return None
    return Invitation.objects.usable(now=now).select_related("tenant").filter(token_hash=hash_invitation_token(token)).first()


def email_matches(invitation: Invitation, user: AbstractBaseUser) -> bool:
    mine = {(getattr(user, "email", "") or "").strip().lower(), user.get_username().strip().lower()}
    return invitation.email in mine


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user: AbstractBaseUser, now: dt.datetime | None = None
) -> Membership:
    """`user` (whose email is the invited one) joins the tenant with the invited role.

    Used once: of two simultaneous acceptances, one wins and the other gets
    `InvitationUnusable`. A person who is already a member keeps their role.
    """
    if not email_matches(invitation, user):
        raise PermissionDenied(
            "This invitation was sent to another email address than yours: sign out, then open the link again."
        )
    if user.is_staff:
        raise PermissionDenied("Staff logins cannot join an organisation: sign out, then open the link again.")
    now = now or timezone.now()
    claimed = Invitation.objects.usable(now=now).filter(pk=invitation.pk).update(accepted_at=now, accepted_by=user)
    if not claimed:
        raise InvitationUnusable()
    _lock_team(invitation.tenant)
    membership, created = Membership.objects.get_or_create(
        user=user, tenant=invitation.tenant, defaults={"role": invitation.role}
    )
    invitation.accepted_at, invitation.accepted_by = now, user
    audit_record(
        action="member.invitation_accepted",
        actor=user,
        tenant=invitation.tenant,
        details={
            "email": invitation.email,
            "role": membership.role,
            "invited_role": invitation.role,
            "already_member": not created,
        },
    )
    return membership


def invitation_accept_with_password(
    *, invitation: Invitation, password: str, now: dt.datetime | None = None
) -> AbstractBaseUser:
    """A new login (username = the invited email) with `password`, member of the tenant.

    Refused when a login for that address exists: its owner signs in and
    accepts with one button instead (`invitation_accept`).
    """
    User = get_user_model()
    if users_with_email(invitation.email).exists():
        raise ValidationError(
            "You already have a Parkway login for this address: sign in, then open the invitation link again.",
            code="login_exists",
        )
    try:
        with transaction.atomic():
            user = User(username=invitation.email, email=invitation.email)
            user.set_password(password)
            user.save()
            invitation_accept(invitation=invitation, user=user, now=now)
    except IntegrityError:
        # The same address created a login a moment ago (a double submit).
        raise InvitationUnusable() from None
    return user


def invitation_revoke(*, invitation: Invitation, actor: Actor, now: dt.datetime | None = None) -> bool:
    """Withdraw an open invitation: its link stops working. False if it was already closed."""
    require(actor, invitation.tenant, ADMINISTER)
    now = now or timezone.now()
    with transaction.atomic():
        revoked = Invitation.objects.filter(pk=invitation.pk).open().update(revoked_at=now)
        if revoked:
            invitation.revoked_at = now
            audit_record(
                action="member.invitation_revoked",
                actor=actor,
                tenant=invitation.tenant,
                details={"email": invitation.email, "role": invitation.role},
            )
    return bool(revoked)


# --------------------------------------------------------------------------- members


def membership_add(*, tenant: Tenant, user: AbstractBaseUser, role: str, actor: Actor) -> Membership:
    """Make `user` a member with `role` (staff adding someone in the admin)."""
    require(actor, tenant, ADMINISTER)
    if role not in Role.values:
        raise ValidationError({"role": "Choose admin, operator or viewer."})
    if user.is_staff:
        raise ValidationError({"user": "Staff logins cannot be members of an organisation."})
    with transaction.atomic():
        _lock_team(tenant)
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise ValidationError({"user": f"{user.get_username()} is already a member of {tenant.name}."})
        membership = Membership.objects.create(tenant=tenant, user=user, role=role)
        audit_record(
            action="member.added", actor=actor, tenant=tenant, details={"user": user.get_username(), "role": role}
        )
    return membership


def team_update(
    *,
    tenant: Tenant,
    add: list[tuple[AbstractBaseUser, str]],
    roles: list[tuple[Membership, str]],
    remove: list[Membership],
    actor: Actor,
) -> list[Membership]:
    """Several changes to a team in one go (staff in the admin), all or none.

    New admins and promotions come first, so that handing the admin role over
    in one save works; each change goes through its own audited service, which
    keeps the last admin. Returns the new memberships."""
    with transaction.atomic():
        added = [
            membership_add(tenant=tenant, user=user, role=role, actor=actor)
            for user, role in sorted(add, key=lambda a: a[1] != Role.ADMIN)
        ]
        for membership, role in sorted(roles, key=lambda r: r[1] != Role.ADMIN):
            membership_change_role(membership=membership, role=role, actor=actor)
        for membership in remove:
            membership_remove(membership=membership, actor=actor)
    return added


def membership_change_role(*, membership: Membership, role: str, actor: Actor) -> Membership:
    """Give a member another role; the last admin of a tenant cannot be demoted."""
    require(actor, membership.tenant, ADMINISTER)
    if role not in Role.values:
        raise ValidationError({"role": "Choose admin, operator or viewer."})
    with transaction.atomic():
        _lock_team(membership.tenant)
        current = Membership.objects.select_related("user", "tenant").filter(pk=membership.pk).first()
        if current is None:
            raise ValidationError("This person is no longer a member.", code="gone")
        before = current.role
        if before == role:
            return current
        if _is_last_admin(current):
            raise _last_admin_error(current, "demoted")
        current.role = role
        current.save(update_fields=["role"])
        audit_record(
            action="member.role_changed",
            actor=actor,
            tenant=current.tenant,
            details={"user": current.user.get_username(), "before": before, "after": role},
        )
    membership.role = role
    return current


def membership_remove(*, membership: Membership, actor: Actor) -> None:
    """Take a person out of the tenant (their login stays, for their other organisations).
    The last admin cannot be removed."""
    require(actor, membership.tenant, ADMINISTER)
    with transaction.atomic():
        _lock_team(membership.tenant)
        current = Membership.objects.select_related("user", "tenant").filter(pk=membership.pk).first()
        if current is None:
            return  # removed meanwhile: what was asked is done
        if _is_last_admin(current):
            raise _last_admin_error(current, "removed")
        current.delete()
        audit_record(
            action="member.removed",
            actor=actor,
            tenant=current.tenant,
            details={"user": current.user.get_username(), "role": current.role},
        )
