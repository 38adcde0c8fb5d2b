"""Assumed-role credentials shared by every worker process and machine.

botocore's `AssumeRoleCredentialFetcher` keeps the AssumeRole answer in any
dict-like `cache`; `SharedCredentialCache` is that cache, over Django's cache
framework (`CACHE_URL`: Redis in production), so a fresh worker process, a
recycled one or another machine reuses the session the first one obtained:
the whole fleet makes one AssumeRole per account per session length.

* Values are encrypted with the keys of every other secret (`tenants.crypto`,
  `PARKWAY_ENCRYPTION_KEYS`): whoever reads Redis learns nothing usable. The
  key is botocore's own hash of the role ARN, External ID and duration, so it
  names neither.
* An entry lives until botocore would refresh it anyway (its expiry window
  before the credentials expire), so the cache never hands out a session
  that is about to run out; botocore checks the expiry again on every read.
* The shared cache is an optimisation, never a dependency: when it cannot be
  read or written (Redis restarting, keys rotated away), the fetcher simply
  asks STS, as a cache miss.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from botocore.credentials import CachedCredentialFetcher
from django.core.cache import caches

from tenants import crypto

logger = logging.getLogger(__name__)

KEY_PREFIX = "parkway:aws-session:"
CACHE_ALIAS = "default"
# botocore's fetcher treats credentials this close to expiry as expired.
EXPIRY_WINDOW_SECONDS = CachedCredentialFetcher.DEFAULT_EXPIRY_WINDOW_SECONDS


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class SharedCredentialCache:
    """The dict-like cache botocore's fetcher asks (`in`, `[key]`, `[key] = …`)."""

    def __init__(self, alias: str = CACHE_ALIAS) -> None:
        self._alias = alias
        # `key in cache` is followed by `cache[key]`: one read serves both.
        self._last: tuple[str, dict[str, Any]] | None = None

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            token = caches[self._alias].get(KEY_PREFIX + key)
        except Exception as exc:  # any backend error is a miss: STS still works
            logger.warning("The shared credential cache could not be read (%s); assuming the role instead.", type(exc).__name__)
            return None
        if not isinstance(token, str):
            return None
        try:
            return json.loads(crypto.decrypt(token))
        except (crypto.DecryptionError, ValueError):
            return None  # written with a key since rotated away, or not ours

    def __contains__(self, key: str) -> bool:
        value = self._read(key)
        self._last = (key, value) if value is not None else None
        return value is not None

    def __getitem__(self, key: str) -> dict[str, Any]:
        if self._last is not None and self._last[0] == key:
            value = self._last[1]
            self._last = None
            return value
        value = self._read(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, response: dict[str, Any]) -> None:
        self._last = None
        expiration = _parse(response["Credentials"]["Expiration"])
        seconds = int((expiration - _now()).total_seconds()) - EXPIRY_WINDOW_SECONDS
        if seconds <= 0:
            return  # botocore would not reuse it: nothing worth sharing
        stored = {"Credentials": dict(response["Credentials"], Expiration=expiration.isoformat())}
        if "AssumedRoleUser" in response:
            stored["AssumedRoleUser"] = response["AssumedRoleUser"]
        try:
            caches[self._alias].set(KEY_PREFIX + key, crypto.encrypt(json.dumps(stored)), timeout=seconds)
        except Exception as exc:
            logger.warning("The shared credential cache could not be written (%s).", type(exc).__name__)

    def __delitem__(self, key: str) -> None:
        self._last = None
        try:
            caches[self._alias].delete(KEY_PREFIX + key)
        except Exception as exc:
            logger.warning("The shared credential cache could not be written (%s).", type(exc).__name__)
