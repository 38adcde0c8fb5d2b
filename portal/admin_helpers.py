"""Small admin building blocks shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.db import models
from django.http import HttpRequest

from portal.untrusted import parse_id


class _OnlyStorableSelection:
    """Django's autocomplete widgets redraw a refused form by querying the
    submitted values as they are: "abc" raised ValueError and a 30-digit number
    OverflowError (a 500 instead of "Select a valid choice"). Values the target
    column cannot hold are left out of that query; the form still reports them."""

    def optgroups(self, name: str, value: list[Any], attr: Any = None) -> Any:
        remote_opts = self.field.remote_field.model._meta
        target = remote_opts.get_field(getattr(self.field.remote_field, "field_name", None) or remote_opts.pk.name)
        if isinstance(target, (models.IntegerField, models.AutoField)):
            value = [v for v in value if parse_id(str(v)) is not None]
        return super().optgroups(name, value, attr)


class StrictAutocompleteSelect(_OnlyStorableSelection, AutocompleteSelect):
    pass


class StrictAutocompleteSelectMultiple(_OnlyStorableSelection, AutocompleteSelectMultiple):
    pass


class ParkwayModelAdmin(admin.ModelAdmin):
    """ModelAdmin whose autocomplete fields survive hostile input."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StrictAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StrictAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ReadOnlyAdmin(ParkwayModelAdmin):
    """Records (credentials, audit events, parking runs) are looked at, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
