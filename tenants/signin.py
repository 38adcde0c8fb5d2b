"""Sign-in lockout: django-axes counts failed sign-ins in the database (shared
by every web process) and refuses an account or a client address after
PARKWAY_LOGIN_FAILURE_LIMIT failures within PARKWAY_LOGIN_COOLOFF_MINUTES.

This module is what Parkway adds around it: the page a locked-out person
sees, the client address behind our proxies, the audit events, and the unlock
staff run from the admin. Settings: AXES_* in portal/settings.py.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.audit import Actor, audit_record

logger = logging.getLogger(__name__)

LOCKED_OUT_STATUS = 429


def signin_client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with PARKWAY_TRUSTED_PROXIES = n the
    address the outermost of our n proxies saw (the n-th from the right of
    X-Forwarded-For; entries further left are the client's to invent)."""
    address = request.META.get("REMOTE_ADDR")
    proxies = settings.PARKWAY_TRUSTED_PROXIES
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            address = hops[-proxies]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None  # the column is an inet on PostgreSQL: never store a made-up string


def cooloff_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def signin_lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What a locked-out sign-in sees, in the admin's look or the self-service one (429)."""
    match = getattr(request, "resolver_match", None)
    context: dict[str, Any] = {"minutes": cooloff_minutes(), "title": "Sign-in paused"}
    if match is not None and match.app_name == "admin":
        context.update(admin.site.each_context(request))
        return render(request, "admin/locked_out.html", context, status=LOCKED_OUT_STATUS)
    return render(request, "registration/locked_out.html", context, status=LOCKED_OUT_STATUS)


def signin_record_lockout(*, request: HttpRequest, username: str | None, ip_address: str | None) -> None:
    """Audit the failure that starts a lockout; attempts made while locked out
    (each one also signalled by axes) are already counted, not re-audited."""
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    audit_record(
        action="auth.locked_out",
        actor="system",
        details={
            "username": (username or "")[:150],
            "ip_address": ip_address or "",
            "path": request.path[:200],
            "failures": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": cooloff_minutes(),
        },
    )


@transaction.atomic
def signin_unlock(*, attempts: QuerySet[AccessAttempt], actor: Actor) -> int:
    """Forget these failed sign-ins (lifting any lockout they cause), audited."""
    unlocked = [
        {"username": a["username"] or "", "ip_address": a["ip_address"] or "", "failures": a["failures_since_start"]}
        for a in attempts.values("username", "ip_address", "failures_since_start")
    ]
    if not unlocked:
        return 0
    attempts.delete()
    audit_record(action="auth.unlocked", actor=actor, details={"attempts": unlocked[:100], "count": len(unlocked)})
    return len(unlocked)


def on_user_locked_out(sender: Any, request: HttpRequest, username: str | None = None, ip_address: str | None = None, **kwargs: Any) -> None:
    """Receiver of axes.signals.user_locked_out (connected in TenantsConfig.ready)."""
    signin_record_lockout(request=request, username=username, ip_address=ip_address)


# --------------------------------------------------------------------------- password reset


def password_reset_allowed(request: HttpRequest, email: str) -> bool:
    """May this request send a reset email? At most PARKWAY_PASSWORD_RESET_PER_HOUR
    to one address and ten times as many from one client address per hour, so
    the reset form cannot be used to flood someone's inbox or our mail sender.
    The page answers the same either way (it never tells who has a login)."""
    from portal.throttle import throttle_hit

    limit = settings.PARKWAY_PASSWORD_RESET_PER_HOUR
    by_address = throttle_hit(scope="password-reset-email", key=email.strip().lower()[:254], limit=limit, window=3600)
    by_client = throttle_hit(
        scope="password-reset-ip", key=signin_client_ip(request) or "unknown", limit=10 * limit, window=3600
    )
    if by_address.allowed and by_client.allowed:
        return True
    logger.info("Password reset email not sent: the hourly limit for the address or the client is reached")
    return False
