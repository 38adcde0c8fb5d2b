"""The API tokens page (/app/tokens/): a person creates, sees and revokes their
own tokens in the organisation they work in. The secret is shown once, on the
page that answers the creation, and never again."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from api.errors import error_response
from api.forms import TokenForm
from api.models import ApiToken
from api.tokens import token_create
from api.tokens import token_revoke as token_revoke_service
from tenants.decorators import tenant_member_required
from tenants.forms import add_service_errors


def api_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(404, "No such API URL: the API lives under /api/v1/ (see /api/v1/docs).")


def own_tokens(request: HttpRequest):
    return ApiToken.objects.filter(membership=request.membership, user=request.user)


@never_cache
@tenant_member_required
def token_list(request: HttpRequest) -> HttpResponse:
    """Any member: a token acts with its owner's role, so a viewer's token only reads."""
    created: tuple[ApiToken, str] | None = None
    status = 200
    form = TokenForm()
    if request.method == "POST":
        form = TokenForm(request.POST)
        status = 400
        if form.is_valid():
            days = form.cleaned_data["expires_in"]
            expires_at = timezone.now() + dt.timedelta(days=days) if days else None
            try:
                created = token_create(
                    membership=request.membership, name=form.cleaned_data["name"], expires_at=expires_at, actor=request.user
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                status, form = 201, TokenForm()
    context = {"form": form, "tokens": list(own_tokens(request)), "created": created}
    return render(request, "selfservice/tokens.html", context, status=status)


@tenant_member_required
def token_revoke(request: HttpRequest, token_pk: int) -> HttpResponse:
    token = get_object_or_404(own_tokens(request), pk=token_pk)
    if request.method == "POST":
        if token_revoke_service(token=token, actor=request.user):
            messages.success(request, f"Token {token.name} revoked: it no longer works.")
        else:
            messages.info(request, f"Token {token.name} was revoked already.")
    return redirect("tokens:tokens")
