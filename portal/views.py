"""The few responses of the site itself (not of an app)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe

from portal import health
from portal import metrics as portal_metrics


@lru_cache(maxsize=1)
def _favicon() -> bytes:
    return (settings.BASE_DIR / "static" / "parkway" / "favicon.ico").read_bytes()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on every site whatever the page links:
    served here, so that it never depends on how static files are served."""
    return HttpResponse(_favicon(), content_type="image/x-icon")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, with a per-address and per-client hourly limit
    (tenants.signin.password_reset_allowed); past it, the same "check your
    email" page, and nothing sent."""

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        from tenants.signin import password_reset_allowed

        if not password_reset_allowed(self.request, form.cleaned_data["email"]):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


# --- Probes (routed by portal.probes.ProbeMiddleware) ------------------------


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers: no database, cache or broker is asked."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    report = health.readiness()
    return JsonResponse(report.as_json(), status=200 if report.ready else 503)


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.PARKWAY_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off (PARKWAY_METRICS_TOKEN is not set).")
    if not portal_metrics.bearer_token_matches(authorization=request.headers.get("Authorization", ""), token=token):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = portal_metrics.metrics_render(accept=request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
