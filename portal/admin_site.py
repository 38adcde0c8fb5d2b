"""The admin site: Django's, with every registered ModelAdmin (ours, django-q2's,
django-axes', Django's own users and groups) made strict about ids."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from portal.admin_helpers import StrictIdsAdminMixin


class ParkwayAdminSite(admin.AdminSite):
    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, StrictIdsAdminMixin):
            admin_class = type(admin_class.__name__, (StrictIdsAdminMixin, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)


class ParkwayAdminConfig(AdminConfig):
    """In INSTALLED_APPS instead of "django.contrib.admin"."""

    default_site = "portal.admin_site.ParkwayAdminSite"
