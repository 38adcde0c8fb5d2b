"""Access to the self-service pages, shared by every app's views: who may see
them (`tenant_member_required`) and where a form may send people back to
(`safe_next`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from portal.untrusted import local_url
from tenants.models import Membership

SESSION_TENANT_KEY = "parkway_tenant_id"

View = Callable[..., HttpResponse]


def _choose_url(request: HttpRequest) -> str:
    return f"{reverse('tenants:choose_tenant')}?{urlencode({'next': request.get_full_path()})}"


def tenant_member_required(view: View | None = None, *, needs_tenant: bool = True) -> Any:
    """Signed-in customers only; sets `request.tenant` (the one they work in) and
    `request.tenants` (all of theirs). Staff are sent to the admin, where their tools are."""

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
            chosen = request.session.get(SESSION_TENANT_KEY)
            tenant = next((t for t in request.tenants if t.pk == chosen), None)
            if tenant is None and len(request.tenants) == 1:
                tenant = request.tenants[0]
            request.tenant = tenant
            if needs_tenant and tenant is None:
                return redirect(_choose_url(request))
            return view(request, *args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


def safe_next(request: HttpRequest, default: str) -> str:
    """The `next` the form carried, if it is a path on this site; `default` otherwise.

    Redirect to it with HttpResponseRedirect, never `redirect()`: that one reads
    a string without "/" as a view name."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return local_url(candidate, request=request) or default
