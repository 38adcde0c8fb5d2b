"""Response and session hardening the whole site shares.

* A strict Content-Security-Policy on every response (Django 5.2 has none
  built in). Our pages load scripts and styles from our own static files only:
  no inline <script>, <style> or style="" anywhere (tests/test_security.py
  checks the templates), so neither nonces nor 'unsafe-inline' are needed;
  the Django admin works with 'self' as well.
* Staff sessions end when the browser closes and after
  PARKWAY_STAFF_SESSION_SECONDS at most, whatever SESSION_COOKIE_AGE (the
  customers' session length) says: a staff session reaches every tenant.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

STAFF_SINCE_KEY = "parkway_staff_since"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # DEBUG's technical 404/500 pages are inline HTML with inline styles and scripts.
        if not (settings.DEBUG and response.status_code >= 400):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class StaffSessionMiddleware:
    """After AuthenticationMiddleware: a staff session is a browser session and
    lasts PARKWAY_STAFF_SESSION_SECONDS from the sign-in, then signs out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _is_staff(request):
            since = request.session.get(STAFF_SINCE_KEY)
            if isinstance(since, int) and time.time() - since >= settings.PARKWAY_STAFF_SESSION_SECONDS:
                logout(request)
                hours = settings.PARKWAY_STAFF_SESSION_SECONDS / 3600
                messages.info(request, f"Staff sessions last {hours:g} hours at most: please sign in again.")
        response = self.get_response(request)
        # Sessions signed in before this middleware existed get their clock now.
        if _is_staff(request) and not isinstance(request.session.get(STAFF_SINCE_KEY), int):
            start_staff_session(request)
        return response


def start_staff_session(request: HttpRequest) -> None:
    request.session[STAFF_SINCE_KEY] = int(time.time())
    request.session.set_expiry(0)  # the cookie dies with the browser


def on_user_logged_in(sender: object, request: HttpRequest, user: object, **kwargs: object) -> None:
    """Receiver of user_logged_in (connected in TenantsConfig.ready): the sign-in
    response itself already carries a staff session's browser-session cookie."""
    if getattr(user, "is_staff", False) and request is not None and hasattr(request, "session"):
        start_staff_session(request)


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated and user.is_staff
