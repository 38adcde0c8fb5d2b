"""Self-service pages for a tenant's team: the members page (/app/members/),
for everyone to read and for admins to manage, and the invitation link
(/app/invitations/<token>/), which works signed out.

Same rules as tenants.views: lookups are scoped to the current tenant (another
tenant's member or invitation is a 404), views parse a form, call one audited
service (tenants/members.py) and report.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from portal.zones import format_when
from tenants.decorators import SESSION_TENANT_KEY, forbidden, tenant_member_required
from tenants.forms import add_service_errors
from tenants.forms_members import AcceptWithPasswordForm, InviteForm, RoleForm
from tenants.members import (
    InvitationUnusable,
    email_matches,
    invitation_accept,
    invitation_accept_with_password,
    invitation_find,
    invitation_revoke,
    member_invite,
    membership_change_role,
    membership_remove,
    tenant_members,
    tenant_open_invitations,
    users_with_email,
)
from tenants.models import Invitation, Membership
from tenants.permissions import ADMINISTER

# ModelBackend, not django-axes' first backend: the person proved who they are with the link, not a password guess.
SIGN_IN_BACKEND = "django.contrib.auth.backends.ModelBackend"


def own_membership_or_404(request: HttpRequest, membership_pk: int) -> Membership:
    return get_object_or_404(Membership.objects.filter(tenant=request.tenant).select_related("user", "tenant"), pk=membership_pk)


def own_invitation_or_404(request: HttpRequest, invitation_pk: int) -> Invitation:
    return get_object_or_404(Invitation.objects.filter(tenant=request.tenant).select_related("tenant"), pk=invitation_pk)


def render_members(
    request: HttpRequest, *, invite_form: InviteForm | None = None, role_form: RoleForm | None = None, status: int = 200
) -> HttpResponse:
    members = list(tenant_members(request.tenant))
    rows = [
        (m, role_form if role_form is not None and role_form.prefix == f"member-{m.pk}" else RoleForm(membership=m))
        for m in members
    ]
    context = {
        "rows": rows,
        "admins": sum(1 for m in members if m.role == Membership.Role.ADMIN),
        "invitations": list(tenant_open_invitations(request.tenant)),
        "invite_form": invite_form or InviteForm(),
        "invitation_days": settings.PARKWAY_INVITATION_DAYS,
    }
    return render(request, "selfservice/members.html", context, status=status)


@tenant_member_required
def members(request: HttpRequest) -> HttpResponse:
    return render_members(request)


@tenant_member_required(capability=ADMINISTER)
def invite(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect(reverse("tenants:members") + "#invite")
    form = InviteForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            invitation = member_invite(tenant=request.tenant, email=data["email"], role=data["role"], actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Invitation sent to {invitation.email} as {invitation.get_role_display().lower()}: "
                "the email is on its way. "
                f"The link works once, until {format_when(invitation.expires_at)}.",
            )
            return redirect("tenants:members")
    return render_members(request, invite_form=form, status=400)


@tenant_member_required(capability=ADMINISTER)
def member_role(request: HttpRequest, membership_pk: int) -> HttpResponse:
    membership = own_membership_or_404(request, membership_pk)
    if request.method != "POST":
        return redirect("tenants:members")
    form = RoleForm(request.POST, membership=membership)
    if form.is_valid():
        before = membership.get_role_display().lower()
        try:
            membership = membership_change_role(membership=membership, role=form.cleaned_data["role"], actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            after = membership.get_role_display().lower()
            name = membership.user.get_username()
            messages.success(request, f"{name} is now {after}." if after != before else f"{name} was already {after}.")
            return redirect("tenants:members")
    return render_members(request, role_form=form, status=400)


@tenant_member_required(capability=ADMINISTER)
def member_remove(request: HttpRequest, membership_pk: int) -> HttpResponse:
    """GET: what removing means; POST: remove."""
    membership = own_membership_or_404(request, membership_pk)
    error = ""
    if request.method == "POST":
        try:
            membership_remove(membership=membership, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            name = membership.user.get_username()
            messages.success(request, f"{name} is no longer a member of {request.tenant.name}.")
            if membership.user_id == request.user.pk:
                request.session.pop(SESSION_TENANT_KEY, None)
                return redirect("tenants:overview")
            return redirect("tenants:members")
    context = {"membership": membership, "error": error, "yourself": membership.user_id == request.user.pk}
    return render(request, "selfservice/member_remove.html", context, status=400 if error else 200)


@tenant_member_required(capability=ADMINISTER)
def invitation_withdraw(request: HttpRequest, invitation_pk: int) -> HttpResponse:
    invitation = own_invitation_or_404(request, invitation_pk)
    if request.method == "POST":
        if invitation_revoke(invitation=invitation, actor=request.user):
            messages.success(request, f"Invitation of {invitation.email} withdrawn: its link no longer works.")
        else:
            messages.info(request, f"The invitation of {invitation.email} was already closed.")
    return redirect("tenants:members")


# --------------------------------------------------------------------------- the link


def _unusable(request: HttpRequest) -> HttpResponse:
    return render(request, "selfservice/invitation_invalid.html", {"message": InvitationUnusable().message}, status=404)


@never_cache
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """Signed out: create a password and join. Signed in with the invited address: one button."""
    invitation = invitation_find(token)
    if invitation is None:
        return _unusable(request)
    user = request.user
    context = {"invitation": invitation}
    if user.is_authenticated:
        if user.is_staff or not email_matches(invitation, user):
            reason = "Staff logins cannot join an organisation." if user.is_staff else (
                f"This invitation was sent to another email address than yours ({user.get_username()})."
            )
            return forbidden(request, f"{reason} Sign out, then open the link again.")
        if request.method == "POST":
            try:
                membership = invitation_accept(invitation=invitation, user=user)
            except InvitationUnusable:
                return _unusable(request)
            except PermissionDenied as exc:
                return forbidden(request, str(exc))
            return _welcome(request, invitation, role=membership.get_role_display())
        return render(request, "selfservice/invitation.html", context | {"mode": "accept"})
    if users_with_email(invitation.email).exists():
        context |= {"mode": "sign_in", "login_url": redirect_to_login(request.get_full_path())["Location"]}
        return render(request, "selfservice/invitation.html", context)
    form = AcceptWithPasswordForm(invitation, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept_with_password(invitation=invitation, password=form.cleaned_data["new_password1"])
        except InvitationUnusable:
            return _unusable(request)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            login(request, user, backend=SIGN_IN_BACKEND)
            return _welcome(request, invitation, role=invitation.get_role_display())
    status = 400 if request.method == "POST" else 200
    return render(request, "selfservice/invitation.html", context | {"mode": "create", "form": form}, status=status)


def _welcome(request: HttpRequest, invitation: Invitation, *, role: str) -> HttpResponse:
    request.session[SESSION_TENANT_KEY] = invitation.tenant_id
    messages.success(request, f"Welcome to {invitation.tenant.name} on Parkway. Your role: {role.lower()}.")
    return redirect("tenants:overview")
