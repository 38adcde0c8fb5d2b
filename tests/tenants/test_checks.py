"""Configuration: system checks and a production-like `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from tenants import checks

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARKWAY_", "DJANGO_", "SECRET_KEY", "DEBUG"))}
    base["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base | env, capture_output=True, text=True, timeout=120
    )


def production_env() -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "PARKWAY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PARKWAY_AWS_ACCOUNT_ID": "123456789012",
        "ALLOWED_HOSTS": "parkway.example.com",
        # Production runs on PostgreSQL and Redis (nothing connects to them during `check`).
        "DATABASE_URL": "postgres://parkway:not-a-real-password@db.parkway.invalid:5432/parkway",
        "CACHE_URL": "redis://redis.parkway.invalid:6379/1",
        "REDIS_URL": "redis://redis.parkway.invalid:6379/0",
        "PARKWAY_METRICS_TOKEN": Fernet.generate_key().decode(),
    }


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "override, check_id",
    [
        ({"PARKWAY_ENCRYPTION_KEYS": ""}, "tenants.E001"),
        ({"PARKWAY_ENCRYPTION_KEYS": "not-a-key"}, "tenants.E002"),
        ({"PARKWAY_AWS_PARTITION": "aws-mars"}, "tenants.E003"),
        ({"PARKWAY_AWS_ACCOUNT_ID": ""}, "tenants.E004"),
        ({"PARKWAY_AWS_ACCOUNT_ID": "12345"}, "tenants.E004"),
        ({"SECRET_KEY": ""}, "tenants.E005"),
        ({"PARKWAY_AWS_RETRY_MODE": "yolo"}, "tenants.E007"),
        ({"PARKWAY_ASSUME_ROLE_SECONDS": "60"}, "tenants.E008"),
        ({"PARKWAY_UNVERIFIED_ACCOUNT_HOURS": "0"}, "tenants.E009"),
        ({"PARKWAY_LEGACY_GRACE_DAYS": "-1"}, "tenants.E010"),
        ({"PARKWAY_LOGIN_FAILURE_LIMIT": "0"}, "tenants.E011"),
        ({"PARKWAY_LOGIN_COOLOFF_MINUTES": "0"}, "tenants.E012"),
        ({"PARKWAY_STAFF_SESSION_SECONDS": "0"}, "tenants.E013"),
        ({"SESSION_COOKIE_AGE": "5"}, "tenants.E013"),
        ({"PARKWAY_TRUSTED_PROXIES": "-1"}, "tenants.E014"),
        ({"DATABASE_URL": "sqlite:////tmp/parkway-deploy-check.sqlite3"}, "portal.E001"),
    ],
)
def test_misconfiguration_is_a_named_check_error(override, check_id):
    env = production_env() | override
    if override.get("SECRET_KEY") == "":
        env.pop("SECRET_KEY")
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert check_id in result.stderr + result.stdout
    assert "not-a-key" not in result.stderr + result.stdout


def test_legacy_users_allowed_is_a_warning(settings):
    settings.PARKWAY_ALLOW_LEGACY_USERS = True
    assert "tenants.W001" in [m.id for m in checks.check_aws()]


def test_short_sessions_warn_because_botocore_would_re_assume_constantly(settings):
    settings.PARKWAY_ASSUME_ROLE_SECONDS = 900
    assert "tenants.W002" in [m.id for m in checks.check_aws()]


def test_adaptive_retries_warn_because_clients_are_shared_by_accounts(settings):
    settings.PARKWAY_AWS_RETRY_MODE = "adaptive"
    assert "tenants.W004" in [m.id for m in checks.check_aws()]
    settings.PARKWAY_AWS_RETRY_MODE = "standard"
    assert "tenants.W004" not in [m.id for m in checks.check_aws()]


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
