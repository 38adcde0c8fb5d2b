"""The NinjaAPI instance: /api/v1/, its OpenAPI document and docs page."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Swagger

from api.auth import TENANT_HEADER, TokenAuth, principal_of
from api.endpoints import accounts, activity, resources, schedules
from api.endpoints.common import ERRORS
from api.errors import install_handlers
from tenants.permissions import ADMINISTER, OPERATE, can

# The docs page loads Swagger UI from our static files (ninja ships them), with
# no inline script: only its images are data: URIs, which the site's policy
# does not allow elsewhere.
DOCS_CSP = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
])


class ApiDocs(Swagger):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: object) -> HttpResponse:
        response = super().render_page(request, api, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


DESCRIPTION = f"""
Parkway's public API: everything the self-service pages do, from a script.

* **Authentication:** `Authorization: Bearer <token>`. Create a token on the
  *API tokens* page (it is shown once). It acts with your role in the
  organisation it was made in, as that role is at each request. Staff tokens
  name the organisation in the `{TENANT_HEADER}` header.
* **Errors:** always `{{"error": {{"code", "message", "fields"}}}}`.
* **Pagination:** `?page=1&per_page=50` (at most 200); lists answer
  `{{"items", "count", "page", "per_page", "pages"}}`.
* **Times:** ISO 8601 with their offset (UTC).
* **Rate limit:** per token; a 429 says how long to wait in `Retry-After`.
"""

api = NinjaAPI(
    title="Parkway API",
    version="1",
    description=DESCRIPTION,
    auth=TokenAuth(),
    urls_namespace="api",
    docs=ApiDocs(settings={"persistAuthorization": False}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_handlers(api)


class MeOut(Schema):
    username: str
    token: str
    token_kind: str
    token_expires_at: dt.datetime | None
    tenant: str
    tenant_name: str
    role: str | None
    can_operate: bool
    can_administer: bool


@api.get("/me", response={200: MeOut, **ERRORS}, tags=["tokens"], summary="Who this token acts as, where, with what role")
def me(request: HttpRequest) -> dict:
    principal = principal_of(request)
    return {
        "username": principal.user.get_username(), "token": principal.token.name, "token_kind": principal.token.kind,
        "token_expires_at": principal.token.expires_at, "tenant": principal.tenant.slug,
        "tenant_name": principal.tenant.name, "role": principal.role,
        "can_operate": can(principal.user, principal.tenant, OPERATE),
        "can_administer": can(principal.user, principal.tenant, ADMINISTER),
    }


api.add_router("", accounts.router)
api.add_router("", resources.router)
api.add_router("", schedules.router)
api.add_router("", activity.router)
