"""Is this deployment able to do its job? The answers behind /readyz.

Each check names what it looked at; a failure says which one failed, but
never the error's text (host names, user names) to the anonymous caller: that
goes to the log. /healthz needs none of this: answering at all is its answer.

Checks: the database answers a query, the cache keeps a value, the broker
(django-q2) answers, the parking tick finished recently (within two tick
intervals, read from the per-account `ParkingLease.last_tick_at` that every
tick writes, idle or not), and the oldest task waiting in the queue is younger
than PARKWAY_READY_QUEUE_AGE_SECONDS (workers keep up).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.signing import SignedPackage

from scheduling.models import ParkingLease
from tenants.models import CloudAccount

logger = logging.getLogger(__name__)

OK, FAIL, SKIPPED = "ok", "fail", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def as_json(self) -> dict:
        return {"status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Readiness:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(check.status != FAIL for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if check.status == FAIL]

    def as_json(self) -> dict:
        return {
            "status": "ready" if self.ready else "not ready",
            "failed": self.failed,
            "checks": {check.name: check.as_json() for check in self.checks},
        }


def tick_age_limit_seconds() -> int:
    return 2 * 60 * settings.PARKWAY_TICK_MINUTES


def readiness(*, now: dt.datetime | None = None) -> Readiness:
    now = now or timezone.now()
    database = _guarded("database", check_database)
    checks = [database, _guarded("cache", check_cache)]
    broker: Broker | None = None
    try:
        broker = get_broker()
        checks.append(Check("broker", OK if broker.ping() else FAIL, type(broker).__name__))
    except Exception as exc:
        checks.append(_failure("broker", exc))
    try:
        if database.status != OK:
            # Everything below reads the database; asking again only adds a timeout.
            skipped = "not checked: the database is unreachable"
            checks += [Check("tick", SKIPPED, skipped), Check("queue", SKIPPED, skipped)]
            return Readiness(checks)
        checks.append(_guarded("tick", lambda: check_tick(now=now)))
        if broker is None:
            checks.append(Check("queue", SKIPPED, "not checked: the broker is unreachable"))
        else:
            checks.append(_guarded("queue", lambda: check_queue(broker=broker, now=now)))
        return Readiness(checks)
    finally:
        if broker is not None:
            broker_close(broker)


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Check("database", OK, connection.vendor)


def check_cache() -> Check:
    cache = caches[DEFAULT_CACHE_ALIAS]
    key, value = f"parkway:readyz:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, timeout=30)
    kept = cache.get(key) == value
    cache.delete(key)
    backend = type(cache).__name__
    return Check("cache", OK, backend) if kept else Check("cache", FAIL, f"{backend} did not keep a value")


def check_tick(*, now: dt.datetime) -> Check:
    limit = tick_age_limit_seconds()
    last = ParkingLease.objects.aggregate(last=Max("last_tick_at"))["last"]
    if last is not None:
        age = max(0, int((now - last).total_seconds()))
        status = OK if age <= limit else FAIL
        return Check("tick", status, f"the last tick finished {age} s ago (limit {limit} s)")
    # Nothing ticked yet: fine on a new install until an account has waited two ticks.
    if CloudAccount.objects.parkable().filter(created_at__lt=now - dt.timedelta(seconds=limit)).exists():
        return Check("tick", FAIL, f"no tick has finished, and accounts have waited more than {limit} s")
    return Check("tick", OK, "no tick has finished yet; no account has waited two ticks")


def check_queue(*, broker: Broker, now: dt.datetime) -> Check:
    limit = settings.PARKWAY_READY_QUEUE_AGE_SECONDS
    size = broker.queue_size()
    enqueued_at = queue_oldest_enqueued_at(broker=broker)
    if enqueued_at is None:
        return Check("queue", OK, f"{size} tasks waiting")
    age = max(0, int((now - enqueued_at).total_seconds()))
    status = OK if age <= limit else FAIL
    return Check("queue", status, f"{size} tasks waiting, the oldest for {age} s (limit {limit} s)")


def queue_oldest_enqueued_at(*, broker: Broker) -> dt.datetime | None:
    """When the task at the head of the queue was enqueued (django-q2 stamps
    `started` on every task as it enqueues it); None when the queue is empty or
    the broker cannot be peeked at. Only the ORM and Redis brokers are read."""
    from django_q.brokers.orm import ORM
    from django_q.brokers.redis_broker import Redis

    if isinstance(broker, ORM):
        # Waiting = not locked by a cluster that pulled it (the same filter as queue_size()).
        head = (
            broker.get_connection()
            .filter(key=broker.list_key, lock__lte=timezone.now())
            .order_by("pk")
            .values_list("payload", flat=True)
            .first()
        )
    elif isinstance(broker, Redis):
        head = broker.connection.lindex(broker.list_key, 0)  # rpush to the tail, blpop from the head
    else:
        return None
    if head is None:
        return None
    try:
        started = SignedPackage.loads(head).get("started")
    except Exception:
        # Signed with another SECRET_KEY (a key rotation) or not ours: no age to tell.
        logger.warning("The task at the head of the queue could not be read", exc_info=True)
        return None
    return started if isinstance(started, dt.datetime) else None


def broker_close(broker: Broker) -> None:
    """get_broker() builds a new Redis client (and connection pool) on every call."""
    close = getattr(broker.connection, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            logger.debug("Closing the broker's connection failed", exc_info=True)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:
        return _failure(name, exc)


def _failure(name: str, exc: Exception) -> Check:
    logger.warning("Readiness check %s failed", name, exc_info=exc)
    return Check(name, FAIL, f"{type(exc).__name__}: see the server's log")
