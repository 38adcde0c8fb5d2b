"""One error body for every answer of /api/ that is not a success:

    {"error": {"code": "not_found", "message": "No such account.", "fields": {}}}

`fields` maps an input field (dotted path for nested ones: "periods.0.begintime";
"__all__" for the input as a whole) to its messages, and is empty otherwise.
The ninja handlers below cover what the endpoints raise; `ApiErrorBodyMiddleware`
rewrites what never reaches them (an unknown /api/ URL, a method an endpoint
does not take, a request refused by a middleware, a server error).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
NUL_ESCAPE = re.compile(rb"\\u0000", re.IGNORECASE)

# Status → the code of a response that carries no code of its own.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
}
STATUS_MESSAGES = {
    400: "The request could not be read.",
    401: "Send a valid API token: Authorization: Bearer <token>.",
    403: "You may not do this.",
    404: "Not found.",
    405: "This URL does not take that method.",
    429: "Too many requests.",
    500: "Parkway failed to answer this request; it has been logged. Try again later.",
}


class ApiError(Exception):
    """An error an endpoint answers with, in the common body."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 fields: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or STATUS_CODES.get(status, "error")
        self.fields = fields or {}
        self.headers = headers or {}


class RateLimited(ApiError):
    def __init__(self, *, limit: int, window: int, retry_after: int) -> None:
        super().__init__(
            429,
            f"This token made {limit} requests in {window} seconds, the most Parkway allows. "
            f"Wait {retry_after} seconds, then try again.",
            headers={"Retry-After": str(retry_after)},
        )


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(status: int, message: str | None = None, *, code: str | None = None,
                   fields: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None) -> JsonResponse:
    body = error_body(code or STATUS_CODES.get(status, "error"), message or STATUS_MESSAGES.get(status, "Error."), fields)
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def fields_of_validation_error(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {("__all__" if name == NON_FIELD_ERRORS else name): list(messages) for name, messages in exc.message_dict.items()}
    return {"__all__": list(exc.messages)}


def _field_path(loc: list[Any]) -> str:
    # ninja's loc: ["body", "payload", "periods", 0, "begintime"], ["query", "page"], ["path", "account_pk"].
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "form") else list(loc)
    if loc and loc[0] == "body" and parts and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "__all__"


def fields_of_ninja_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        message = str(error.get("msg") or "Invalid value.")
        fields.setdefault(_field_path(list(error.get("loc") or [])), []).append(message)
    return fields


def install_handlers(api: NinjaAPI) -> None:
    """Replace ninja's default handlers: every error in the common body."""

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.message, code=exc.code, fields=exc.fields, headers=exc.headers)

    @api.exception_handler(NinjaValidationError)
    def _invalid_input(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return error_response(422, "The request is not valid: see fields.", fields=fields_of_ninja_errors(exc.errors))

    @api.exception_handler(DjangoValidationError)
    def _refused(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        fields = fields_of_validation_error(exc)
        message = " ".join(m for messages in fields.values() for m in messages)[:1000] or "The request is not valid."
        return error_response(422, message, fields=fields)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(401, headers={"WWW-Authenticate": 'Bearer realm="parkway"'})

    @api.exception_handler(AuthorizationError)
    def _unauthorized(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
        return error_response(403)

    @api.exception_handler(PermissionDenied)
    def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(403, str(exc) or None)

    @api.exception_handler(Http404)
    def _missing(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404)

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(exc.status_code, str(exc))

    @api.exception_handler(Exception)
    def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Django's own handling: logged, signalled (tests and Sentry see it), a 500
        # page, which ApiErrorBodyMiddleware turns into the common body.
        raise exc


class ApiErrorBodyMiddleware:
    """Outermost but the security headers: any non-JSON error answer of an /api/
    URL (404 of an unknown URL, 405, 400 from a middleware, Django's 500 page)
    becomes the common error body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            # Read the body before any middleware parses a form from the stream
            # (DropForeignNextMiddleware reads POST): ninja reads the body itself after.
            try:
                body = request.body
            except RequestDataTooBig:
                return error_response(413, "The request body is too large.")
            # PostgreSQL refuses NUL in text (a DataError, a 500): refused up front,
            # raw or JSON-escaped, like portal.untrusted does for forms and query strings.
            if b"\x00" in body or NUL_ESCAPE.search(body):
                return error_response(400, "A NUL character (\\u0000) is not allowed in the body.")
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if getattr(response, "streaming", False):
            return response
        if response.get("Content-Type", "").startswith("application/json") and _has_error_body(response):
            return response
        rewritten = error_response(response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                rewritten[header] = response[header]
        return rewritten


def _has_error_body(response: HttpResponse) -> bool:
    try:
        body = json.loads(response.content)
    except (ValueError, AttributeError):
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)
