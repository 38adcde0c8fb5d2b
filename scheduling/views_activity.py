"""The self-service activity page (/app/activity/): parking runs, actions and the audit log.

Same rules as scheduling.views: the person's current tenant scopes every query,
and the page makes a fixed number of queries whatever the number of rows. The
lists are narrowed by account, run outcome and a range of days (GET filters,
scheduling.forms.ActivityFilterForm; the reads are in scheduling.activity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from scheduling.activity import ActivityFilters, activity_actions, activity_events, activity_runs
from scheduling.forms import ActivityFilterForm
from scheduling.models import ParkingAction, ParkingRun
from scheduling.views import page_of
from tenants.models import AuditEvent, CloudAccount
from tenants.decorators import tenant_member_required

ACTIVITY_PER_PAGE = 25

ACTION_LABELS = {
    "account.connected_role": "Account connected by IAM role",
    "account.connected_legacy_keys": "Account connected with IAM user keys",
    "account.updated": "Account settings changed",
    "account.migrated_to_role": "Account switched to an IAM role",
    "account.migration_failed": "Switch to an IAM role failed",
    "credential.verified": "Connection tested: working",
    "credential.verify_failed": "Connection test failed",
    "resource.snoozed": "Machine snoozed",
    "resource.snooze_cleared": "Snooze cancelled",
    "resource.schedule_assigned": "Schedule assigned",
    "resource.stop_now": "Machines stopped by hand",
    "resource.start_now": "Machines started by hand",
    "schedule.created": "Schedule created",
    "schedule.updated": "Schedule changed",
    "schedule.deleted": "Schedule deleted",
    "tenant.external_id_rotated": "External ID changed",
    "tenant.migration_instructions_sent": "Migration instructions emailed",
}
MACHINE_ACTORS = {"system": "Parkway", "cli": "Parkway operations"}


def _text(value: Any) -> str:
    if isinstance(value, dict) and set(value) >= {"before", "after"}:
        return f"{_text(value['before'])} → {_text(value['after'])}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


@dataclass(frozen=True)
class EventRow:
    event: AuditEvent
    label: str
    actor: str
    summary: str

    @classmethod
    def of(cls, event: AuditEvent) -> EventRow:
        details = event.details or {}
        if details.get("message"):
            summary = str(details["message"])
        else:
            skip = {"checks", "schedule_id", "credential_id"}
            summary = "; ".join(
                f"{key.replace('_', ' ')}: {_text(value)}"
                for key, value in details.items()
                if key not in skip and not (isinstance(value, dict) and not {"before", "after"} <= set(value))
            )
        if event.actor is not None and event.actor.is_staff:
            actor = "Parkway support"
        else:
            actor = MACHINE_ACTORS.get(event.actor_label, event.actor_label)
        return cls(event=event, label=ACTION_LABELS.get(event.action, event.action), actor=actor, summary=summary[:400])


def query_without(request: HttpRequest, param: str) -> str:
    """The page's query string minus `param`: a list's page links keep the filters and the other lists' pages."""
    query = request.GET.copy()
    query.pop(param, None)
    return query.urlencode()


@tenant_member_required
def activity(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    accounts = list(CloudAccount.objects.filter(tenant=tenant).order_by("name", "account_id"))
    form = ActivityFilterForm(request.GET, accounts=accounts)
    if form.is_valid():
        filters = form.filters()
        runs = activity_runs(tenant=tenant, filters=filters)
        actions = activity_actions(tenant=tenant, filters=filters)
        events = activity_events(tenant=tenant, filters=filters)
    else:
        # A refused filter shows its error and no rows, never the unfiltered lists.
        filters = ActivityFilters()
        runs, actions, events = ParkingRun.objects.none(), ParkingAction.objects.none(), AuditEvent.objects.none()
    event_page = page_of(events, request, per_page=ACTIVITY_PER_PAGE, param="events_page")
    return render(
        request,
        "selfservice/activity.html",
        {
            "form": form,
            "narrowed": filters.narrowed or not form.is_valid(),
            "outcome_filtered": bool(filters.outcome),
            "runs": page_of(runs, request, per_page=ACTIVITY_PER_PAGE, param="runs_page"),
            "actions": page_of(actions, request, per_page=ACTIVITY_PER_PAGE, param="actions_page"),
            "events": event_page,
            "event_rows": [EventRow.of(e) for e in event_page.object_list],
            "queries": {param: query_without(request, param) for param in ("runs_page", "actions_page", "events_page")},
        },
    )
