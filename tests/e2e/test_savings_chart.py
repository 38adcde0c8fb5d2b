"""The overview's savings chart: server-rendered SVG that fits a phone and a laptop, under the CSP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from scheduling.models import ParkingAction, ParkingRun, Resource
from tenants import services
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_savings_chart_renders_at_390_and_1280_px(page, customer):
    account = services.account_connect_role(tenant=customer, account_id="111111111111", regions=["us-east-1"], actor="cli")
    now = timezone.now()
    machine = Resource.objects.create(account=account, region="us-east-1", resource_id="i-0abc", instance_type="m5.large",
                                      state="running", first_seen_at=now, last_seen_at=now)
    run = ParkingRun.objects.create(account=account, tick_at=now, started_at=now, status="succeeded")
    for action, hours_ago in (("stop", 30), ("start", 6)):
        ParkingAction.objects.create(run=run, resource=machine, action=action, reason="schedule", outcome="succeeded",
                                     settled_at=now - dt.timedelta(hours=hours_ago))
    # The tenant's zone is UTC; near a month's start part of the interval is last month's.
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    parked = (now - dt.timedelta(hours=6)) - max(now - dt.timedelta(hours=30), month_start)
    expected = Decimal(max(parked.total_seconds(), 0)) / 3600 * Decimal("0.096")
    log_in(page)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/app/")
        chart = page.locator("[data-testid=savings-chart]")
        box = chart.bounding_box()
        assert box is not None and 0 < box["x"] and box["x"] + box["width"] <= width
        assert box["height"] > 60  # scaled with its width, still readable
        heights = page.eval_on_selector_all("[data-testid=savings-bar]", "bars => bars.map(b => b.getBoundingClientRect().height)")
        assert len(heights) == 30 and max(heights) > 20
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shown = page.locator("[data-testid=saved-this-month]").inner_text()
        assert f"${expected.quantize(Decimal('0.01'))}" in shown  # 24 h × $0.096 = $2.30 mid-month
