"""What parking saved a tenant in a month: the figures of its overview page."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scheduling.management import tenant_for_slug
from scheduling.savings import money, parse_month, savings_report


class Command(BaseCommand):
    help = "Print what parking saved a tenant in a month (hours parked × on-demand price × its price factor)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--month", help="YYYY-MM (default: this month in the tenant's time zone).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["tenant"]:
            raise CommandError("Give --tenant SLUG.")
        tenant = tenant_for_slug(options["tenant"])
        try:
            month = parse_month(options["month"]) if options["month"] is not None else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report = savings_report(tenant=tenant, month=month)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
            return
        lines = [
            f"{tenant.name} ({tenant.slug}), {report.month_label}, {report.currency}",
            f"saved: {money(report.saved)}",
            f"projected for the month at the current schedules: {money(report.projected)}"
            + ("" if report.is_current else " (the month is not the current one: nothing left to project)"),
        ]
        for row in report.resources:
            price = "price unknown" if row.hourly_price is None else f"{row.hourly_price:.4f}/h"
            saved = "unknown" if row.saved is None else f"{money(row.saved)}"
            lines.append(f"  {row.resource.resource_id} ({row.resource.kind}): {row.hours_parked:.2f} h × {price} = {saved}")
        if not report.resources:
            lines.append("  nothing parked this month")
        self.stdout.write("\n".join(lines))
