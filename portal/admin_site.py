"""The admin site: Django's, with every registered ModelAdmin (ours, django-q2's,
django-axes', Django's own users and groups) made strict about ids."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

from portal.admin_helpers import StrictIdsAdminMixin


class ParkwayAdminSite(admin.AdminSite):
    """With PARKWAY_STAFF_2FA on, staff need a session verified by a TOTP code (portal.staff_2fa)."""

    @property
    def login_form(self) -> Any:  # type: ignore[override]
        from portal.staff_2fa import StaffOTPAuthenticationForm, staff_2fa_required

        return StaffOTPAuthenticationForm if staff_2fa_required() else None

    @property
    def login_template(self) -> str | None:  # type: ignore[override]
        from portal.staff_2fa import staff_2fa_required

        return "otp/admin111/login.html" if staff_2fa_required() else None

    def has_permission(self, request: HttpRequest) -> bool:
        from portal.staff_2fa import staff_2fa_required

        if not super().has_permission(request):
            return False
        return not staff_2fa_required() or request.user.is_verified()

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, StrictIdsAdminMixin):
            admin_class = type(admin_class.__name__, (StrictIdsAdminMixin, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)


class ParkwayAdminConfig(AdminConfig):
    """In INSTALLED_APPS instead of "django.contrib.admin"."""

    default_site = "portal.admin_site.ParkwayAdminSite"
