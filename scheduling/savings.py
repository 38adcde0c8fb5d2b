"""What parking saved, from what really happened: a selector.

Every parked interval in the parking history — from a successful stop
(`ParkingAction` stop/succeeded) to the next successful start of the same
resource, or to now (or to when the machine disappeared) — costs nothing, so
it saves hours × hourly price × the tenant's price factor. Intervals are split
at midnight in the tenant's zone, so days (and months) are the customer's own,
23- and 25-hour days of a DST change included.

"Projected this month" adds to what was saved the hours the current schedules
still want each machine stopped before the month ends (the periods engine's
`desired_state`/`next_change`), at today's prices: a projection, labelled so.

Queries are bounded whatever the history's length: the resources (with
whether each was parked when the window opens, as a subquery), the window's
successful stops and starts, and the schedules with their periods.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from scheduling import kinds, planner
from scheduling.models import ParkingAction, Resource, Schedule
from scheduling.periods import ScheduleError
from scheduling.periods.engine import cached_compile
from scheduling.prices import CURRENCY, PriceTable, price_table
from scheduling.resolver import ScheduleBook, usable_schedules
from tenants.models import Tenant

CHART_DAYS = 30
HOURS_PER_MONTH = Decimal(730)  # AWS's own convention for a month of on-demand
CENT = Decimal("0.01")
_SUCCEEDED = ParkingAction.Outcome.SUCCEEDED
_STOP, _START = ParkingAction.Action.STOP, ParkingAction.Action.START


def money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_month(text: str) -> dt.date:
    """"2025-03" → 2025-03-01; ValueError for anything else."""
    parts = text.strip().split("-") if isinstance(text, str) else []
    if len(parts) != 2 or len(parts[0]) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2025-03.")
    year, month = int(parts[0]), int(parts[1])
    if not 1 <= month <= 12 or year < 2000:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2025-03.")
    return dt.date(year, month, 1)


def _next_month(first: dt.date) -> dt.date:
    return dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    # Through UTC, like the periods engine: a wall time is the instant it names.
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


# --- prices of resources ---------------------------------------------------------------


@dataclass(frozen=True)
class _Inventory:
    """The facts a group's or cluster's price needs from other resources."""

    cluster_members: dict[tuple[int, str, str], list[Resource]]
    group_types: dict[tuple[int, str, str], str]

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> _Inventory:
        members: dict[tuple[int, str, str], list[Resource]] = defaultdict(list)
        group_types: dict[tuple[int, str, str], tuple[bool, dt.datetime, str]] = {}
        for r in resources:
            cluster = (r.details or {}).get("cluster") if r.kind == kinds.RDS_INSTANCE else None
            if cluster and r.gone_at is None:
                members[(r.account_id, r.region, cluster)].append(r)
            if r.kind == kinds.EC2 and r.asg_name and r.instance_type:
                key = (r.account_id, r.region, r.asg_name)
                rank = (r.gone_at is None, r.last_seen_at, r.instance_type)
                if key not in group_types or rank > group_types[key]:
                    group_types[key] = rank
        return cls(cluster_members=dict(members), group_types={k: v[2] for k, v in group_types.items()})


def list_price(resource: Resource, *, table: PriceTable, inventory: _Inventory) -> Decimal | None:
    """One hour of `resource` at on-demand list price, or None when unknown:
    a cluster costs its member instances; a group its instances (stored
    desired size × its instances' type)."""
    account = resource.account
    if resource.kind in (kinds.EC2, kinds.RDS_INSTANCE):
        return table.hourly(partition=account.partition, region=resource.region, kind=resource.kind,
                            instance_type=resource.instance_type, engine=resource.engine)
    if resource.kind == kinds.RDS_CLUSTER:
        members = inventory.cluster_members.get((resource.account_id, resource.region, resource.resource_id), [])
        prices = [table.hourly(partition=account.partition, region=m.region, kind=kinds.RDS_INSTANCE,
                               instance_type=m.instance_type, engine=m.engine or resource.engine) for m in members]
        if not prices or any(p is None for p in prices):
            return None
        return sum(prices, Decimal(0))
    if resource.kind == kinds.ASG:
        count = (resource.saved_sizes or {}).get("desired") or resource.desired_size
        instance_type = resource.instance_type or inventory.group_types.get(
            (resource.account_id, resource.region, resource.resource_id), "")
        price = table.hourly(partition=account.partition, region=resource.region, kind=kinds.EC2, instance_type=instance_type)
        if not count or price is None:
            return None
        return price * count
    return None


# --- parked intervals --------------------------------------------------------------------


def _parked_intervals(
    resources: Sequence[Resource], *, start: dt.datetime, now: dt.datetime
) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """Each resource's parked intervals within [start, now]: one query for the window's actions
    (whether each was parked at `start` is annotated on the resources, `parked_before`)."""
    by_pk = {r.pk: r for r in resources}
    open_at: dict[int, dt.datetime] = {r.pk: start for r in resources if r.parked_before == _STOP}
    intervals: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    rows = (
        ParkingAction.objects.filter(resource__in=list(by_pk), outcome=_SUCCEEDED, action__in=[_STOP, _START])
        .annotate(at=Coalesce("settled_at", "created_at"))
        .filter(at__gte=start, at__lte=now)
        .order_by("resource_id", "at", "pk")
        .values_list("resource_id", "action", "at")
    ) if by_pk else []
    for resource_pk, action, at in rows:
        if action == _STOP:
            open_at.setdefault(resource_pk, at)  # a repeated stop keeps the first
        elif resource_pk in open_at:
            began = open_at.pop(resource_pk)
            if at > began:
                intervals[resource_pk].append((began, at))
    for resource_pk, began in open_at.items():
        gone = by_pk[resource_pk].gone_at
        end = min(now, gone) if gone is not None else now  # a machine that is gone costs nothing anyway
        if end > began:
            intervals[resource_pk].append((began, end))
    return intervals


def _seconds_by_day(intervals: Iterable[tuple[dt.datetime, dt.datetime]], zone: ZoneInfo) -> dict[dt.date, int]:
    days: dict[dt.date, int] = defaultdict(int)
    for began, ended in intervals:
        cursor = began
        while cursor < ended:
            day = cursor.astimezone(zone).date()
            boundary = min(_local_midnight(day + dt.timedelta(days=1), zone), ended)
            days[day] += int((boundary - cursor).total_seconds())
            cursor = boundary
    return days


def _stopped_seconds(schedule: Schedule, *, start: dt.datetime, end: dt.datetime) -> int:
    """How long `schedule` wants its machines stopped between start and end (0 when invalid)."""
    try:
        program = cached_compile(schedule.to_spec())
    except ScheduleError:
        return 0
    total, cursor, state = 0, start, program.desired_state(start)
    while cursor < end:
        change = program.next_change(cursor, horizon_days=40)
        until = min(change[0], end) if change else end
        if state == planner.STOPPED:
            total += int((until - cursor).total_seconds())
        if change is None:
            break
        cursor, state = change
    return total


# --- the report ----------------------------------------------------------------------------


@dataclass
class ResourceSavings:
    resource: Resource
    list_price: Decimal | None  # per hour, on-demand
    hourly_price: Decimal | None  # per hour, what this tenant pays (× price factor)
    seconds_by_day: dict[dt.date, int]
    month_seconds: int = 0
    projected_seconds: int = 0  # still to be parked this month under its schedule
    schedule: Schedule | None = None

    @property
    def hours_parked(self) -> Decimal:
        return Decimal(self.month_seconds) / 3600

    @property
    def projected_hours(self) -> Decimal:
        return Decimal(self.projected_seconds) / 3600

    @property
    def saved(self) -> Decimal | None:
        return None if self.hourly_price is None else self.hours_parked * self.hourly_price

    @property
    def price_known(self) -> bool:
        return self.hourly_price is not None

    def as_json(self) -> dict[str, object]:
        return {
            "resource_id": self.resource.resource_id,
            "kind": self.resource.kind,
            "hours_parked": float(self.hours_parked.quantize(CENT, rounding=ROUND_HALF_UP)),
            "hourly_price": None if self.hourly_price is None else float(self.hourly_price),
            "saved": None if self.saved is None else float(money(self.saved)),
        }


@dataclass
class DayBar:
    day: dt.date
    saved: Decimal


@dataclass
class SavingsReport:
    tenant: Tenant
    month: dt.date  # its first day
    resources: list[ResourceSavings]  # parked this month, most saved first; unknown prices last
    daily: list[DayBar]  # the last CHART_DAYS days (tenant's zone), oldest first
    saved: Decimal
    projected: Decimal
    is_current: bool
    to_gain: Decimal = Decimal(0)  # a month of its priced machines running 24×7 with no schedule
    unscheduled_running: int = 0
    currency: str = CURRENCY
    by_account: dict[str, Decimal] = field(default_factory=dict)
    by_schedule: dict[str, Decimal] = field(default_factory=dict)
    every: dict[int, ResourceSavings] = field(default_factory=dict)  # every resource by pk, parked or not

    @property
    def month_label(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def unknown(self) -> list[ResourceSavings]:
        return [r for r in self.resources if not r.price_known]

    @property
    def top(self) -> list[ResourceSavings]:
        return [r for r in self.resources if r.price_known and r.saved][:10]

    def for_resource(self, resource_pk: int) -> ResourceSavings | None:
        return next((r for r in self.resources if r.resource.pk == resource_pk), None)

    def as_json(self) -> dict[str, object]:
        return {
            "tenant": self.tenant.slug,
            "month": self.month_label,
            "currency": self.currency,
            "saved": float(money(self.saved)),
            "projected": float(money(self.projected)),
            "resources": [r.as_json() for r in self.resources],
        }


def savings_reports(
    *, tenants: Sequence[Tenant], month: dt.date | None = None, now: dt.datetime | None = None
) -> dict[int, SavingsReport]:
    """Each tenant's savings in `month` (default: its current month, in its zone), keyed by tenant pk.
    Five queries whatever the number of tenants, resources and actions."""
    now = now or timezone.now()
    if not tenants:
        return {}
    table = price_table()
    windows = {}
    for tenant in tenants:
        zone = ZoneInfo(tenant.timezone or "UTC")
        today = now.astimezone(zone).date()
        first = month or today.replace(day=1)
        chart_first = today - dt.timedelta(days=CHART_DAYS - 1)
        windows[tenant.pk] = (zone, today, first, chart_first)
    start = min(_local_midnight(min(first, chart_first), zone) for zone, _, first, chart_first in windows.values())
    last_before = (
        ParkingAction.objects.filter(resource=OuterRef("pk"), outcome=_SUCCEEDED, action__in=[_STOP, _START])
        .annotate(at=Coalesce("settled_at", "created_at")).filter(at__lt=start).order_by("-at", "-pk").values("action")[:1]
    )
    resources = list(
        Resource.objects.filter(account__tenant__in=[t.pk for t in tenants]).select_related("account")
        .annotate(parked_before=Subquery(last_before))
    )
    inventory = _Inventory.of(resources)
    intervals = _parked_intervals(resources, start=start, now=now)
    schedules = usable_schedules(t.pk for t in tenants)
    books = {t.pk: ScheduleBook.from_rows(schedules, tenant_id=t.pk) for t in tenants}
    by_tenant: dict[int, list[Resource]] = defaultdict(list)
    for r in resources:
        by_tenant[r.account.tenant_id].append(r)
    reports = {}
    for tenant in tenants:
        zone, today, first, chart_first = windows[tenant.pk]
        reports[tenant.pk] = _report(
            tenant, by_tenant.get(tenant.pk, []), zone=zone, today=today, first=first, chart_first=chart_first,
            now=now, table=table, inventory=inventory, intervals=intervals, book=books[tenant.pk],
        )
    return reports


def savings_report(*, tenant: Tenant, month: dt.date | None = None, now: dt.datetime | None = None) -> SavingsReport:
    return savings_reports(tenants=[tenant], month=month, now=now)[tenant.pk]


def _report(
    tenant: Tenant, resources: list[Resource], *, zone: ZoneInfo, today: dt.date, first: dt.date, chart_first: dt.date,
    now: dt.datetime, table: PriceTable, inventory: _Inventory,
    intervals: dict[int, list[tuple[dt.datetime, dt.datetime]]], book: ScheduleBook,
) -> SavingsReport:
    factor = Decimal(tenant.price_factor)
    after = _next_month(first)
    is_current = first <= today < after
    month_end = _local_midnight(after, zone)
    remaining: dict[int, int] = {}
    rows: list[ResourceSavings] = []
    daily: dict[dt.date, Decimal] = defaultdict(Decimal)
    to_gain, unscheduled_running = Decimal(0), 0
    every: dict[int, ResourceSavings] = {}
    for resource in resources:
        price = list_price(resource, table=table, inventory=inventory)
        hourly = None if price is None else price * factor
        days = _seconds_by_day(intervals.get(resource.pk, []), zone)
        item = ResourceSavings(resource=resource, list_price=price, hourly_price=hourly, seconds_by_day=days,
                               schedule=book.schedule_of(resource))
        every[resource.pk] = item
        item.month_seconds = sum(s for day, s in days.items() if first <= day < after)
        parkable = (resource.gone_at is None and not resource.refusal and resource.state not in planner.NEVER_ACT
                    and not (resource.kind == kinds.EC2 and resource.asg_name))
        if is_current and parkable and item.schedule is not None:
            if item.schedule.pk not in remaining:
                remaining[item.schedule.pk] = _stopped_seconds(item.schedule, start=now, end=month_end)
            item.projected_seconds = remaining[item.schedule.pk]
        if parkable and item.schedule is None and resource.state in planner.RUNNING_STATES and hourly is not None:
            unscheduled_running += 1
            to_gain += hourly * HOURS_PER_MONTH
        if hourly is not None:
            for day, seconds in days.items():
                if chart_first <= day <= today:
                    daily[day] += Decimal(seconds) / 3600 * hourly
        if item.month_seconds or item.projected_seconds:
            rows.append(item)
    rows.sort(key=lambda r: (r.saved is None, -(r.saved or 0), -r.month_seconds, r.resource.resource_id))
    saved = sum((r.saved for r in rows if r.saved is not None), Decimal(0))
    projected = saved + sum(
        (Decimal(r.projected_seconds) / 3600 * r.hourly_price for r in rows if r.hourly_price is not None), Decimal(0)
    )
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    by_schedule: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r.saved is not None:
            by_account[r.resource.account.account_id] += r.saved
            by_schedule[r.schedule.name if r.schedule else "(no schedule now)"] += r.saved
    return SavingsReport(
        tenant=tenant, month=first, resources=rows,
        daily=[DayBar(day=chart_first + dt.timedelta(days=n), saved=daily.get(chart_first + dt.timedelta(days=n), Decimal(0)))
               for n in range((today - chart_first).days + 1)],
        saved=saved, projected=projected, is_current=is_current, to_gain=to_gain,
        unscheduled_running=unscheduled_running, by_account=dict(by_account), by_schedule=dict(by_schedule),
        every=every,
    )


def resource_savings(*, resource: Resource, now: dt.datetime | None = None) -> ResourceSavings:
    """One machine's savings this month (its tenant's report: the same figures as the overview)."""
    return savings_report(tenant=resource.account.tenant, now=now).every[resource.pk]


@dataclass(frozen=True)
class FleetSavings:
    """Across every tenant, for staff: saved and projected this month, and who has the most to gain."""

    saved: Decimal
    projected: Decimal
    most_to_gain: list[SavingsReport]


def fleet_savings(*, now: dt.datetime | None = None, limit: int = 10) -> FleetSavings:
    reports = list(savings_reports(tenants=list(Tenant.objects.all()), now=now).values())
    gain = sorted((r for r in reports if r.to_gain > 0), key=lambda r: (-r.to_gain, r.tenant.name))[:limit]
    return FleetSavings(
        saved=sum((r.saved for r in reports), Decimal(0)),
        projected=sum((r.projected for r in reports), Decimal(0)),
        most_to_gain=gain,
    )
