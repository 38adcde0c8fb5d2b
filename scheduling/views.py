"""Self-service pages for machines and schedules (/app/); activity is in views_activity.

Same rules as tenants.views: the person's current tenant scopes every lookup
(another tenant's ID is a 404), views parse a form, call one audited service
and report. Pages make a fixed number of queries whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from portal.untrusted import parse_id
from portal.zones import format_when
from scheduling.actions import (
    override_clear,
    override_create,
    resource_assign_schedule,
    resources_act_now,
    resources_assign_schedule,
    resources_snooze,
)
from scheduling.forms import (
    BULK_ACTIONS,
    AssignScheduleForm,
    BulkActionForm,
    PeriodFormSet,
    ResourceFilterForm,
    ScheduleForm,
    SnoozeForm,
    schedule_initial,
    schedule_spec,
)
from scheduling.models import ParkingAction, Resource, Schedule
from scheduling.resolver import (
    Explanation,
    assignment_preview,
    preview_sentence,
    resources_explain,
    snooze_consequence,
    snooze_previews,
)
from scheduling.savings import resource_savings
from scheduling.selectors import (
    filter_resources,
    schedule_choices,
    schedule_summary,
    tenant_resources,
    visible_schedules,
)
from scheduling.services import assigned_machines, schedule_save, schedules_delete, tag_users
from tenants.forms import add_service_errors
from tenants.models import CloudAccount
from tenants.decorators import safe_next, tenant_member_required
from tenants.permissions import OPERATE

RESOURCES_PER_PAGE = 50


def page_of(queryset: QuerySet, request: HttpRequest, *, per_page: int, param: str = "page") -> Page:
    """A page whose rows are loaded once (the template and the resolver share them)."""
    page = Paginator(queryset, per_page).get_page(request.GET.get(param))
    page.object_list = list(page.object_list)
    return page


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class ResourceRow:
    resource: Resource
    desired: Explanation | None


@tenant_member_required
def resource_list(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    accounts = list(CloudAccount.objects.filter(tenant=tenant).connected().order_by("name", "account_id"))
    schedules = schedule_choices(tenant)
    filters = ResourceFilterForm(request.GET, accounts=accounts, schedules=schedules)
    resources = (
        tenant_resources(tenant).filter(gone_at__isnull=True)
        .select_related("account", "schedule")
        .order_by("account__name", "account__account_id", "region", "name", "resource_id")
    )
    resources = filter_resources(resources, filters.cleaned_data, schedules) if filters.is_valid() else resources.none()
    page = page_of(resources, request, per_page=RESOURCES_PER_PAGE)
    wanted = resources_explain(page.object_list, at=timezone.now())
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "selfservice/resources.html",
        {
            "filters": filters,
            "page": page,
            "rows": [ResourceRow(resource=r, desired=wanted.get(r.pk)) for r in page.object_list],
            "query": query.urlencode(),
            "has_accounts": bool(accounts),
            "bulk_form": BulkActionForm(schedules=schedules),
        },
    )


def own_resource_or_404(request: HttpRequest, resource_pk: int) -> Resource:
    return get_object_or_404(
        tenant_resources(request.tenant).select_related("account__tenant", "schedule"),
        pk=resource_pk,
    )


def render_resource(
    request: HttpRequest,
    resource: Resource,
    *,
    schedules: list[Schedule] | None = None,
    assign_form: AssignScheduleForm | None = None,
    snooze_form: SnoozeForm | None = None,
    preview: Explanation | None = None,
    status: int = 200,
) -> HttpResponse:
    schedules = schedules if schedules is not None else schedule_choices(request.tenant)
    now = timezone.now()
    wanted = resources_explain([resource], at=now).get(resource.pk)
    follows = wanted.schedule if wanted is not None else None
    # What each kind of snooze would make the next tick do (e.g. start a stopped machine), said before it is asked.
    previews = snooze_previews(resource, until=now + dt.timedelta(hours=2), at=now)
    snooze_effects = {state: snooze_consequence(preview) for state, preview in previews.items()}
    context = {
        "resource": resource,
        "desired": wanted,
        "preview": preview,
        "follows": follows,
        "zone": request.viewer_zone.key,
        "assign_form": assign_form
        or AssignScheduleForm(initial={"schedule": str(resource.schedule_id or "")}, schedules=schedules),
        "snooze_form": snooze_form or SnoozeForm(zone=request.viewer_zone, initial={"hours": 2}),
        "snooze_effects": snooze_effects,
        "snoozes": list(resource.overrides.order_by("-created_at")[:5]),
        "actions": list(ParkingAction.objects.filter(resource=resource).select_related("run").order_by("-created_at", "-pk")[:30]),
        "next": safe_next(request, ""),
        "savings": resource_savings(resource=resource, now=now),
    }
    return render(request, "selfservice/resource.html", context, status=status)


@tenant_member_required
def resource_detail(request: HttpRequest, resource_pk: int) -> HttpResponse:
    return render_resource(request, own_resource_or_404(request, resource_pk))


def _back(request: HttpRequest, resource: Resource) -> HttpResponse:
    return HttpResponseRedirect(safe_next(request, reverse("scheduling:resource", kwargs={"resource_pk": resource.pk})))


@tenant_member_required(capability=OPERATE)
def resource_assign(request: HttpRequest, resource_pk: int) -> HttpResponse:
    resource = own_resource_or_404(request, resource_pk)
    if request.method != "POST":
        return _back(request, resource)
    schedules = schedule_choices(request.tenant)
    form = AssignScheduleForm(request.POST, schedules=schedules)
    if form.is_valid() and "preview" in request.POST:
        schedule = form.cleaned_data["schedule"]
        if not resource.may_follow(schedule):
            form.add_error("schedule", "Choose one of your schedules or a global template.")
        else:
            # Nothing is saved: the page shows what the next tick would do.
            preview = assignment_preview(resource, schedule=schedule, at=timezone.now())
            return render_resource(request, resource, schedules=schedules, assign_form=form, preview=preview)
    elif form.is_valid():
        schedule = form.cleaned_data["schedule"]
        try:
            resource_assign_schedule(resource=resource, schedule=schedule, actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if schedule is not None:
                messages.success(request, f"{resource} now follows the schedule {schedule.name}.")
            elif resource.schedule_tag:
                messages.success(request, f"{resource} now follows its Schedule tag ({resource.schedule_tag}).")
            else:
                messages.success(request, f"{resource} has no schedule now: it has no Schedule tag, so Parkway leaves it alone.")
            return _back(request, resource)
    return render_resource(request, resource, schedules=schedules, assign_form=form, status=400)


@tenant_member_required(capability=OPERATE)
def resource_snooze(request: HttpRequest, resource_pk: int) -> HttpResponse:
    resource = own_resource_or_404(request, resource_pk)
    if request.method != "POST":
        return _back(request, resource)
    schedules = schedule_choices(request.tenant)
    form = SnoozeForm(request.POST, zone=request.viewer_zone)
    if form.is_valid():
        data = form.cleaned_data
        until = form.end(now=timezone.now())
        try:
            override_create(resource=resource, state=data["state"], until=until, actor=request.user, reason=data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            consequence = snooze_consequence(resources_explain([resource], at=timezone.now())[resource.pk])
            messages.success(
                request,
                f"{resource} will be kept {data['state']} until {format_when(until)}, "
                "whatever its schedule says. Then the schedule applies again."
                + (f" {consequence}" if consequence else ""),
            )
            return _back(request, resource)
    return render_resource(request, resource, schedules=schedules, snooze_form=form, status=400)


@tenant_member_required(capability=OPERATE)
def resource_snooze_cancel(request: HttpRequest, resource_pk: int) -> HttpResponse:
    resource = own_resource_or_404(request, resource_pk)
    if request.method == "POST":
        if override_clear(resource=resource, actor=request.user):
            messages.success(request, f"Snooze cancelled: {resource} follows its schedule again.")
        else:
            messages.info(request, f"{resource} had no snooze to cancel.")
    return _back(request, resource)


# --------------------------------------------------------------------------- schedules


@tenant_member_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = list(
        visible_schedules(request.tenant)
        .prefetch_related("periods")
        .annotate(machines=Count("resources", filter=Q(resources__gone_at__isnull=True)))
        .order_by("name")
    )
    rows = [(s, schedule_summary(s)) for s in schedules]
    return render(
        request,
        "selfservice/schedules.html",
        {"own": [r for r in rows if not r[0].is_global], "shared": [r for r in rows if r[0].is_global]},
    )


def _schedule_or_404(request: HttpRequest, pk: object, *, own: bool) -> Schedule:
    pk = parse_id(pk)
    if pk is None:
        raise Http404("No such schedule.")
    schedules = Schedule.objects.filter(tenant=request.tenant) if own else visible_schedules(request.tenant)
    return get_object_or_404(schedules.prefetch_related("periods"), pk=pk)


def _save_schedule(
    request: HttpRequest, form: ScheduleForm, periods: Any, *, schedule: Schedule | None
) -> Schedule | None:
    """Save through the audited service (creating when ``schedule`` is None); on
    any problem, put every message on the form and return None."""
    if not (form.is_valid() and periods.is_valid()):
        return None
    try:
        return schedule_save(spec=schedule_spec(form, periods), tenant=request.tenant, actor=request.user, schedule=schedule)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


@tenant_member_required(capability=OPERATE)
def schedule_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ScheduleForm(request.POST)
        periods = PeriodFormSet(request.POST, prefix="periods")
        schedule = _save_schedule(request, form, periods, schedule=None)
        if schedule is not None:
            messages.success(request, f"Schedule {schedule.name} created. Assign it to machines on the Resources page.")
            return redirect("scheduling:schedule", schedule_pk=schedule.pk)
        status = 400
    else:
        initial, period_rows = {"timezone": "UTC", "stop_new_instances": True}, [{"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}]
        if request.GET.get("from"):
            source = _schedule_or_404(request, request.GET["from"], own=False)
            initial, period_rows = schedule_initial(source)
            initial["name"] = f"{source.name} (copy)"[:100]
        form = ScheduleForm(initial=initial)
        periods = PeriodFormSet(initial=period_rows, prefix="periods")
        status = 200
    return render(request, "selfservice/schedule_form.html", {"form": form, "periods": periods, "creating": True}, status=status)


@tenant_member_required
def schedule_detail(request: HttpRequest, schedule_pk: int) -> HttpResponse:
    """Own schedules: the week picture and the edit form. Global templates: read-only."""
    if request.method == "POST":
        schedule = _schedule_or_404(request, schedule_pk, own=True)  # templates are not the tenant's to change
    else:
        schedule = _schedule_or_404(request, schedule_pk, own=False)
    context: dict[str, Any] = {
        "schedule": schedule,
        "summary": schedule_summary(schedule),
    }
    if schedule.is_global:
        return render(request, "selfservice/schedule_template.html", context)
    initial, period_rows = schedule_initial(schedule)
    tagged = tag_users(tenant=request.tenant, name=schedule.name)
    status = 200
    if request.method == "POST":
        form = ScheduleForm(request.POST, initial=initial, tagged=tagged)
        periods = PeriodFormSet(request.POST, initial=period_rows, prefix="periods")
        old_name = schedule.name
        if (saved := _save_schedule(request, form, periods, schedule=schedule)) is not None:
            messages.success(request, f"Schedule {saved.name} saved. Machines follow it from the next parking tick.")
            if saved.name != old_name and tagged:
                messages.warning(
                    request,
                    f"Renamed from {old_name}: {tagged} machine{pluralize(tagged)} whose Schedule tag says "
                    f"{old_name} no longer find{'' if tagged != 1 else 's'} it. Change their tags to {saved.name}.",
                )
            return redirect("scheduling:schedule", schedule_pk=schedule.pk)
        status = 400
    else:
        form = ScheduleForm(initial=initial, tagged=tagged)
        periods = PeriodFormSet(initial=period_rows, prefix="periods")
    context.update(form=form, periods=periods, creating=False)
    return render(request, "selfservice/schedule_form.html", context, status=status)


@tenant_member_required(capability=OPERATE)
def schedule_delete(request: HttpRequest, schedule_pk: int) -> HttpResponse:
    """Confirmation page; refused (listing them) while machines are assigned to the schedule."""
    schedule = _schedule_or_404(request, schedule_pk, own=True)  # global templates are not the tenant's
    if request.method == "POST":
        try:
            schedules_delete(schedules=[schedule], actor=request.user)
        except ValidationError:
            pass  # the page below lists the machines that block it
        else:
            messages.success(request, f"Schedule {schedule.name} deleted.")
            return redirect("scheduling:schedules")
    assigned = [r for r in assigned_machines([schedule]) if r.account.tenant_id == request.tenant.pk]
    context = {"schedule": schedule, "assigned": assigned, "tagged": tag_users(tenant=request.tenant, name=schedule.name)}
    return render(request, "selfservice/schedule_delete.html", context, status=409 if assigned and request.method == "POST" else 200)


# --------------------------------------------------------------------------- acting on a selection

BULK_LIMIT = RESOURCES_PER_PAGE  # a selection is at most one page of the list


@tenant_member_required(capability=OPERATE)
def resource_bulk(request: HttpRequest) -> HttpResponse:
    """Park/start now, assign or snooze the selected machines: a confirmation
    page first (what each machine will do), then, with `confirm`, the action."""
    back = safe_next(request, reverse("scheduling:resources"))
    if request.method != "POST":
        return HttpResponseRedirect(back)
    ids = {pk for pk in (parse_id(v) for v in request.POST.getlist("resource")[:BULK_LIMIT]) if pk is not None}
    resources = list(
        tenant_resources(request.tenant).filter(pk__in=ids, gone_at__isnull=True)
        .select_related("account__tenant", "schedule").order_by("name", "resource_id")
    )
    schedules = schedule_choices(request.tenant)
    form = BulkActionForm(request.POST, schedules=schedules)
    if not resources:
        messages.error(request, "Select at least one machine first.")
        return HttpResponseRedirect(back)
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, f"Nothing was done: {problems}")
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    if "confirm" in request.POST:
        return _bulk_run(request, resources, data, back)
    now = timezone.now()
    if data["action"] == "assign":
        explained = {r.pk: assignment_preview(r, schedule=data["schedule"], at=now) for r in resources}
    else:
        explained = resources_explain(resources, at=now)
    context = {
        "resources": resources,
        "rows": [ResourceRow(resource=r, desired=explained.get(r.pk)) for r in resources],
        "data": data,
        "action_label": dict(BULK_ACTIONS)[data["action"]],
        "sentence": preview_sentence(explained.values()) if data["action"] == "assign" else "",
        "until": now + dt.timedelta(hours=data["hours"]) if data["action"] == "snooze" else None,
        "stopped": [r for r in resources if r.state in ("stopped", "stopping")],
        "post": request.POST,
        "next": back,
    }
    return render(request, "selfservice/resources_bulk.html", context)


def _bulk_run(request: HttpRequest, resources: list[Resource], data: dict[str, Any], back: str) -> HttpResponse:
    action, count = data["action"], len(resources)
    machines = f"{count} machine{pluralize(count)}"
    try:
        if action in ("stop", "start"):
            report = resources_act_now(resources=resources, action=action, actor=request.user)
            if report.succeeded:
                verb = "Stopped" if action == "stop" else "Started"
                messages.success(request, f"{verb} {len(report.succeeded)} machine{pluralize(len(report.succeeded))}: "
                                 "their schedules apply again at their next change.")
            for resource_id, problem in report.failed:
                messages.error(request, f"{resource_id}: {problem}")
        elif action == "assign":
            resources_assign_schedule(resources=resources, schedule=data["schedule"], actor=request.user)
            follows = f"the schedule {data['schedule'].name}" if data["schedule"] else "their Schedule tags"
            messages.success(request, f"{machines} now follow{'s' if count == 1 else ''} {follows}.")
        else:
            until = timezone.now() + dt.timedelta(hours=data["hours"])
            resources_snooze(resources=resources, state="running", until=until, actor=request.user, reason="")
            messages.success(request, f"{machines} kept running until {format_when(until)}; stopped ones start at the next tick.")
    except ValidationError as exc:
        messages.error(request, "Nothing was changed: " + " ".join(exc.messages))
    return HttpResponseRedirect(back)
