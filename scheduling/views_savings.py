"""Self-service savings export (/app/savings.csv): the overview's savings table, for any member."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from scheduling.savings import money, parse_month, savings_report
from tenants.decorators import tenant_member_required

UNKNOWN = "unknown"


@tenant_member_required
@require_safe
def savings_csv(request: HttpRequest) -> HttpResponse:
    month = None
    if request.GET.get("month"):
        try:
            month = parse_month(request.GET["month"])
        except ValueError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    report = savings_report(tenant=request.tenant, month=month)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="parkway-savings-{report.tenant.slug}-{report.month_label}.csv"'
    out = csv.writer(response)
    out.writerow(["month", "resource_id", "name", "kind", "account", "region", "schedule", "hours_parked",
                  "hourly_price_usd", "saved_usd"])
    for row in report.resources:
        r = row.resource
        out.writerow([
            report.month_label, r.resource_id, _cell(r.name), r.kind, r.account.account_id, r.region,
            _cell(row.schedule.name if row.schedule else ""), f"{row.hours_parked:.2f}",
            UNKNOWN if row.hourly_price is None else f"{row.hourly_price:.4f}",
            UNKNOWN if row.saved is None else f"{money(row.saved)}",
        ])
    out.writerow([report.month_label, "TOTAL", "", "", "", "", "", "", "", f"{money(report.saved)}"])
    return response


def _cell(text: str) -> str:
    """A customer's tag value never becomes a spreadsheet formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
