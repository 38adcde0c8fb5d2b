"""System checks: misconfiguration is reported at start-up with an id, not by a
crash deep inside a request or a parking tick."""

from __future__ import annotations

import re
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from tenants.validation import PARTITIONS

RETRY_MODES = ("legacy", "standard", "adaptive")


@register(Tags.security)
def check_secrets(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    keys = [k.strip() for k in settings.PARKWAY_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        hint = "Generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        if settings.DEBUG:
            problems.append(Warning("PARKWAY_ENCRYPTION_KEYS is empty: legacy secrets cannot be stored or read.", hint=hint, id="tenants.W003"))
        else:
            problems.append(Error("PARKWAY_ENCRYPTION_KEYS is empty.", hint=hint, id="tenants.E001"))
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            # Name the position, never the key.
            problems.append(Error(f"PARKWAY_ENCRYPTION_KEYS entry #{position} is not a Fernet key.", id="tenants.E002"))
    if not settings.DEBUG and settings.SECRET_KEY == getattr(settings, "INSECURE_SECRET_KEY", None):
        problems.append(Error("SECRET_KEY is the development default.", hint="Set SECRET_KEY in the environment.", id="tenants.E005"))
    return problems


@register()
def check_aws(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    if settings.PARKWAY_AWS_PARTITION not in PARTITIONS:
        problems.append(
            Error(f"PARKWAY_AWS_PARTITION must be one of {', '.join(PARTITIONS)}.", id="tenants.E003")
        )
    account_id = settings.PARKWAY_AWS_ACCOUNT_ID
    if account_id and not re.fullmatch(r"[0-9]{12}", account_id):
        problems.append(Error("PARKWAY_AWS_ACCOUNT_ID must be 12 digits.", id="tenants.E004"))
    elif not account_id and not settings.DEBUG:
        problems.append(
            Error(
                "PARKWAY_AWS_ACCOUNT_ID is not set: customers' trust policies cannot name our account.",
                id="tenants.E004",
            )
        )
    if not re.fullmatch(r"[\w+=,.@-]{1,64}", settings.PARKWAY_ROLE_NAME):
        problems.append(Error("PARKWAY_ROLE_NAME is not a valid IAM role name.", id="tenants.E006"))
    if settings.PARKWAY_AWS_RETRY_MODE not in RETRY_MODES:
        problems.append(Error(f"PARKWAY_AWS_RETRY_MODE must be one of {', '.join(RETRY_MODES)}.", id="tenants.E007"))
    elif settings.PARKWAY_AWS_RETRY_MODE == "adaptive":
        problems.append(
            Warning(
                "PARKWAY_AWS_RETRY_MODE is adaptive: its client-side rate belongs to a client, and a worker's "
                "clients are shared by every account of a region (tenants.aws), so one account's throttling "
                "would slow every account of that region in that worker. Use standard.",
                id="tenants.W004",
            )
        )
    seconds = settings.PARKWAY_ASSUME_ROLE_SECONDS
    if not 900 <= seconds <= 43200:
        problems.append(Error("PARKWAY_ASSUME_ROLE_SECONDS must be between 900 and 43200.", id="tenants.E008"))
    elif seconds < 1800:
        problems.append(
            Warning(
                "PARKWAY_ASSUME_ROLE_SECONDS below 1800: botocore refreshes 15 minutes before expiry, "
                "so short sessions re-assume the role far more often.",
                id="tenants.W002",
            )
        )
    if settings.PARKWAY_UNVERIFIED_ACCOUNT_HOURS < 1:
        problems.append(
            Error(
                "PARKWAY_UNVERIFIED_ACCOUNT_HOURS must be at least 1: customers need time to create the role "
                "before a registration is forgotten.",
                id="tenants.E009",
            )
        )
    if settings.PARKWAY_LEGACY_GRACE_DAYS < 0:
        problems.append(Error("PARKWAY_LEGACY_GRACE_DAYS must be 0 or more.", id="tenants.E010"))
    if settings.PARKWAY_ALLOW_LEGACY_USERS:
        problems.append(
            Warning(
                "PARKWAY_ALLOW_LEGACY_USERS is on: new IAM-user access keys can be stored. "
                "AWS's partner review requires roles only.",
                id="tenants.W001",
            )
        )
    return problems


@register(Tags.security)
def check_sessions_and_signin(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    if settings.AXES_FAILURE_LIMIT < 1:
        problems.append(Error("PARKWAY_LOGIN_FAILURE_LIMIT must be at least 1.", id="tenants.E011"))
    if settings.AXES_COOLOFF_TIME.total_seconds() < 60:
        problems.append(Error("PARKWAY_LOGIN_COOLOFF_MINUTES must be at least 1.", id="tenants.E012"))
    if settings.PARKWAY_STAFF_SESSION_SECONDS < 60 or settings.SESSION_COOKIE_AGE < 60:
        problems.append(
            Error("PARKWAY_STAFF_SESSION_SECONDS and SESSION_COOKIE_AGE must be at least 60 seconds.", id="tenants.E013")
        )
    if settings.PARKWAY_TRUSTED_PROXIES < 0:
        problems.append(Error("PARKWAY_TRUSTED_PROXIES must be 0 or more.", id="tenants.E014"))
    return problems


@register()
def check_audit_retention(app_configs: Any = None, **kwargs: Any) -> list:
    if settings.PARKWAY_AUDIT_DAYS < 1:
        return [Error("PARKWAY_AUDIT_DAYS must be at least 1: the daily prune would delete today's audit events.", id="tenants.E015")]
    return []
