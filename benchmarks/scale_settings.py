"""Settings of the worker clusters that benchmarks/scale.py starts: the test
settings, plus a count of every database query and new connection, kept in
Redis (`PARKWAY_BENCH_COUNTS_URL`) so that the benchmark reads the totals of all
worker processes. One INCR per query: ~0.05 ms each, included in the figures."""

import os

import redis
from django.db.backends.signals import connection_created

from tests.settings import *  # noqa: F401,F403

_counts = redis.Redis.from_url(os.environ["PARKWAY_BENCH_COUNTS_URL"])


def _count_query(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    _counts.incr("queries")
    return execute(sql, params, many, context)


def _count_connection(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
    _counts.incr("connections")
    if _count_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_query)


connection_created.connect(_count_connection)
