"""Routes /healthz, /readyz and /metrics ahead of the rest of the stack.

Load balancers probe a server by its address, not by the site's name, so the
probes must answer whatever the Host header (ALLOWED_HOSTS is checked later,
by CommonMiddleware), and without sessions or sign-in: /healthz must not touch
the database even when the caller sends a session cookie. Placed after
SecurityMiddleware, which lets them through on plain HTTP (SECURE_REDIRECT_EXEMPT).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portal import views

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
    "/metrics": views.metrics,
}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        return probe(request) if probe is not None else self.get_response(request)
