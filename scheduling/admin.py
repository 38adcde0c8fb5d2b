"""Admin for schedules: staff see at a glance when a schedule runs (a one-line
summary in the list, the week picture on the change page) and edit periods
inline, with each error shown on the field it is about."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from scheduling.models import Period, Schedule
from scheduling.periods import ScheduleError, summarize, week_grid
from tenants.services import audit_record

STATE_LABELS = {"running": "running", "stopped": "stopped", "any": "no change"}


def _clock(quarter: int) -> str:
    return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


def _clocks_change_note(day: dt.date, zone: dt.tzinfo) -> SafeString | str:
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    before, after = midnight.utcoffset(), next_midnight.utcoffset()
    if before == after:
        return ""
    # Without this, a row where 02:00-02:45 "does not run" looks like a bug.
    return format_html(
        '<br><span class="pw-week-dst" title="UTC offset {} → {}">clocks change</span>',
        midnight.strftime("%z"),
        next_midnight.strftime("%z"),
    )


def week_picture_html(*, schedule: Schedule, now: dt.datetime) -> SafeString:
    """The schedule's desired state for the week containing ``now`` (in the
    schedule's zone, from Monday), as a 7 × 96 quarter-hour grid with a legend."""
    try:
        compiled = schedule.compiled()
    except ScheduleError as exc:
        return format_html('<p class="errornote">This schedule cannot be evaluated: {}</p>', str(exc))
    today = now.astimezone(compiled.zone).date()
    monday = today - dt.timedelta(days=today.weekday())
    hours = format_html_join("", '<th colspan="4" scope="colgroup">{}</th>', ((f"{h:02d}",) for h in range(24)))
    rows = []
    for offset, states in enumerate(week_grid(compiled, monday)):
        day = monday + dt.timedelta(days=offset)
        label = day.strftime("%a %d %b")
        cells = format_html_join(
            "",
            '<td class="pw-week-{}" title="{} {}: {}"></td>',
            ((state, label, _clock(q), STATE_LABELS[state]) for q, state in enumerate(states)),
        )
        rows.append((label, _clocks_change_note(day, compiled.zone), cells))
    body = format_html_join("", '<tr><th scope="row">{}{}</th>{}</tr>', rows)
    legend = format_html_join(
        "", '<span><i class="pw-week-{}"></i> {}</span>', ((state, text) for state, text in STATE_LABELS.items())
    )
    return format_html(
        '<div class="pw-week-picture"><table class="pw-week">'
        "<caption>Week of {} ({})</caption>"
        "<thead><tr><th></th>{}</tr></thead><tbody>{}</tbody></table>"
        '<p class="pw-week-legend">{}</p></div>',
        monday.strftime("%a %d %b %Y"),
        compiled.timezone,
        hours,
        body,
        legend,
    )


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


class PeriodInline(admin.TabularInline):
    model = Period
    extra = 1
    fields = ("begintime", "endtime", "weekdays", "monthdays", "months")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "summary", "enforced")
    list_filter = (ScopeFilter, "tenant")
    list_select_related = ("tenant",)
    search_fields = ("name",)
    autocomplete_fields = ("tenant",)
    readonly_fields = ("week_picture",)
    fieldsets = (
        (None, {"fields": ("name", "tenant", "description", "timezone")}),
        ("Behaviour", {"fields": ("override_status", "enforced", "retain_running", "stop_new_instances")}),
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

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the inlines, so the audit event describes the saved periods.
        schedule = form.instance
        audit_record(
            action="schedule.updated" if change else "schedule.created",
            actor=request.user,
            tenant=schedule.tenant,
            details={"schedule_id": schedule.pk, "name": schedule.name, "periods": schedule.periods.count()},
        )

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        details = {"schedule_id": obj.pk, "name": obj.name}
        tenant = obj.tenant
        super().delete_model(request, obj)
        audit_record(action="schedule.deleted", actor=request.user, tenant=tenant, details=details)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        deleted = [(s.tenant, {"schedule_id": s.pk, "name": s.name}) for s in queryset.select_related("tenant")]
        super().delete_queryset(request, queryset)
        for tenant, details in deleted:
            audit_record(action="schedule.deleted", actor=request.user, tenant=tenant, details=details)
