"""The pre-stop warning's "keep running 2 more hours" link: it works without
signing in (whoever holds the link may use it, once). GET only shows what it
would do — mail scanners open links — and its button POSTs, protected by
Django's CSRF cookie, which needs no login. The service decides everything
(notifications/warnings.py); a refused link answers 4xx with its reason."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from notifications.texts import machine_label
from notifications.warnings import Link, LinkRefused, keep_running_link_open, keep_running_link_use

# The nonce of the link this browser just used: its page then says "done", not "used already".
USED_SESSION_KEY = "notifications_link_used"


def _refused(request: HttpRequest, refusal: LinkRefused) -> HttpResponse:
    context = {"title": refusal.title, "message": refusal.message}
    return render(request, "selfservice/notifications/keep_running_refused.html", context, status=refusal.status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def keep_running(request: HttpRequest, link_token: str) -> HttpResponse:
    if request.method == "POST":
        try:
            snooze = keep_running_link_use(token=link_token)
        except LinkRefused as refusal:
            return _refused(request, refusal)
        request.session[USED_SESSION_KEY] = snooze.pk
        return redirect("links:keep_running", link_token=link_token)
    try:
        link = keep_running_link_open(link_token, now=timezone.now())
    except LinkRefused as refusal:
        used = refusal.warning
        if refusal.used and used is not None and used.snooze_id is not None and request.session.get(USED_SESSION_KEY) == used.snooze_id:
            link = Link(used)
            context = {"link": link, "machine": machine_label(link.resource), "done": True, "until": link.local(used.snooze.until)}
            return render(request, "selfservice/notifications/keep_running.html", context)
        return _refused(request, refusal)
    context = {
        "link": link, "machine": machine_label(link.resource), "done": False,
        "stop_at": link.local(link.warning.stop_at), "until": link.local(link.until),
    }
    return render(request, "selfservice/notifications/keep_running.html", context)
