"""Savings from the parking history: hours parked × on-demand price × the tenant's factor."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import ParkingAction, ParkingRun, Period, Resource, Schedule
from scheduling.savings import savings_report
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.selfservice.conftest import make_account

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# The clock the pages and the command read: the last day of March 2025 in Berlin.
NOW = dt.datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
T3_MICRO = Decimal("0.0104")  # us-east-1, the shipped table
PG_T3_MICRO = Decimal("0.018")  # db.t3.micro postgres, us-east-1


def resource(account, resource_id: str, *, kind: str = Resource.Kind.EC2_INSTANCE, instance_type: str = "t3.micro",
             **fields) -> Resource:
    at = dt.datetime(2025, 1, 1, tzinfo=UTC)
    return Resource.objects.create(
        account=account, region="us-east-1", kind=kind, resource_id=resource_id, instance_type=instance_type,
        state=fields.pop("state", "stopped"), first_seen_at=at, last_seen_at=at, **fields,
    )


def record(target: Resource, action: str, at: dt.datetime, outcome: str = "succeeded") -> None:
    """A parking action as the tick records it, at a hidden clock's `at`."""
    with time_machine.travel(at, tick=False):
        run = ParkingRun.objects.create(account=target.account, tick_at=at, started_at=at, finished_at=at, status="succeeded")
        ParkingAction.objects.create(
            run=run, resource=target, action=action, reason="schedule", outcome=outcome,
            settled_at=at if outcome != "pending" else None,
        )


def berlin(*args: int) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


@pytest.fixture
def world(acme, globex):
    acme.timezone = "Europe/Berlin"
    acme.save()
    account = make_account(acme, ACME_ACCOUNT)
    web = resource(account, "i-web")
    # Stopped on the last evening of February, started on Monday 3 March: only March's part counts in March.
    record(web, "stop", berlin(2025, 2, 28, 20))
    record(web, "start", berlin(2025, 3, 3, 8))
    # Across the spring-forward night (30 March in Berlin has 23 hours).
    record(web, "stop", berlin(2025, 3, 29, 20))
    record(web, "start", berlin(2025, 3, 31, 8))
    # A failed stop and a pending one park nothing.
    record(web, "stop", berlin(2025, 3, 10, 20), outcome="failed")
    record(web, "stop", berlin(2025, 3, 11, 20), outcome="pending")
    odd = resource(account, "i-odd", instance_type="x9.weird")
    record(odd, "stop", berlin(2025, 3, 5, 20))
    record(odd, "start", berlin(2025, 3, 6, 8))
    db = resource(account, "orders", kind=Resource.Kind.RDS_INSTANCE, instance_type="db.t3.micro", engine="postgres")
    record(db, "stop", NOW - dt.timedelta(hours=2))  # still parked now
    # Another tenant's parking never counts for acme.
    other = resource(make_account(globex, GLOBEX_ACCOUNT), "i-globex")
    record(other, "stop", berlin(2025, 3, 2, 20))
    return {"account": account, "web": web, "odd": odd, "db": db, "acme": acme}


def test_hours_across_a_month_boundary_and_a_dst_change_times_the_price(world):
    with time_machine.travel(NOW, tick=False):
        report = savings_report(tenant=world["acme"])
    rows = {r.resource.resource_id: r for r in report.resources}
    web = rows["i-web"]
    # 1 March 00:00 CET → 3 March 08:00 CET = 56 h; 29 March 20:00 CET → 31 March 08:00 CEST = 35 h.
    assert web.hours_parked == Decimal(91)
    assert web.seconds_by_day[dt.date(2025, 3, 30)] == 23 * 3600
    assert web.saved == 91 * T3_MICRO
    assert rows["orders"].hours_parked == Decimal(2)
    assert rows["orders"].saved == 2 * PG_T3_MICRO
    assert rows["i-odd"].hourly_price is None and rows["i-odd"].saved is None
    assert rows["i-odd"].hours_parked == Decimal(12)
    assert "i-globex" not in rows
    assert report.saved == 91 * T3_MICRO + 2 * PG_T3_MICRO
    by_day = {bar.day: bar.saved for bar in report.daily}
    assert len(report.daily) == 30 and report.daily[-1].day == dt.date(2025, 3, 31)
    assert by_day[dt.date(2025, 3, 30)] == 23 * T3_MICRO
    assert by_day[dt.date(2025, 3, 31)] == 8 * T3_MICRO + 2 * PG_T3_MICRO


