"""What a migration reports for one account: its outcome and how to describe credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tenants.models import CloudAccount, CloudCredential


class Outcome(StrEnum):
    MIGRATED = "migrated"
    ALREADY_ON_ROLE = "already_on_role"
    READY = "ready"  # verified, nothing changed (dry run, pre-check)
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"  # stopped (Ctrl-C) before its turn

    @property
    def label(self) -> str:
        return {
            "migrated": "migrated",
            "already_on_role": "already on a role",
            "ready": "ready (verified, not switched)",
            "failed": "failed",
            "not_attempted": "not attempted",
        }[self.value]


@dataclass(frozen=True)
class MigrationResult:
    """What happened to one account. Never holds a secret: credentials are
    described by `str(credential)` (role ARN or masked key ID)."""

    account: CloudAccount
    outcome: Outcome
    message: str
    role_arn: str = ""
    before: str = ""
    after: str = ""
    code: str = ""
    permanent: bool = True
    next_steps: str = ""
    checks: list[tuple[str, bool]] = field(default_factory=list)
    # The same outcome worded for Parkway's staff ("" = `message` serves both).
    staff_message: str = ""
    # A failure's reason alone, without the ARN that `message` adds (for a page
    # that shows the ARN in its input already); and the same for staff.
    reason: str = ""
    staff_reason: str = ""

    @property
    def for_staff(self) -> str:
        return self.staff_message or self.message

    @property
    def reason_for_staff(self) -> str:
        """The reason without the ARN, in staff's words; the whole message when there is no separate reason."""
        return self.staff_reason or self.reason or self.for_staff

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.MIGRATED, Outcome.ALREADY_ON_ROLE, Outcome.READY)

    @property
    def on_role(self) -> bool:
        return self.outcome in (Outcome.MIGRATED, Outcome.ALREADY_ON_ROLE)

    def as_row(self) -> dict[str, str]:
        """One line of a report: tenant, account, before, after, outcome, message."""
        return {
            "tenant": self.account.tenant.slug,
            "account": self.account.account_id,
            "before": self.before,
            "after": self.after,
            "outcome": self.outcome.value,
            "message": self.for_staff,  # reports are read by operators
        }


def describe(credential: CloudCredential | None) -> str:
    return str(credential) if credential is not None else "no credential"


def delete_key_instructions(account: CloudAccount, legacy: CloudCredential | None) -> str:
    """What the customer must do themselves: we must not hold the permission to delete keys."""
    if legacy is None or not legacy.is_legacy:
        return ""
    return (
        f"Delete the IAM user's access key {legacy.masked_key_id} in AWS account {account.account_id} "
        "(IAM console → Users → the user Parkway used → Security credentials → Delete), and the user itself "
        "if it serves nothing else. Parkway no longer uses it, but the key stays valid until it is deleted, "
        "and Parkway does not hold the permission to delete it."
    )
