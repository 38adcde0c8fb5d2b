"""portal.E010: outside DEBUG, the throttle, django-q2's monitoring (and axes' cache
handler, when chosen) need a cache every process shares."""

import pytest

from portal.checks import check_shared_cache

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DUMMY = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/10"}}


@pytest.mark.parametrize("caches", [LOCMEM, DUMMY])
def test_a_per_process_cache_outside_debug_is_an_error_with_a_hint(settings, caches):
    settings.DEBUG = False
    settings.CACHES = caches
    (error,) = check_shared_cache()
    assert error.id == "portal.E010" and error.level >= 40
    assert "throttle" in error.msg and "django-q2" in error.msg and "CACHE_URL" in error.hint and "redis://" in error.hint


def test_a_shared_cache_or_debug_passes(settings):
    settings.DEBUG = False
    settings.CACHES = REDIS
    assert check_shared_cache() == []
    settings.DEBUG = True
    settings.CACHES = LOCMEM
    assert check_shared_cache() == []


def test_django_q_monitoring_on_another_alias_is_checked_too(settings):
    settings.DEBUG = False
    settings.CACHES = {**REDIS, "q": LOCMEM["default"]}
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "cache": "q"}
    (error,) = check_shared_cache()
    assert "'q'" in error.msg and "django-q2" in error.msg and "throttle" not in error.msg


def test_axes_cache_handler_relies_on_the_cache(settings):
    settings.DEBUG = False
    settings.CACHES = {**REDIS, "axes": LOCMEM["default"]}
    settings.AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
    settings.AXES_CACHE = "axes"
    (error,) = check_shared_cache()
    assert "sign-in lockout" in error.msg
