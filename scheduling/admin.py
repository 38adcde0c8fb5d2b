"""Admin for schedules: staff see at a glance when a schedule runs (a one-line
summary in the list, the week picture on the change page) and edit periods
inline, with each error shown on the field it is about."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.contrib.admin.views.main import ChangeList
from django.forms.models import BaseInlineFormSet
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from portal.zones import format_when
from portal.admin_helpers import ParkwayModelAdmin, ReadOnlyAdmin
from scheduling import actions as resource_actions
from scheduling.forms import MAX_PERIODS
from scheduling.models import Override, ParkingAction, ParkingRun, Period, Resource, Schedule
from scheduling import planner
from scheduling.resolver import act_now_preview, assignment_preview, assignment_preview_text, resources_explain
from scheduling.periods import ScheduleError, summarize
from scheduling.services import assigned_machines, schedule_save, schedule_validate, schedules_delete
from scheduling.templatetags.resource_display import resource_type_label
from scheduling.templatetags.schedule_display import week_picture_html

class ScopeFilter(admin.SimpleListFilter):
    title = "tenant / global"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("global", "Global templates"), ("tenant", "Tenant-owned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "global":
            return queryset.filter(tenant__isnull=True)
        if self.value() == "tenant":
            return queryset.filter(tenant__isnull=False)
        return queryset


class PeriodInlineFormSet(BaseInlineFormSet):
    def kept_periods(self) -> list[Period]:
        """The periods the schedule will have: filled-in rows not marked for deletion."""
        return [f.instance for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or not self.instance.name:
            return  # each row's own errors (or the schedule's) come first
        # The service's own check, so the admin refuses what every other path refuses.
        spec = self.instance.to_spec(periods=self.kept_periods())
        try:
            schedule_validate(spec=spec, tenant=self.instance.tenant)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class PeriodInline(admin.TabularInline):
    model = Period
    formset = PeriodInlineFormSet
    extra = 1
    max_num = MAX_PERIODS  # as on the self-service page
    fields = ("begintime", "endtime", "weekdays", "monthdays", "months")


@admin.register(Schedule)
class ScheduleAdmin(ParkwayModelAdmin):
    list_display = ("name", "owner", "summary", "enforced")
    list_filter = (ScopeFilter, "tenant")
    list_select_related = ("tenant",)
    search_fields = ("name",)
    autocomplete_fields = ("tenant",)
    readonly_fields = ("week_picture",)
    fieldsets = (
        (None, {"fields": ("name", "tenant", "description", "timezone")}),
        ("Behaviour", {"fields": ("override_status", "enforced", "retain_running", "stop_new_instances", "asg_mode")}),
        ("The week picture", {"fields": ("week_picture",)}),
    )
    inlines = (PeriodInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("periods")

    @admin.display(description="tenant", ordering="tenant__name")
    def owner(self, obj: Schedule) -> str:
        return obj.tenant.name if obj.tenant else "global"

    @admin.display(description="runs")
    def summary(self, obj: Schedule) -> str:
        try:
            return summarize(obj.to_spec())
        except ScheduleError as exc:
            # Rows written before validation (or by hand) must not break the list.
            return f"invalid: {exc}"

    @admin.display(description="this week")
    def week_picture(self, obj: Schedule) -> SafeString | str:
        if obj.pk is None:
            return "Save the schedule to see its week."
        return week_picture_html(schedule=obj, now=timezone.now())

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> tuple[str, ...]:
        # Moving a schedule to another tenant would leave the first tenant's
        # machines following a schedule they may no longer see.
        return (*self.readonly_fields, "tenant") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        """Saved in save_related, with its periods, through the audited service."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        schedule = form.instance
        (periods,) = [f for f in formsets if isinstance(f, PeriodInlineFormSet)]
        saved = schedule_save(
            spec=schedule.to_spec(periods=periods.kept_periods()),
            tenant=schedule.tenant,
            actor=request.user,
            schedule=schedule if change else None,
        )
        schedule.pk = saved.pk  # for the admin's log entry and redirect

    def construct_change_message(self, request: HttpRequest, form: Any, formsets: Any, add: bool = False) -> list[dict]:
        # The inlines were never saved by the admin (the service replaced the
        # periods), so only the schedule's own fields are described; the audit
        # event records the rest.
        return super().construct_change_message(request, form, [], add)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, list[str]]:
        # Machines assigned to a schedule block its deletion (the service refuses
        # it too): the confirmation page lists them instead of a Delete button.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        blocking = [
            f"{r.name or r.resource_id} ({r.resource_id}) is assigned to {r.schedule.name}: assign it another schedule first"
            for r in assigned_machines(objs)
        ]
        return deleted, counts, perms_needed, [*protected, *blocking]

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        schedules_delete(schedules=[obj], actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        schedules_delete(schedules=queryset.select_related("tenant"), actor=request.user)


# --- Inventory and parking ------------------------------------------------------

class ResourceChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # The desired state of the whole page at once: a few queries, not one per row.
        wanted = resources_explain(self.result_list, at=timezone.now())
        for resource in self.result_list:
            resource.desired_now = wanted.get(resource.pk)


class AssignmentSourceFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(v, label) for v, label in Resource.Source.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == Resource.Source.EXPLICIT:
            return queryset.filter(schedule__isnull=False)
        if self.value() == Resource.Source.TAG:
            return queryset.filter(schedule__isnull=True).exclude(schedule_tag="")
        if self.value() == Resource.Source.NONE:
            return queryset.filter(schedule__isnull=True, schedule_tag="")
        return queryset


class AsgFilter(admin.SimpleListFilter):
    title = "managed by Auto Scaling"
    parameter_name = "asg"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.exclude(asg_name="")
        if self.value() == "no":
            return queryset.filter(asg_name="")
        return queryset


class ParkableFilter(admin.SimpleListFilter):
    title = "can be parked"
    parameter_name = "parkable"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No: refused (member, replica, engine…)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(refusal="")
        if self.value() == "no":
            return queryset.exclude(refusal="")
        return queryset


class SnoozedFilter(admin.SimpleListFilter):
    title = "snoozed"
    parameter_name = "snoozed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has an active snooze"), ("no", "No snooze")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            active = Override.objects.active(at=timezone.now()).filter(resource=OuterRef("pk"))
            queryset = queryset.annotate(snoozed=Exists(active))
            return queryset.filter(snoozed=self.value() == "yes")
        return queryset


