"""django-q2 tasks of the tenants app: thin, a service call each."""

from __future__ import annotations

from tenants.services import accounts_forget_unverified


def forget_unverified_accounts() -> int:
    """Hourly: drop registrations that never proved control (PARKWAY_UNVERIFIED_ACCOUNT_HOURS)."""
    return accounts_forget_unverified()
