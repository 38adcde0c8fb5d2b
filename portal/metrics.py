"""/metrics: Prometheus text, read from the database at scrape time.

Every web process gives the same answer, whichever worker the scrape reaches,
because nothing is counted in memory: a collector turns rows (ParkingLease,
ParkingRun, ParkingAction) and the broker's queue into metric families when
asked. No multiprocess mode, no shared files.

Parking history is pruned (PARKWAY_HISTORY_DAYS), so counting all rows would
make "counters" that drop every night, which Prometheus reads as a reset and a
burst. Activity is therefore reported as gauges over a sliding window of
PARKWAY_METRICS_WINDOW_MINUTES ("runs in the last hour, by status"), and run
durations as a gauge histogram over the same window (histogram_quantile works
on its buckets as they are, without rate()).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections import Counter
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.utils import timezone
from django_q.brokers import get_broker
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portal.health import broker_close, queue_oldest_enqueued_at
from scheduling.models import ParkingAction, ParkingLease, ParkingRun
from tenants.models import CloudAccount

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the run-duration buckets: an idle account takes well
# under a second, a busy one a few AWS round trips, a throttled one minutes.
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
NEVER = "never"


def bearer_token_matches(*, authorization: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_render(*, accept: str = "", now: Callable[[], dt.datetime] = timezone.now) -> tuple[bytes, str]:
    """The exposition (Prometheus text, or OpenMetrics when the scraper asks for
    it in `accept`) and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ParkwayCollector(now=now))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class ParkwayCollector(Collector):
    def __init__(self, *, now: Callable[[], dt.datetime] = timezone.now) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now()
        window = dt.timedelta(minutes=settings.PARKWAY_METRICS_WINDOW_MINUTES)
        since = now - window
        yield GaugeMetricFamily(
            "parkway_metrics_window_seconds",
            "The window the parkway_parking_* and parkway_aws_* gauges count over.",
            value=window.total_seconds(),
        )
        yield from accounts_metrics()
        yield from runs_metrics(since=since)
        yield from actions_metrics(since=since)
        yield from queue_metrics(now=now)


def accounts_metrics() -> Iterator[Metric]:
    parkable = CloudAccount.objects.parkable()
    total = parkable.count()
    yield GaugeMetricFamily("parkway_accounts_parkable", "Accounts the tick parks.", value=total)

    by_status = GaugeMetricFamily(
        "parkway_accounts_last_tick",
        "Parkable accounts by the outcome of their last tick (never: not ticked yet).",
        labels=["status"],
    )
    leases = ParkingLease.objects.filter(account__in=parkable.values("pk"))
    counted = 0
    for row in leases.exclude(last_tick_at=None).values("last_status").annotate(n=Count("pk")).order_by("last_status"):
        by_status.add_metric([row["last_status"] or "unknown"], row["n"])
        counted += row["n"]
    by_status.add_metric([NEVER], total - counted)
    yield by_status

    ticks = ParkingLease.objects.aggregate(last=Max("last_tick_at"))
    laggard = leases.aggregate(least=Min("last_tick_at"))
    if ticks["last"] is not None:
        yield GaugeMetricFamily(
            "parkway_tick_last_finished_timestamp_seconds",
            "When an account's tick last finished (any account), Unix time.",
            value=ticks["last"].timestamp(),
        )
    if laggard["least"] is not None:
        yield GaugeMetricFamily(
            "parkway_tick_least_recent_account_timestamp_seconds",
            "The oldest 'last tick' among parkable accounts, Unix time: the account parking reached least recently.",
            value=laggard["least"].timestamp(),
        )


def runs_metrics(*, since: dt.datetime) -> Iterator[Metric]:
    # status__in on every status lets the (status, -started_at) index serve the range.
    recent = ParkingRun.objects.filter(status__in=ParkingRun.Status.values, started_at__gte=since)

    runs = GaugeMetricFamily(
        "parkway_parking_runs", "Parking runs started in the window, by status and trigger.", labels=["status", "trigger"]
    )
    for row in recent.values("status", "trigger").annotate(n=Count("pk")).order_by("status", "trigger"):
        runs.add_metric([row["status"], row["trigger"]], row["n"])
    yield runs

    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    finished = recent.exclude(finished_at=None).annotate(duration=duration)
    aggregates = {f"le_{i}": Count("pk", filter=Q(duration__lte=dt.timedelta(seconds=b))) for i, b in enumerate(DURATION_BUCKETS)}
    totals = finished.aggregate(count=Count("pk"), total=Sum("duration"), **aggregates)
    buckets = [(str(float(b)), totals[f"le_{i}"]) for i, b in enumerate(DURATION_BUCKETS)] + [("+Inf", totals["count"])]
    total = totals["total"]
    yield GaugeHistogramMetricFamily(
        "parkway_parking_run_duration_seconds",
        "Durations of the parking runs that finished in the window (one run = one account's tick).",
        buckets=buckets,
        gsum_value=total.total_seconds() if isinstance(total, dt.timedelta) else float(total or 0),
    )

    calls: Counter[str] = Counter()
    for aws_calls in recent.values_list("aws_calls", flat=True):
        for operation, n in (aws_calls or {}).items():
            if isinstance(n, int):
                calls[str(operation)] += n
    by_operation = GaugeMetricFamily(
        "parkway_aws_calls", "AWS API calls made by the parking runs started in the window, by operation.", labels=["operation"]
    )
    for operation, n in sorted(calls.items()):
        by_operation.add_metric([operation], n)
    yield by_operation
    yield GaugeMetricFamily(
        "parkway_aws_assume_role_calls",
        "AssumeRole calls made by the parking runs started in the window (sessions are shared, so ideally one per account per session length).",
        value=calls.get("AssumeRole", 0),
    )


def actions_metrics(*, since: dt.datetime) -> Iterator[Metric]:
    # outcome__in on every outcome lets the (outcome, -created_at) index serve the range.
    recent = ParkingAction.objects.filter(outcome__in=ParkingAction.Outcome.values, created_at__gte=since)
    actions = GaugeMetricFamily(
        "parkway_parking_actions", "Start/stop actions planned in the window, by kind and outcome.", labels=["action", "outcome"]
    )
    for row in recent.values("action", "outcome").annotate(n=Count("pk")).order_by("action", "outcome"):
        actions.add_metric([row["action"], row["outcome"]], row["n"])
    yield actions

    errors = GaugeMetricFamily(
        "parkway_aws_action_errors",
        "Start/stop actions that failed in the window, by kind and AWS error code.",
        labels=["action", "code"],
    )
    failed = recent.filter(outcome=ParkingAction.Outcome.FAILED)
    for row in failed.values("action", "error_code").annotate(n=Count("pk")).order_by("action", "error_code"):
        errors.add_metric([row["action"], row["error_code"] or "unknown"], row["n"])
    yield errors


def queue_metrics(*, now: dt.datetime) -> Iterator[Metric]:
    try:
        broker = get_broker()
        try:
            size = broker.queue_size()
            enqueued_at = queue_oldest_enqueued_at(broker=broker)
        finally:
            broker_close(broker)
    except Exception:
        # The rest of the scrape is still worth having; /readyz says what is wrong.
        logger.warning("Could not read the task queue for /metrics", exc_info=True)
        return
    yield GaugeMetricFamily("parkway_queue_tasks", "Tasks waiting in the django-q2 queue.", value=size)
    age = max(0.0, (now - enqueued_at).total_seconds()) if enqueued_at else 0.0
    yield GaugeMetricFamily(
        "parkway_queue_oldest_task_age_seconds", "How long the oldest waiting task has waited (0: none waiting).", value=age
    )

