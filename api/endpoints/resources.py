"""Resources (machines), their snoozes, park / start now and schedule
assignment: the resources pages' filters, resolver, actions and services."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status

from api.auth import principal_of
from api.endpoints.common import ERRORS, ID, MAX_PAGE, MAX_PER_PAGE, DEFAULT_PER_PAGE, Page, checked, paginate
from api.errors import ApiError
from scheduling.actions import override_clear, override_create, resource_assign_schedule, resources_act_now
from scheduling.forms import ResourceFilterForm
from scheduling.models import Override, ParkingAction, Resource
from scheduling.resolver import Explanation, assignment_preview, resources_explain, snooze_consequence
from scheduling.savings import resource_savings
from scheduling.selectors import filter_resources, schedule_choices, tenant_resources, visible_schedules
from tenants.models import CloudAccount
from tenants.permissions import OPERATE

router = Router(tags=["resources"])


class OverrideOut(Schema):
    state: str
    until: dt.datetime
    by: str
    reason: str


class NextChangeOut(Schema):
    at: dt.datetime
    state: str
    timezone: str
    local: dt.datetime = Field(..., description="`at` in the schedule's zone, with its offset.")


class ExplanationOut(Schema):
    schedule: str | None = Field(..., description="The schedule the machine follows now, by name.")
    schedule_id: int | None
    schedule_source: str = Field(..., description="explicit (assigned) | tag (its Schedule tag) | none")
    desired: str | None = Field(..., description="What the snooze or schedule wants now: running | stopped | any | null")
    action: str = Field(..., description="What the next tick does: start | stop | skip | none")
    differs: bool = Field(..., description="Its state in AWS is not what is wanted now.")
    reason: str
    snooze: OverrideOut | None
    next_change: NextChangeOut | None


class ResourceOut(Schema):
    id: int
    resource_id: str
    kind: str
    name: str
    account: int = Field(..., description="The account's id in this API (see /accounts).")
    aws_account_id: str
    region: str
    state: str
    instance_type: str
    engine: str
    tags: dict[str, Any]
    refusal: str = Field(..., description="Why Parkway cannot park it; empty when it can.")
    schedule_id: int | None = Field(..., description="The assigned schedule; null: it follows its Schedule tag, if any.")
    schedule_tag: str
    min_size: int | None
    desired_size: int | None
    max_size: int | None
    failures: int
    last_failure: str
    retry_after: dt.datetime | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    explanation: ExplanationOut | None


class SnoozeOut(Schema):
    id: int
    resource: int
    resource_id: str
    state: str
    until: dt.datetime
    reason: str
    by: str
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    active: bool


class ActionOut(Schema):
    id: int
    run: int
    resource: int
    resource_id: str
    action: str
    reason: str
    outcome: str
    error_code: str
    error_message: str
    created_at: dt.datetime
    settled_at: dt.datetime | None


class MachineSavingsOut(Schema):
    month_hours_parked: float
    projected_hours: float
    hourly_price: float | None = Field(..., description="USD per hour, on demand × your price factor; null when unknown.")
    saved: float | None


class ResourceDetailOut(ResourceOut):
    snoozes: list[SnoozeOut] = Field(..., description="The five latest.")
    actions: list[ActionOut] = Field(..., description="The thirty latest parking actions.")
    savings: MachineSavingsOut


class ActNowOut(Schema):
    ok: bool
    succeeded: list[str]
    failed: dict[str, str] = Field(..., description="resource ID → why it failed")


class AssignIn(Schema):
    schedule_id: int | None = Field(..., ge=1, le=2**63 - 1,
                                    description="One of your schedules or a global template; null: follow its Schedule tag.")
    dry_run: bool = Field(False, description="Only say what the next tick would do; change nothing.")


class AssignOut(Schema):
    saved: bool
    explanation: ExplanationOut


class SnoozeIn(Schema):
    state: Literal["running", "stopped"]
    hours: int | None = Field(None, ge=1, le=720, description="For this many hours from now…")
    until: dt.datetime | None = Field(None, description="…or until this time (ISO 8601 with its offset). At most 30 days.")
    reason: str = Field("", max_length=300)


class SnoozeCreatedOut(SnoozeOut):
    consequence: str = Field(..., description="What the next tick does because of it, if anything.")


class CancelOut(Schema):
    cancelled: int


def explanation_json(e: Explanation | None) -> dict | None:
    if e is None:
        return None
    o, n = e.override, e.next_change
    return {
        "schedule": e.schedule.name if e.schedule else None, "schedule_id": e.schedule.pk if e.schedule else None,
        "schedule_source": e.schedule_source, "desired": e.desired, "action": e.action, "differs": e.differs,
        "reason": e.reason,
        "snooze": None if o is None else {"state": o.state, "until": o.until, "by": o.created_by_label, "reason": o.reason},
        "next_change": None if n is None else {"at": n.at, "state": n.state, "timezone": n.zone, "local": n.local},
    }


def resource_json(r: Resource, e: Explanation | None) -> dict:
    return {
        "id": r.pk, "resource_id": r.resource_id, "kind": r.kind, "name": r.name, "account": r.account_id,
        "aws_account_id": r.account.account_id, "region": r.region, "state": r.state, "instance_type": r.instance_type,
        "engine": r.engine, "tags": r.tags if isinstance(r.tags, dict) else {}, "refusal": r.refusal,
        "schedule_id": r.schedule_id, "schedule_tag": r.schedule_tag, "min_size": r.min_size,
        "desired_size": r.desired_size, "max_size": r.max_size, "failures": r.failures, "last_failure": r.last_failure,
        "retry_after": r.retry_after, "first_seen_at": r.first_seen_at, "last_seen_at": r.last_seen_at,
        "explanation": explanation_json(e),
    }


def snooze_json(o: Override, now: dt.datetime) -> dict:
    return {
        "id": o.pk, "resource": o.resource_id, "resource_id": o.resource.resource_id, "state": o.state, "until": o.until,
        "reason": o.reason, "by": o.created_by_label, "created_at": o.created_at, "cancelled_at": o.cancelled_at,
        "active": o.cancelled_at is None and o.until > now,
    }


def action_json(a: ParkingAction) -> dict:
    return {
        "id": a.pk, "run": a.run_id, "resource": a.resource_id, "resource_id": a.resource.resource_id,
        "action": a.action, "reason": a.reason, "outcome": a.outcome, "error_code": a.error_code,
        "error_message": a.error_message, "created_at": a.created_at, "settled_at": a.settled_at,
    }


def own_resource(request: HttpRequest, resource_pk: int) -> Resource:
    return get_object_or_404(
        tenant_resources(principal_of(request).tenant).select_related("account__tenant", "schedule"), pk=resource_pk
    )


def _explained(resources: list[Resource]) -> list[dict]:
    wanted = resources_explain(resources, at=timezone.now())
    return [resource_json(r, wanted.get(r.pk)) for r in resources]


@router.get("/resources", response={200: Page[ResourceOut], **ERRORS}, summary="List machines, filtered and searched like the page")
def list_resources(
    request: HttpRequest,
    q: str = Query("", max_length=200, description="Name or resource ID contains it; `key=value`: that tag."),
    account: str = Query("", description="An account's id (see /accounts)."),
    region: str = Query("", description="One of your accounts' regions."),
    kind: str = Query("", description="ec2_instance, rds_instance, rds_cluster, asg…"),
    state: str = Query("", description="running, stopped, …"),
    schedule: str = Query("", description="A schedule's id, `tag` (follows its Schedule tag) or `none`."),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE),
) -> dict:
    tenant = principal_of(request).tenant
    accounts = list(CloudAccount.objects.filter(tenant=tenant).connected().order_by("name", "account_id"))
    schedules = schedule_choices(tenant)
    data = checked(ResourceFilterForm(
        {"q": q, "account": account, "region": region, "kind": kind, "state": state, "schedule": schedule},
        accounts=accounts, schedules=schedules,
    ))
    resources = (
        tenant_resources(tenant).filter(gone_at__isnull=True).select_related("account", "schedule")
        .order_by("account__name", "account__account_id", "region", "name", "resource_id")
    )
    return paginate(filter_resources(resources, data, schedules), page=page, per_page=per_page, convert=_explained)


@router.get("/resources/{resource_pk}", response={200: ResourceDetailOut, **ERRORS},
            summary="Read a machine: why it is in its state, and what changes next")
def read_resource(request: HttpRequest, resource_pk: int = Path(..., **ID)) -> dict:
    resource = own_resource(request, resource_pk)
    now = timezone.now()
    (row,) = _explained([resource])
    savings = resource_savings(resource=resource, now=now)
    snoozes = resource.overrides.select_related("resource").order_by("-created_at", "-pk")[:5]
    actions = ParkingAction.objects.filter(resource=resource).select_related("resource").order_by("-created_at", "-pk")[:30]
    return row | {
        "snoozes": [snooze_json(o, now) for o in snoozes],
        "actions": [action_json(a) for a in actions],
        "savings": {
            "month_hours_parked": float(round(savings.hours_parked, 2)),
            "projected_hours": float(round(savings.projected_hours, 2)),
            "hourly_price": None if savings.hourly_price is None else float(savings.hourly_price),
            "saved": None if savings.saved is None else float(round(savings.saved, 2)),
        },
    }


def _act_now(request: HttpRequest, resource_pk: int, action: str) -> dict:
    principal = principal_of(request)
    resource = own_resource(request, resource_pk)
    principal.require(OPERATE)
    report = resources_act_now(resources=[resource], action=action, actor=principal.user)
    return {"ok": not report.failed, "succeeded": report.succeeded, "failed": dict(report.failed)}


@router.post("/resources/{resource_pk}/park", response={200: ActNowOut, **ERRORS}, summary="Park (stop) now")
def park_now(request: HttpRequest, resource_pk: int = Path(..., **ID)) -> dict:
    """Stops it now, as a tick would (and recorded as a manual parking run); its
    schedule applies again at its next change. `ok` is false when AWS refused."""
    return _act_now(request, resource_pk, "stop")


@router.post("/resources/{resource_pk}/start", response={200: ActNowOut, **ERRORS}, summary="Start now")
def start_now(request: HttpRequest, resource_pk: int = Path(..., **ID)) -> dict:
    return _act_now(request, resource_pk, "start")


@router.put("/resources/{resource_pk}/schedule", response={200: AssignOut, **ERRORS}, summary="Assign a schedule")
def assign_schedule(request: HttpRequest, payload: AssignIn, resource_pk: int = Path(..., **ID)) -> dict:
    principal = principal_of(request)
    resource = own_resource(request, resource_pk)
    principal.require(OPERATE)
    schedule = None
    if payload.schedule_id is not None:
        # Never say whose another id is: the same words as the service's.
        schedule = visible_schedules(principal.tenant).filter(pk=payload.schedule_id).first()
        if schedule is None:
            raise ApiError(422, "Choose one of your schedules or a global template.",
                           fields={"schedule_id": ["Choose one of your schedules or a global template."]})
    if payload.dry_run:
        return {"saved": False, "explanation": explanation_json(assignment_preview(resource, schedule=schedule, at=timezone.now()))}
    resource_assign_schedule(resource=resource, schedule=schedule, actor=principal.user)
    (row,) = _explained([own_resource(request, resource_pk)])
    return {"saved": True, "explanation": row["explanation"]}


@router.get("/resources/{resource_pk}/snoozes", response={200: Page[SnoozeOut], **ERRORS}, tags=["snoozes"],
            summary="A machine's snoozes, newest first")
def list_resource_snoozes(request: HttpRequest, resource_pk: int = Path(..., **ID),
                          page: int = Query(1, ge=1, le=MAX_PAGE),
                          per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)) -> dict:
    resource = own_resource(request, resource_pk)
    now = timezone.now()
    rows = resource.overrides.select_related("resource").order_by("-created_at", "-pk")
    return paginate(rows, page=page, per_page=per_page, convert=lambda chunk: [snooze_json(o, now) for o in chunk])


@router.post("/resources/{resource_pk}/snoozes", response={201: SnoozeCreatedOut, **ERRORS}, tags=["snoozes"],
             summary="Snooze: keep a machine running or stopped for a while")
def create_snooze(request: HttpRequest, payload: SnoozeIn, resource_pk: int = Path(..., **ID)) -> Status:
    principal = principal_of(request)
    resource = own_resource(request, resource_pk)
    principal.require(OPERATE)
    if (payload.hours is None) == (payload.until is None):
        message = "Give either hours or until, not both." if payload.hours else "Give hours, or until when."
        raise ApiError(422, message, fields={"__all__": [message]})
    now = timezone.now()
    until = payload.until if payload.until is not None else now + dt.timedelta(hours=payload.hours or 0)
    override = override_create(resource=resource, state=payload.state, until=until, actor=principal.user,
                               reason=payload.reason, now=now)
    override.resource = resource
    consequence = snooze_consequence(resources_explain([resource], at=timezone.now())[resource.pk])
    return Status(201, snooze_json(override, now) | {"consequence": consequence})


@router.post("/resources/{resource_pk}/snoozes/cancel", response={200: CancelOut, **ERRORS}, tags=["snoozes"],
             summary="Cancel a machine's active snooze")
def cancel_snooze(request: HttpRequest, resource_pk: int = Path(..., **ID)) -> dict:
    principal = principal_of(request)
    resource = own_resource(request, resource_pk)
    principal.require(OPERATE)
    return {"cancelled": override_clear(resource=resource, actor=principal.user)}


@router.get("/snoozes", response={200: Page[SnoozeOut], **ERRORS}, tags=["snoozes"], summary="Snoozes of all your machines")
def list_snoozes(request: HttpRequest, active: bool = Query(True, description="Only those in force now (false: all, newest first)."),
                 page: int = Query(1, ge=1, le=MAX_PAGE),
                 per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)) -> dict:
    now = timezone.now()
    rows = Override.objects.filter(resource__in=tenant_resources(principal_of(request).tenant))
    if active:
        rows = rows.active(at=now)
    rows = rows.select_related("resource").order_by("-created_at", "-pk")
    return paginate(rows, page=page, per_page=per_page, convert=lambda chunk: [snooze_json(o, now) for o in chunk])
