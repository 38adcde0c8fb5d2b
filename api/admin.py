"""Admin for API tokens: staff tokens are created here (the secret shown once,
on the page that answers the creation); every token can be revoked here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from api.models import ApiToken
from api.tokens import staff_token_create, token_revoke
from portal.admin_helpers import ParkwayModelAdmin


class StaffTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_staff=True, is_active=True)
        self.fields["user"].help_text = "The staff user the token acts as (audited under this name and the token's)."

    def clean_expires_at(self) -> Any:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise ValidationError("The expiry must be in the future.")
        return value


@admin.register(ApiToken)
class ApiTokenAdmin(ParkwayModelAdmin):
    list_display = ("name", "prefix", "kind", "user", "tenant", "created_at", "last_used_at", "expires_at", "status")
    list_filter = ("kind",)
    list_select_related = ("user", "membership__tenant")
    search_fields = ("name", "prefix", "user__username")
    actions = ["revoke"]
    readonly_fields = ("kind", "user", "membership", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")

    @admin.display(description="tenant")
    def tenant(self, token: ApiToken) -> str:
        return token.membership.tenant.slug if token.membership_id else "any (X-Parkway-Tenant)"

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = StaffTokenForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return ("user", "name", "expires_at") if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # tokens are created and revoked, never edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, so that the audit trail keeps naming them

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, secret = staff_token_create(
            user=form.cleaned_data["user"], name=form.cleaned_data["name"],
            expires_at=form.cleaned_data.get("expires_at"), actor=request.user,
        )
        obj.pk, obj._secret = token.pk, secret

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related, and the row is saved by the service

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # audited by the service

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        token = ApiToken.objects.select_related("user").get(pk=obj.pk)
        return TemplateResponse(
            request, "admin/api/apitoken/created.html",
            {**self.admin_site.each_context(request), "title": f"Staff token {token.name} created",
             "token": token, "secret": obj._secret, "opts": self.model._meta},
        )

    @admin.action(description="Revoke selected tokens", permissions=["view"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(token_revoke(token=token, actor=request.user) for token in queryset.select_related("membership__tenant"))
        self.message_user(request, f"{revoked} token{'' if revoked == 1 else 's'} revoked.")