class BackingOffFilter(admin.SimpleListFilter):
    title = "backing off"
    parameter_name = "backoff"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Backing off after failures"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(retry_after__gt=timezone.now())
        if self.value() == "no":
            return queryset.exclude(retry_after__gt=timezone.now())
        return queryset


class ResourceForm(forms.ModelForm):
    class Meta:
        model = Resource
        fields = ("schedule",)

    def clean_schedule(self) -> Schedule | None:
        schedule = self.cleaned_data.get("schedule")
        if not self.instance.may_follow(schedule):
            raise ValidationError("Choose one of the tenant's schedules or a global template.")
        return schedule


@admin.register(Resource)
class ResourceAdmin(ParkwayModelAdmin):
    form = ResourceForm
    list_display = (
        "resource_id", "name", "kind", "type_display", "tenant", "account_id", "region", "state", "schedule_display",
        "desired_display", "gone_at",
    )
    list_filter = (
        ("account__tenant", admin.RelatedOnlyFieldListFilter), "kind", "region", "state", "engine", ParkableFilter,
        ("schedule", admin.RelatedOnlyFieldListFilter), AssignmentSourceFilter, AsgFilter, SnoozedFilter, BackingOffFilter,
    )
    list_select_related = ("account__tenant", "schedule")
    search_fields = ("resource_id", "name", "tags", "account__account_id")
    raw_id_fields = ("account",)
    autocomplete_fields = ("schedule",)
    readonly_fields = (
        "account", "region", "kind", "resource_id", "name", "tags", "state", "instance_type", "engine", "launch_time",
        "asg_name", "refusal", "sizes_display", "saved_sizes_display", "details", "parked_at", "desired_display", "schedule_tag", "desired_state", "retained_running", "failures", "last_failure", "retry_after",
        "first_seen_at", "last_seen_at", "gone_at",
    )
    actions = ("park_now", "start_now", "snooze_two_hours", "clear_snooze")
    list_per_page = 100

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ResourceChangeList

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        """"Preview" shows what the next tick would do with the chosen schedule,
        saving nothing: the page is shown again with that choice still selected."""
        if request.method == "POST" and "_preview" in request.POST and object_id is not None:
            resource = self.get_object(request, object_id)
            if resource is not None and self.has_change_permission(request, resource):
                form = self.get_form(request, resource, change=True)(request.POST, instance=resource)
                if form.is_valid():
                    schedule = form.cleaned_data.get("schedule")
                    explained = assignment_preview(resource, schedule=schedule, at=timezone.now())
                    self.message_user(request, assignment_preview_text(explained), messages.WARNING)
                    request.method = "GET"  # render the page, do not save
                    request.parkway_preview_schedule = schedule
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if not hasattr(request, "parkway_preview_schedule"):
            return form_class
        chosen = request.parkway_preview_schedule

        class PreviewForm(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self.initial["schedule"] = chosen.pk if chosen is not None else None

        return PreviewForm

    def save_model(self, request: HttpRequest, obj: Resource, form: Any, change: bool) -> None:
        # Only the schedule is editable here; the service checks the tenant and audits.
        if "schedule" in form.changed_data:
            resource_actions.resource_assign_schedule(resource=obj, schedule=obj.schedule, actor=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # resources come from inventory

    @admin.display(description="tenant", ordering="account__tenant__name")
    def tenant(self, obj: Resource) -> str:
        return obj.account.tenant.name

    @admin.display(description="type / engine / sizes")
    def type_display(self, obj: Resource) -> str:
        return resource_type_label(obj)

    @admin.display(description="min/desired/max")
    def sizes_display(self, obj: Resource) -> str:
        return obj.sizes_label or "—"

    @admin.display(description="sizes stored to restore")
    def saved_sizes_display(self, obj: Resource) -> str:
        return obj.saved_sizes_label or "—"

    @admin.display(description="account", ordering="account__account_id")
    def account_id(self, obj: Resource) -> str:
        return obj.account.account_id

    @admin.display(description="schedule")
    def schedule_display(self, obj: Resource) -> str:
        if obj.schedule_id:
            return f"{obj.schedule.name} (assigned)"
        if obj.schedule_tag:
            explained = getattr(obj, "desired_now", None) or resources_explain([obj], at=timezone.now()).get(obj.pk)
            if explained is not None and explained.schedule is None:
                return f"'{obj.schedule_tag}' (tag): no such schedule"
            return f"{obj.schedule_tag} (tag)"
        return "—"

    @admin.display(description="desired now")
    def desired_display(self, obj: Resource) -> str:
        wanted = getattr(obj, "desired_now", None) or resources_explain([obj], at=timezone.now()).get(obj.pk)
        if wanted is None:
            return "—"
        flag = "⚠ " if wanted.differs else ""
        return f"{flag}{wanted.state or 'nothing'} — next tick: {wanted.action} — {wanted.reason}"

    def _act(self, request: HttpRequest, queryset: QuerySet, action: str) -> TemplateResponse | None:
        """A confirmation page first (each machine, what the action does to it and
        what the next tick does afterwards, from the resolver); acts only on confirm."""
        resources = list(queryset.select_related("account__tenant", "schedule").order_by("account__tenant__name", "resource_id"))
        if request.POST.get("confirm") != "yes":
            return self._act_confirmation(request, resources, action)
        report = resource_actions.resources_act_now(resources=resources, action=action, actor=request.user)
        verb = "Stopped" if action == "stop" else "Started"
        if report.succeeded:
            count = len(report.succeeded)
            self.message_user(request, f"{verb} {count} machine{'' if count == 1 else 's'}.", messages.SUCCESS)
        for resource_id, message in report.failed:
            self.message_user(request, f"{resource_id}: {message}", messages.ERROR)
        return None

    def _act_confirmation(self, request: HttpRequest, resources: list[Resource], action: str) -> TemplateResponse:
        now = timezone.now()
        afterwards = act_now_preview(resources, action=action, at=now)
        settled = planner.STOPPED_STATES if action == "stop" else planner.RUNNING_STATES
        rows = []
        for resource in resources:
            if resource.gone_at is not None:
                effect = "nothing: it no longer exists in AWS"
            elif resource.state in planner.NEVER_ACT:
                effect = f"nothing: it is {resource.state}"
            elif resource.state in settled:
                effect = f"nothing: it is already {resource.state}"
            else:
                effect = f"{'stops' if action == 'stop' else 'starts'} it now (it is {resource.state or 'in an unknown state'})"
            rows.append({"resource": resource, "effect": effect, "then": afterwards.get(resource.pk)})
        label = "Park now (stop)" if action == "stop" else "Start now"
        count = len(resources)
        return TemplateResponse(
            request,
            "admin/scheduling/resource/act_now_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{label}: {count} machine{'' if count == 1 else 's'}",
                "rows": rows,
                "action_name": "park_now" if action == "stop" else "start_now",
                "confirm_label": f"Yes, {'stop' if action == 'stop' else 'start'} {'it' if count == 1 else 'them'} now",
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Park now (stop)…", permissions=["change"])
    def park_now(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._act(request, queryset, "stop")

    @admin.action(description="Start now…", permissions=["change"])
    def start_now(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._act(request, queryset, "start")

    @admin.action(description="Snooze 2 h (keep as it is now)", permissions=["change"])
    def snooze_two_hours(self, request: HttpRequest, queryset: QuerySet) -> None:
        until = timezone.now() + dt.timedelta(hours=2)
        count = resource_actions.resources_snooze_as_they_are(
            resources=queryset.select_related("account__tenant"), until=until, actor=request.user, reason="snoozed from admin"
        )
        self.message_user(request, f"Snoozed {count} machine(s) until {format_when(until)}.", messages.SUCCESS)

    @admin.action(description="Clear snooze", permissions=["change"])
    def clear_snooze(self, request: HttpRequest, queryset: QuerySet) -> None:
        cleared = resource_actions.resources_snooze_clear(resources=queryset.select_related("account__tenant"), actor=request.user)
        self.message_user(request, f"Cleared {cleared} snooze(s).", messages.SUCCESS)


@admin.register(Override)
class OverrideAdmin(ReadOnlyAdmin):
    list_display = ("resource", "state", "until", "reason", "created_by_label", "created_at", "cancelled_at")
    list_select_related = ("resource",)
    list_filter = ("state",)
    search_fields = ("resource__resource_id", "resource__name", "reason")
    readonly_fields = ("resource", "state", "until", "reason", "created_by", "created_by_label", "created_at", "cancelled_at")


class ParkingActionInline(admin.TabularInline):
    model = ParkingAction
    extra = 0
    fields = ("resource", "action", "reason", "outcome", "error_code", "error_message")
    readonly_fields = fields
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("resource")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ParkingRun)
class ParkingRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "account", "tenant", "trigger", "status", "planned", "succeeded", "failed", "skipped", "calls", "error")
    list_filter = ("status", "trigger", ("account", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("account__tenant",)
    search_fields = ("account__account_id", "account__tenant__name")
    date_hierarchy = "started_at"
    inlines = (ParkingActionInline,)

    @admin.display(description="tenant")
    def tenant(self, obj: ParkingRun) -> str:
        return obj.account.tenant.name

    @admin.display(description="AWS calls")
    def calls(self, obj: ParkingRun) -> str:
        return ", ".join(f"{op} {n}" for op, n in sorted(obj.aws_calls.items())) or "—"


@admin.register(ParkingAction)
class ParkingActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "resource", "account", "action", "outcome", "reason", "error_code")
    list_filter = ("outcome", "action", ("run__account", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("resource", "run__account")
    search_fields = ("resource__resource_id", "resource__name", "error_code", "run__account__account_id")

    @admin.display(description="account")
    def account(self, obj: ParkingAction) -> str:
        return obj.run.account.account_id