def test_february_alone_counts_its_own_hours(world):
    with time_machine.travel(NOW, tick=False):
        report = savings_report(tenant=world["acme"], month=dt.date(2025, 2, 1))
    assert [(r.resource.resource_id, r.hours_parked) for r in report.resources] == [("i-web", Decimal(4))]
    assert report.projected == report.saved == 4 * T3_MICRO


def test_the_tenant_price_factor_scales_what_was_saved(world):
    acme = world["acme"]
    acme.price_factor = Decimal("0.700")
    acme.save()
    with time_machine.travel(NOW, tick=False):
        report = savings_report(tenant=acme)
    web = next(r for r in report.resources if r.resource.resource_id == "i-web")
    assert web.hourly_price == T3_MICRO * Decimal("0.7")
    assert web.saved == 91 * T3_MICRO * Decimal("0.7")


def test_the_projection_adds_the_hours_the_schedule_still_parks(world):
    schedule = Schedule.objects.create(tenant=world["acme"], name="office", timezone="Europe/Berlin")
    Period.objects.create(schedule=schedule, begintime=dt.time(9), endtime=dt.time(17), weekdays="mon-fri")
    Resource.objects.filter(pk=world["web"].pk).update(schedule=schedule, state="running")
    with time_machine.travel(NOW, tick=False):  # Monday 31 March, 14:00 CEST: stopped from 17:00 to midnight
        report = savings_report(tenant=world["acme"])
    web = next(r for r in report.resources if r.resource.resource_id == "i-web")
    assert web.projected_seconds == 7 * 3600
    assert report.projected == report.saved + 7 * T3_MICRO


def test_a_cluster_costs_its_members_and_a_group_its_stored_size(acme):
    account = make_account(acme, ACME_ACCOUNT)
    cluster = resource(account, "shop", kind=Resource.Kind.RDS_CLUSTER, instance_type="", engine="aurora-postgresql")
    for name in ("shop-1", "shop-2"):
        resource(account, name, kind=Resource.Kind.RDS_INSTANCE, instance_type="db.r6g.large",
                 engine="aurora-postgresql", details={"cluster": "shop"})
    group = resource(account, "workers", kind=Resource.Kind.AUTOSCALING_GROUP, instance_type="",
                     desired_size=0, saved_sizes={"min": 1, "desired": 3, "max": 4})
    resource(account, "i-member", instance_type="m5.large", asg_name="workers", gone_at=NOW - dt.timedelta(days=1))
    lonely = resource(account, "empty", kind=Resource.Kind.RDS_CLUSTER, instance_type="", engine="aurora-mysql")
    for target in (cluster, group, lonely):
        record(target, "stop", NOW - dt.timedelta(hours=10))
    with time_machine.travel(NOW, tick=False):
        rows = {r.resource.resource_id: r for r in savings_report(tenant=acme).resources}
    assert rows["shop"].hourly_price == 2 * Decimal("0.26")
    assert rows["workers"].hourly_price == 3 * Decimal("0.096")
    assert rows["workers"].saved == 10 * 3 * Decimal("0.096")
    assert rows["empty"].hourly_price is None  # no member known: unknown, not zero


def test_the_overview_shows_saved_the_chart_and_unknown_prices(world, client, acme_member):
    client.force_login(acme_member)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/app/").content.decode()
    saved = 91 * T3_MICRO + 2 * PG_T3_MICRO
    assert f"${saved.quantize(Decimal('0.01'))}" in page
    assert 'data-testid="savings-chart"' in page and 'viewBox="0 0 600 200"' in page
    assert page.count('data-testid="savings-bar"') == 30
    assert "style=" not in page.split('data-testid="savings"')[1]
    assert "i-odd" in page and "price unknown" in page


def test_the_resource_page_shows_its_own_savings_or_unknown(world, client, acme_member):
    client.force_login(acme_member)
    with time_machine.travel(NOW, tick=False):
        web = client.get(f"/app/resources/{world['web'].pk}/").content.decode()
        odd = client.get(f"/app/resources/{world['odd'].pk}/").content.decode()
    assert f"${(91 * T3_MICRO).quantize(Decimal('0.01'))}" in web
    assert 'data-testid="resource-saved">price unknown<' in odd


