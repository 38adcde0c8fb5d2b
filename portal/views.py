"""The few responses of the site itself (not of an app)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@lru_cache(maxsize=1)
def _favicon() -> bytes:
    return (settings.BASE_DIR / "static" / "parkway" / "favicon.ico").read_bytes()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on every site whatever the page links:
    served here, so that it never depends on how static files are served."""
    return HttpResponse(_favicon(), content_type="image/x-icon")
