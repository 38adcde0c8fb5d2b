"""Parsing what clients send before it reaches a query or a redirect.

Two rules for the whole project: an id from a URL, a query string or a form is
ASCII digits within the database's range (``str.isdigit`` accepts "²", which
``int()`` then rejects, and a 30-digit number overflows SQLite and PostgreSQL);
and a redirect target a client chose is a local path, never a view name —
``redirect("overview")`` would reverse it and fail with NoReverseMatch.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme

# BigAutoField = PostgreSQL bigint; 18 digits always fit, so the regex bounds the work.
MAX_ID = 2**63 - 1
ID_RE = re.compile(r"[0-9]{1,18}", re.ASCII)
# Longer than any URL of ours; a longer "next" is someone else's.
MAX_LOCAL_URL = 2000
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def parse_id(value: object) -> int | None:
    """The database id `value` spells, or None when it is not one (then: 404, or a form error)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and ID_RE.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def local_url(candidate: object, *, request: HttpRequest) -> str | None:
    """`candidate` if it is a path on this site ("/app/…"), else None.

    A leading "/" (not "//", which browsers read as another host) is required:
    anything else is not a URL of ours, whatever `redirect()` would make of it.
    Whitespace and control characters are refused because browsers drop some of
    them, turning "/\\t/evil.test" into "//evil.test".
    """
    if not isinstance(candidate, str) or not candidate.startswith("/") or len(candidate) > MAX_LOCAL_URL:
        return None
    if candidate.startswith(("//", "/\\")) or _CONTROL.search(candidate):
        return None
    if not url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return None
    return candidate


class RejectNulCharactersMiddleware:
    """No page of ours takes a NUL character, and PostgreSQL refuses one in any
    text it stores or compares (an admin filter such as ?region__exact=a%00b
    was a DataError, a 500). A request with one in its path, query string or
    form is answered 400 before any view runs; Django's forms already refuse
    NUL in their fields, this covers what is not a form (filters, lookups, ids)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info or _has_nul(request.GET) or (request.method == "POST" and _has_nul(request.POST)):
            return HttpResponseBadRequest("Bad request: a NUL character (%00) is not allowed here.", content_type="text/plain")
        return self.get_response(request)


def _has_nul(data: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())


class DropForeignNextMiddleware:
    """A `next` parameter that is not a local path (see `local_url`) is removed
    before any view reads it, so no view — ours, Django's login and logout, the
    admin's — can redirect to one: Django's own check lets "//" through, which
    browsers read as another host."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for attribute in ("GET", "POST"):
            data = getattr(request, attribute)
            if "next" in data and any(local_url(value, request=request) is None for value in data.getlist("next")):
                cleaned = data.copy()
                del cleaned["next"]
                cleaned._mutable = False
                setattr(request, attribute, cleaned)
        return self.get_response(request)
