"""A per-key rate limit on Django's cache, for the few requests that cost an AWS call.

Fixed one-minute windows counted with `cache.add` + `cache.incr`, which are
atomic on Redis and memcached: two workers of one deployment share the count
when CACHES points at a shared cache (the default local-memory cache counts per
process, which is enough for a laptop and for tests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class ThrottleResult:
    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the window resets

    @property
    def message(self) -> str:
        return (
            f"You have tested connections {self.limit} times in the last minute, the most Parkway allows. "
            f"Wait {self.retry_after} seconds, then try again."
        )


def throttle_hit(*, scope: str, key: object, limit: int, window: int = 60) -> ThrottleResult:
    """Count one attempt of `key` in `scope`; `allowed` is False past `limit` per `window` seconds."""
    now = int(time.time())
    start = now - now % window
    cache_key = f"throttle:{scope}:{key}:{start}"
    # add() is a no-op when the key exists, so concurrent first hits do not reset the count.
    cache.add(cache_key, 0, timeout=window + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add() and incr()
        cache.set(cache_key, 1, timeout=window + 5)
        count = 1
    return ThrottleResult(allowed=count <= limit, count=count, limit=limit, retry_after=max(1, start + window - now))