def test_the_csv_is_the_tenants_table_with_unknown_prices_said(world, client, acme_member, globex_member):
    client.force_login(acme_member)
    with time_machine.travel(NOW, tick=False):
        response = client.get("/app/savings.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_id = {r["resource_id"]: r for r in rows}
    assert by_id["i-web"]["hours_parked"] == "91.00" and by_id["i-web"]["saved_usd"] == "0.95"
    assert by_id["i-odd"]["hourly_price_usd"] == "unknown" and by_id["i-odd"]["saved_usd"] == "unknown"
    assert "i-globex" not in by_id
    assert client.get("/app/savings.csv?month=2025-13").status_code == 400
    client.force_login(globex_member)
    with time_machine.travel(NOW, tick=False):
        theirs = client.get("/app/savings.csv").content.decode()
    assert "i-web" not in theirs and "i-globex" in theirs


def test_the_command_prints_the_json_keys_and_unknown_as_null(world):
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("savings", "--tenant", "acme", "--month", "2025-03", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) == {"tenant", "month", "currency", "saved", "projected", "resources"}
    assert (data["tenant"], data["month"], data["currency"]) == ("acme", "2025-03", "USD")
    assert data["saved"] == float((91 * T3_MICRO + 2 * PG_T3_MICRO).quantize(Decimal("0.01")))
    rows = {r["resource_id"]: r for r in data["resources"]}
    assert set(rows["i-web"]) == {"resource_id", "kind", "hours_parked", "hourly_price", "saved"}
    assert rows["i-web"] == {"resource_id": "i-web", "kind": "ec2_instance", "hours_parked": 91.0,
                             "hourly_price": 0.0104, "saved": 0.95}
    assert rows["i-odd"]["hourly_price"] is None and rows["i-odd"]["saved"] is None
    text = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("savings", "--tenant", "acme", stdout=text)
    assert "i-odd" in text.getvalue() and "price unknown" in text.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--tenant", "nobody"], "No tenant"),
    (["--tenant", "bad\x00slug"], "No tenant"),
    (["--tenant", "acme", "--month", "2025-13"], "YYYY-MM"),
    (["--tenant", "acme", "--month", "March"], "YYYY-MM"),
    (["--tenant", "acme", "--month", "1999-01"], "YYYY-MM"),
    (["--tenant", ""], "--tenant"),
])
def test_the_command_refuses_bad_arguments_clearly(acme, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("savings", *args)


def test_the_overview_costs_the_same_with_more_history(world, client, acme_member):
    client.force_login(acme_member)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured, time_machine.travel(NOW, tick=False):
            assert client.get("/app/").status_code == 200
        return len(captured)

    before = queries()
    for n in range(20):
        extra = resource(world["account"], f"i-more-{n}")
        for day in range(1, 10):
            record(extra, "stop", berlin(2025, 3, day, 20))
            record(extra, "start", berlin(2025, 3, day + 1, 8))
    assert queries() == before


def test_the_admin_index_totals_every_tenant_and_names_who_has_most_to_gain(world, staff_client, globex):
    globex_account = Resource.objects.get(resource_id="i-globex").account
    # Three m5.large running with no schedule at globex: a month of them is 3 × 730 h × $0.096.
    for n in range(3):
        resource(globex_account, f"i-idle-{n}", instance_type="m5.large", state="running")
    resource(world["account"], "i-unpriced-idle", instance_type="x9.weird", state="running")
    with time_machine.travel(NOW, tick=False):
        page = staff_client.get("/admin/").content.decode()
    panel = page.split('data-testid="savings-panel"')[1]
    # acme's March plus globex's open stop since 2 March 20:00 CET (= 19:00 UTC) on a t3.micro.
    globex_hours = Decimal((NOW - berlin(2025, 3, 2, 20)).total_seconds()) / 3600
    total = 91 * T3_MICRO + 2 * PG_T3_MICRO + globex_hours * T3_MICRO
    assert f"${total.quantize(Decimal('0.01'))}" in panel
    gain = panel.split('data-testid="most-to-gain"')[1]
    assert "Globex" in gain and f"${(3 * 730 * Decimal('0.096')).quantize(Decimal('0.01')):,}" in gain
    assert "Acme" not in gain  # its only idle machine has no known price


def test_staff_set_the_price_factor_on_the_tenant_page(acme, staff_client):
    page = staff_client.get(f"/admin/tenants/tenant/{acme.pk}/change/").content.decode()
    assert 'name="price_factor"' in page and 'value="1.000"' in page
