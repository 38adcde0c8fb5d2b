"""Access to the self-service pages, shared by every app's views: who may see
them and do what there (`tenant_member_required`), and where a form may send
people back to (`safe_next`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from portal.logs import log_context
from portal.untrusted import local_url
from tenants.models import Membership
from tenants.permissions import VIEW, Allowed, Capability, require

SESSION_TENANT_KEY = "parkway_tenant_id"

View = Callable[..., HttpResponse]


def _choose_url(request: HttpRequest) -> str:
    return f"{reverse('tenants:choose_tenant')}?{urlencode({'next': request.get_full_path()})}"


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "selfservice/forbidden.html", {"message": message}, status=403)


def tenant_member_required(
    view: View | None = None, *, needs_tenant: bool = True, capability: Capability = VIEW
) -> Any:
    """Signed-in customers only; sets `request.tenant` (the one they work in),
    `request.tenants` (all of theirs), `request.membership` (theirs in
    `request.tenant`) and `request.can` (what its role allows, for templates).
    Staff are sent to the admin, where their tools are.

    A person whose role lacks `capability` gets a 403 page saying why, for any
    method; so does a `PermissionDenied` raised by a service the view calls
    (`tenants.permissions.require`)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if user.is_staff:
                messages.info(request, "The self-service pages are for customers; staff work here, in the admin.")
                return redirect("admin:index")
            memberships = list(Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name"))
            if not memberships:
                return render(request, "selfservice/no_tenant.html", status=403)
            request.tenants = [m.tenant for m in memberships]
            # Read by tenants.permissions.role_of: the services this request calls need no query of their own.
            user._parkway_roles = {m.tenant_id: m.role for m in memberships}
            chosen = request.session.get(SESSION_TENANT_KEY)
            membership = next((m for m in memberships if m.tenant_id == chosen), None)
            if membership is None and len(memberships) == 1:
                membership = memberships[0]
            request.membership = membership
            request.tenant = membership.tenant if membership else None
            request.can = Allowed.for_role(membership.role if membership else None)
            if needs_tenant and membership is None:
                return redirect(_choose_url(request))
            try:
                if membership is not None:
                    require(user, request.tenant, capability)
                with log_context(tenant=request.tenant.slug if request.tenant else None):
                    return view(request, *args, **kwargs)
            except PermissionDenied as exc:
                return forbidden(request, str(exc) or "You may not do this here.")

        return wrapped

    return decorate(view) if view is not None else decorate


def safe_next(request: HttpRequest, default: str) -> str:
    """The `next` the form carried, if it is a path on this site; `default` otherwise.

    Redirect to it with HttpResponseRedirect, never `redirect()`: that one reads
    a string without "/" as a view name."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return local_url(candidate, request=request) or default
