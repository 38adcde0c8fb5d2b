"""Savings as people read them: amounts in dollars, "price unknown" (never $0),
and the daily chart as server-rendered SVG (no script, no inline style: the
Content-Security-Policy allows neither; colours come from classes in parkway.css)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.urls import reverse

from scheduling.savings import DayBar, fleet_savings

register = template.Library()

UNKNOWN = "price unknown"
# The chart's own coordinates; the SVG scales to its container (viewBox, width 100%).
WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 600, 200, 14, 22, 4


@register.filter
def usd(value: Decimal | None) -> str:
    """"$1,234.56"; "price unknown" for None."""
    if value is None:
        return UNKNOWN
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${amount:,.2f}"


@register.filter
def hourly(value: Decimal | None) -> str:
    if value is None:
        return UNKNOWN
    return f"${Decimal(value).quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):,.4f}/h"


@register.filter
def hours(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,.1f} h"


@register.inclusion_tag("selfservice/_savings_chart.html")
def savings_chart(daily: list[DayBar]) -> dict[str, Any]:
    """Bars of what each day saved, the tallest filling the chart."""
    top = max((bar.saved for bar in daily), default=Decimal(0))
    slot = (WIDTH - LEFT) / max(len(daily), 1)
    usable = HEIGHT - TOP - BOTTOM
    bars = []
    for index, bar in enumerate(daily):
        height = float(bar.saved / top) * usable if top > 0 else 0.0
        bars.append({
            "x": round(LEFT + index * slot + slot * 0.15, 2), "width": round(slot * 0.7, 2),
            "y": round(TOP + usable - height, 2), "height": round(height, 2),
            "label": f"{bar.day:%a %d %b}: {usd(bar.saved)}", "day": bar.day,
            "tick": index % 7 == 0 or index == len(daily) - 1, "text_x": round(LEFT + index * slot + slot / 2, 2),
        })
    return {"bars": bars, "width": WIDTH, "height": HEIGHT, "baseline": HEIGHT - BOTTOM, "top_label": usd(top),
            "label_y": HEIGHT - 6, "first": daily[0].day if daily else None, "last": daily[-1].day if daily else None}


@register.inclusion_tag("admin/scheduling/savings_panel.html", takes_context=True)
def savings_panel(context: dict[str, Any]) -> dict[str, Any]:
    """Saved this month across every tenant, and the tenants with the most to gain."""
    if not context["request"].user.has_perm("tenants.view_tenant"):
        return {"visible": False}
    fleet = fleet_savings()
    return {
        "visible": True, "fleet": fleet,
        "rows": [{"report": r, "url": reverse("admin:tenants_tenant_change", args=[r.tenant.pk])} for r in fleet.most_to_gain],
    }
