"""Parking runs and their actions, the audit log, and savings: the activity
page's selectors and filters, and the overview's savings report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema

from api.auth import principal_of
from api.endpoints.common import DEFAULT_PER_PAGE, ERRORS, ID, MAX_PAGE, MAX_PER_PAGE, Page, checked, paginate
from api.endpoints.resources import ActionOut, action_json
from api.errors import ApiError
from scheduling.activity import EventRow, activity_actions, activity_events, activity_runs
from scheduling.forms import ActivityFilterForm
from scheduling.models import ParkingRun
from scheduling.savings import money, parse_month, savings_report
from tenants.models import CloudAccount

router = Router(tags=["activity"])

# Never returned, even masked: how Parkway reached an account is not a script's business.
HIDDEN_DETAILS = {"access_key_id", "secret_access_key", "external_id", "previous", "new", "credential"}


class RunOut(Schema):
    id: int
    account: int
    aws_account_id: str
    trigger: str = Field(..., description="tick | manual")
    status: str
    tick_at: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None
    planned: int
    succeeded: int
    failed: int
    skipped: int
    error: str


class RunDetailOut(RunOut):
    actions: list[ActionOut]


class EventOut(Schema):
    id: int
    created_at: dt.datetime
    action: str
    label: str
    actor: str = Field(..., description="Who: a person (with the API token used, if any), Parkway, or Parkway support.")
    account: int | None
    summary: str
    details: dict[str, Any]


class ResourceSavingsOut(Schema):
    resource: int
    resource_id: str
    name: str
    kind: str
    account: int
    hours_parked: float
    hourly_price: float | None
    saved: float | None


class DayOut(Schema):
    day: dt.date
    saved: float


class SavingsOut(Schema):
    month: str
    currency: str
    saved: float
    projected: float
    to_gain: float = Field(..., description="A month of your priced machines running 24×7 with no schedule.")
    unscheduled_running: int
    by_account: dict[str, float]
    by_schedule: dict[str, float]
    daily: list[DayOut]
    resources: list[ResourceSavingsOut]


def run_json(run: ParkingRun) -> dict:
    return {
        "id": run.pk, "account": run.account_id, "aws_account_id": run.account.account_id, "trigger": run.trigger,
        "status": run.status, "tick_at": run.tick_at, "started_at": run.started_at, "finished_at": run.finished_at,
        "planned": run.planned, "succeeded": run.succeeded, "failed": run.failed, "skipped": run.skipped, "error": run.error,
    }


def event_json(event: Any) -> dict:
    details = event.details if isinstance(event.details, dict) else {}
    # Read only, never saved (the log is append-only): the summary is worded without them too.
    event.details = {k: v for k, v in details.items() if k not in HIDDEN_DETAILS}
    row = EventRow.of(event)
    return {
        "id": event.pk, "created_at": event.created_at, "action": event.action, "label": row.label, "actor": row.actor,
        "account": event.account_id, "summary": row.summary, "details": event.details,
    }


def _filters(request: HttpRequest, account: str, outcome: str, since: str, until: str) -> Any:
    accounts = list(CloudAccount.objects.filter(tenant=principal_of(request).tenant).order_by("name", "account_id"))
    form = ActivityFilterForm({"account": account, "outcome": outcome, "since": since, "until": until}, accounts=accounts)
    checked(form)
    return form.filters()


ACCOUNT = Query("", description="An account's id: only its records.")
OUTCOME = Query("", description="A finished run's status: succeeded | partial | failed | interrupted.")
SINCE = Query("", description="First day (YYYY-MM-DD, UTC), inclusive.")
UNTIL = Query("", description="Last day (YYYY-MM-DD, UTC), inclusive.")


@router.get("/runs", response={200: Page[RunOut], **ERRORS}, summary="Parking runs, newest first")
def list_runs(request: HttpRequest, account: str = ACCOUNT, outcome: str = OUTCOME, since: str = SINCE, until: str = UNTIL,
              page: int = Query(1, ge=1, le=MAX_PAGE), per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)) -> dict:
    runs = activity_runs(tenant=principal_of(request).tenant, filters=_filters(request, account, outcome, since, until))
    return paginate(runs, page=page, per_page=per_page, convert=lambda chunk: [run_json(r) for r in chunk])


@router.get("/runs/{run_pk}", response={200: RunDetailOut, **ERRORS}, summary="A parking run and its actions")
def read_run(request: HttpRequest, run_pk: int = Path(..., **ID)) -> dict:
    run = get_object_or_404(ParkingRun.objects.filter(account__tenant=principal_of(request).tenant).select_related("account"),
                            pk=run_pk)
    actions = run.actions.select_related("resource").order_by("created_at", "pk")[:1000]
    return run_json(run) | {"actions": [action_json(a) for a in actions]}


@router.get("/actions", response={200: Page[ActionOut], **ERRORS}, summary="Parking actions, newest first")
def list_actions(request: HttpRequest, account: str = ACCOUNT, outcome: str = OUTCOME, since: str = SINCE,
                 until: str = UNTIL, page: int = Query(1, ge=1, le=MAX_PAGE),
                 per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)) -> dict:
    actions = activity_actions(tenant=principal_of(request).tenant, filters=_filters(request, account, outcome, since, until))
    return paginate(actions, page=page, per_page=per_page, convert=lambda chunk: [action_json(a) for a in chunk])


@router.get("/audit-events", response={200: Page[EventOut], **ERRORS}, summary="The audit log, newest first")
def list_events(request: HttpRequest, account: str = ACCOUNT, since: str = SINCE, until: str = UNTIL,
                page: int = Query(1, ge=1, le=MAX_PAGE), per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)) -> dict:
    events = activity_events(tenant=principal_of(request).tenant, filters=_filters(request, account, "", since, until))
    return paginate(events, page=page, per_page=per_page, convert=lambda chunk: [event_json(e) for e in chunk])


@router.get("/savings", response={200: SavingsOut, **ERRORS}, summary="What parking saved in a month")
def savings(request: HttpRequest, month: str = Query("", description="YYYY-MM (default: this month, in your zone).")) -> dict:
    chosen = None
    if month:
        try:
            chosen = parse_month(month)
        except ValueError as exc:
            raise ApiError(422, str(exc), fields={"month": [str(exc)]}) from None
    report = savings_report(tenant=principal_of(request).tenant, month=chosen)

    def amount(value: Any) -> float | None:
        return None if value is None else float(money(value))

    return {
        "month": report.month_label, "currency": report.currency, "saved": amount(report.saved),
        "projected": amount(report.projected), "to_gain": amount(report.to_gain),
        "unscheduled_running": report.unscheduled_running,
        "by_account": {k: amount(v) for k, v in report.by_account.items()},
        "by_schedule": {k: amount(v) for k, v in report.by_schedule.items()},
        "daily": [{"day": bar.day, "saved": amount(bar.saved)} for bar in report.daily],
        "resources": [
            {"resource": r.resource.pk, "resource_id": r.resource.resource_id, "name": r.resource.name,
             "kind": r.resource.kind, "account": r.resource.account_id,
             "hours_parked": float(round(r.hours_parked, 2)), "hourly_price": None if r.hourly_price is None else float(r.hourly_price),
             "saved": amount(r.saved)}
            for r in report.resources
        ],
    }
