"""The self-service activity page (/app/activity/): parking runs, actions and the audit log.

Same rules as scheduling.views: the person's current tenant scopes every query,
and the page makes a fixed number of queries whatever the number of rows. The
lists are narrowed by account, run outcome and a range of days (GET filters,
scheduling.forms.ActivityFilterForm; the reads are in scheduling.activity).
"""

from __future__ import annotations


from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from scheduling.activity import ActivityFilters, EventRow, activity_actions, activity_events, activity_runs
from scheduling.forms import ActivityFilterForm
from scheduling.models import ParkingAction, ParkingRun
from scheduling.views import page_of
from tenants.models import AuditEvent, CloudAccount
from tenants.decorators import tenant_member_required

ACTIVITY_PER_PAGE = 25

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
