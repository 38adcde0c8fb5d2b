"""Test settings: the project's settings with the few values a test run needs.

Keys are generated per run so that no key is ever committed.
"""

import os

from cryptography.fernet import Fernet

os.environ.setdefault("PARKWAY_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("PARKWAY_AWS_ACCOUNT_ID", "123456789012")
os.environ.setdefault("SECRET_KEY", "tests-" + Fernet.generate_key().decode())
# Legacy keys pause after the deadline: far away by default, so that no test
# depends on today's date; tests about the deadline set it (and the clock) themselves.
os.environ.setdefault("PARKWAY_LEGACY_DEADLINE", "2099-12-31")
# Tests (and the commands they start in subprocesses) run on SQLite with DEBUG off.
os.environ.setdefault("PARKWAY_ALLOW_SQLITE", "true")
# Readable log lines in test output (PARKWAY_LOG_FORMAT=json to see what servers write).
os.environ.setdefault("PARKWAY_LOG_FORMAT", "text")

from portal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
# Sent at once into mail.outbox; tests/portal/test_mail.py runs the background backend itself.
EMAIL_BACKEND = PARKWAY_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Pages link plain static names, so no test needs `collectstatic` first;
# tests/portal/test_serving.py collects and serves the hashed ones.
STORAGES = STORAGES | {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# Each test process keeps its own local-memory cache on purpose (no Redis needed to run
# the suite); production settings refuse that (tests/portal/test_shared_cache_check.py).
SILENCED_SYSTEM_CHECKS = ["portal.E010"]
