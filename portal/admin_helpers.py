"""Small admin building blocks shared by the apps."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponseRedirect

from portal.forms import drop_browser_length_limits
from portal.untrusted import MAX_ID, parse_id

DATE_PART_RE = re.compile(r"[0-9]{1,4}", re.ASCII)
BIG_NUMBER_RE = re.compile(r"-?[0-9]{19,}", re.ASCII)


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


class StrictModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Django queries all submitted ids with __in before saying one is invalid,
    and a 30-digit id raised OverflowError there: refuse ids no column holds first."""

    def _check_values(self, value: Any) -> Any:
        key = self.to_field_name or "pk"
        target = self.queryset.model._meta.pk if key == "pk" else self.queryset.model._meta.get_field(key)
        if isinstance(target, (models.IntegerField, models.AutoField)) and not isinstance(value, (str, bytes)):
            for pk in value:
                if parse_id(str(pk)) is None:
                    raise ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk})
        return super()._check_values(value)


# Django builds, and on a refused form renders, as many inline forms as the
# POST's TOTAL_FORMS asks for, up to 2,000 per inline: seconds of work for one request.
INLINE_FORMS_LIMIT = 100


class StrictIdsAdminMixin:
    """What every ModelAdmin of the site gets (portal.admin_site wraps each one):
    relation fields and bulk actions that answer a hostile id with a message,
    not a 500, inline formsets bounded by INLINE_FORMS_LIMIT, and text longer
    than a field holds refused with "at most N characters", never cut short
    by the browser (portal.forms.drop_browser_length_limits)."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        drop_browser_length_limits(form.base_fields.values())
        return form

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        form = super().get_changelist_form(request, **kwargs)
        drop_browser_length_limits(form.base_fields.values())
        return form

    def get_formsets_with_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        for inline in self.get_inline_instances(request, obj):
            max_num = inline.get_max_num(request, obj)
            limit = INLINE_FORMS_LIMIT if max_num is None else min(max_num, INLINE_FORMS_LIMIT)
            formset = inline.get_formset(request, obj, max_num=limit, absolute_max=limit)
            drop_browser_length_limits(formset.form.base_fields.values())
            yield formset, inline

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StrictAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StrictAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        kwargs.setdefault("form_class", StrictModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Django turns most bad filter values into its "?e=1" page, but a number
        # no column holds (…__exact=<30 digits>) only fails when the query runs
        # (OverflowError), and a date-hierarchy year past C's int in datetime().
        if any(_unusable_lookup(key, value) for key, values in request.GET.lists() for value in values):
            return HttpResponseRedirect(request.path + "?" + ERROR_FLAG + "=1")
        return super().changelist_view(request, extra_context)

    def response_action(self, request: HttpRequest, queryset: Any) -> Any:
        # Django filters pk__in=<the ticked ids> as they came: "²" raised ValueError.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        pk = self.model._meta.pk
        integer = isinstance(pk, (models.IntegerField, models.AutoField))
        if any("\x00" in value or (integer and parse_id(value) is None) for value in selected):
            self.message_user(request, "The selection holds something that is not one of these rows; nothing was done.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


def _unusable_lookup(key: str, value: str) -> bool:
    """A field lookup (…__exact, …__in, …__year) whose value no query can use;
    the search box and paging are not lookups."""
    if "__" not in key:
        return False
    if key.endswith(("__year", "__month", "__day")):
        return not DATE_PART_RE.fullmatch(value)
    return any(abs(int(number)) > MAX_ID for number in BIG_NUMBER_RE.findall(value))


class ParkwayModelAdmin(StrictIdsAdminMixin, admin.ModelAdmin):
    pass


class ReadOnlyAdmin(ParkwayModelAdmin):
    """Records (credentials, audit events, parking runs) are looked at, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
