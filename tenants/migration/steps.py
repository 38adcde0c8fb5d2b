"""The steps of one migration: plan, verify (AWS only), switch or record the failure.

The services in tenants.migration.services compose these; nothing outside the
package calls them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from tenants.models import CloudAccount, CloudCredential
from tenants.audit import Actor, audit_record
from tenants.services import account_claim
from tenants.sunset import legacy_keys_paused
from tenants.validation import validate_role_arn_for_account
from tenants.verification import VerifyResult, credential_verify

from .results import MigrationResult, Outcome, delete_key_instructions, describe

# Named explicitly, not __name__: log lines (and any logging config) keep the
# "tenants.migration" name they had before the module became a package.
logger = logging.getLogger("tenants.migration")


@dataclass
class _Plan:
    """An account whose role still has to be verified: `candidate` is an unsaved credential."""

    account: CloudAccount
    current: CloudCredential | None
    candidate: CloudCredential

    @property
    def before(self) -> str:
        return describe(self.current)


def _plan(account: CloudAccount, role_arn: str | None, current: CloudCredential | None) -> _Plan | MigrationResult:
    """Decide what needs AWS and what does not (already on a role, malformed ARN)."""
    account.tenant  # noqa: B018 - loaded here, in the caller's thread: verification threads never query
    before = describe(current)
    if current is not None and current.kind == CloudCredential.Kind.ROLE:
        return MigrationResult(
            account=account,
            outcome=Outcome.ALREADY_ON_ROLE,
            message=f"Already on the IAM role {current.role_arn}: nothing to do.",
            role_arn=current.role_arn,
            before=before,
            after=before,
            code="AlreadyOnRole",
        )
    arn = (role_arn or "").strip() or account.conventional_role_arn
    try:
        validate_role_arn_for_account(arn, account_id=account.account_id)
    except ValidationError as exc:
        return _failure(account, current, arn, " ".join(exc.messages), code=exc.error_list[0].code or "InvalidRoleArn")
    candidate = CloudCredential(account=account, kind=CloudCredential.Kind.ROLE, role_arn=arn)
    return _Plan(account=account, current=current, candidate=candidate)


def _verify(plan: _Plan, actor: Actor) -> VerifyResult:
    try:
        return credential_verify(credential=plan.candidate, actor=actor, record=False)
    except Exception as exc:  # a bug or an unforeseen botocore error must not stop a bulk run
        logger.exception("Unexpected error verifying %s for account %s", plan.candidate.role_arn, plan.account.account_id)
        return VerifyResult(ok=False, code=type(exc).__name__, message=f"Unexpected error while verifying the role ({type(exc).__name__}).")


def _failure(
    account: CloudAccount,
    current: CloudCredential | None,
    role_arn: str,
    reason: str,
    *,
    code: str,
    permanent: bool = True,
    checks: list[tuple[str, bool]] | None = None,
    staff_reason: str = "",
) -> MigrationResult:
    if current is not None and current.is_legacy and legacy_keys_paused():
        keeps = "Nothing was changed: parking stays paused until the account is on a role."
    elif current is not None and current.is_legacy:
        keeps = f"Nothing was changed: the account still works with its legacy keys {current.masked_key_id}."
    else:
        keeps = "Nothing was changed."
    return MigrationResult(
        account=account,
        outcome=Outcome.FAILED,
        message=f"Not migrated to {role_arn}: {reason} {keeps}",
        staff_message=f"Not migrated to {role_arn}: {staff_reason} {keeps}" if staff_reason and staff_reason != reason else "",
        reason=f"{reason} {keeps}",
        staff_reason=f"{staff_reason} {keeps}" if staff_reason and staff_reason != reason else "",
        role_arn=role_arn,
        before=describe(current),
        after=describe(current),
        code=code,
        permanent=permanent,
        checks=list(checks or []),
    )


_sqlite_write_lock = threading.Lock()


@contextlib.contextmanager
def _write_guard() -> Iterator[None]:
    # SQLite has one writer per file; in-process writers queue here instead of
    # failing with "database is locked". PostgreSQL relies on the row lock.
    if connection.vendor == "sqlite":
        with _sqlite_write_lock:
            yield
    else:
        yield


def _record_failure(result: MigrationResult, actor: Actor) -> None:
    """The reason goes on the account (last_error) and in the audit log; nothing else changes."""
    account = result.account
    last_error = f"Migration to IAM role failed: {result.message}"
    try:
        with _write_guard(), transaction.atomic():
            # update(), not save(): never write back stale copies of other fields.
            CloudAccount.objects.filter(pk=account.pk).update(last_error=last_error)
            audit_record(
                action="account.migration_failed",
                actor=actor,
                account=account,
                details={
                    "role_arn": result.role_arn,
                    "before": result.before,
                    "code": result.code,
                    "permanent": result.permanent,
                    "message": result.message,
                    "checks": [list(c) for c in result.checks],
                },
            )
    except DatabaseError:
        logger.exception("Could not record the failed migration of account %s", account.account_id)
        return
    account.last_error = last_error


class _ClaimRefused(Exception):
    pass


def _switch(plan: _Plan, verification: VerifyResult, actor: Actor) -> MigrationResult:
    """Add the verified role, retire the legacy keys, audit: all or nothing.

    An account not claimed yet is claimed here: the verified role trusts the
    tenant's External ID, which is the proof a claim needs."""
    account, arn = plan.account, plan.candidate.role_arn
    try:
        with _write_guard(), transaction.atomic():
            # The row lock serializes migrations of one account; the active
            # credential is re-read under it, since another migration may
            # have committed after we planned.
            locked = CloudAccount.objects.select_for_update().get(pk=account.pk)
            current = locked.credentials.filter(retired_at__isnull=True).first()
            if current is not None and current.kind == CloudCredential.Kind.ROLE:
                return MigrationResult(
                    account=account,
                    outcome=Outcome.ALREADY_ON_ROLE,
                    message=f"Already on the IAM role {current.role_arn} (switched meanwhile): nothing to do.",
                    role_arn=current.role_arn,
                    before=describe(current),
                    after=describe(current),
                    code="AlreadyOnRole",
                )
            now = timezone.now()
            if locked.claimed_at is None:
                try:
                    account_claim(account=locked, actor=actor, proof=f"role {arn}", at=now)
                except ValidationError as exc:
                    owner = CloudAccount.objects.owner_elsewhere(locked)
                    staff = CloudAccount.taken_by_message(owner.tenant) if owner is not None else ""
                    raise _ClaimRefused(" ".join(exc.messages), staff) from exc
            # Retire first: the partial unique index allows one active credential.
            if current is not None:
                current.retire(at=now)
            new = CloudCredential.objects.create(account=locked, kind=CloudCredential.Kind.ROLE, role_arn=arn, verified_at=now)
            if locked.status != CloudAccount.Status.DISABLED:
                locked.status = CloudAccount.Status.CONNECTED
            locked.last_verified_at = now
            locked.last_error = ""
            locked.save(update_fields=["status", "last_verified_at", "last_error"])
            next_steps = delete_key_instructions(account, current)
            audit_record(
                action="account.migrated_to_role",
                actor=actor,
                tenant=account.tenant,
                account=locked,
                details={
                    "before": {
                        "method": current.kind if current else None,
                        "credential_id": current.pk if current else None,
                        "credential": describe(current),
                    },
                    "after": {"method": new.kind, "credential_id": new.pk, "role_arn": arn},
                    "checks": [list(c) for c in verification.checks],
                    "next_steps": next_steps,
                },
            )
    except _ClaimRefused as exc:  # rolled back: the account is exactly as it was
        reason, staff_reason = exc.args
        result = _failure(
            account, plan.current, arn, reason, code="AccountTaken", checks=verification.checks, staff_reason=staff_reason
        )
        _record_failure(result, actor)
        return result
    except Exception as exc:  # rolled back: the account is exactly as it was
        if isinstance(exc, DatabaseError):
            reason = f"A database error interrupted the switch ({type(exc).__name__})."
        else:
            reason = f"An unexpected error interrupted the switch ({type(exc).__name__})."
        logger.exception("Migration of account %s to %s rolled back", account.account_id, arn)
        result = _failure(account, plan.current, arn, reason, code=type(exc).__name__, permanent=False, checks=verification.checks)
        _record_failure(result, actor)
        return result
    account.status, account.last_verified_at, account.last_error = locked.status, now, ""
    account.claimed_at = locked.claimed_at
    message = f"Migrated to the IAM role {arn}."
    if current is not None and current.is_legacy:
        message += (
            f" Parkway no longer uses the access key {current.masked_key_id} and has destroyed its secret. "
            f"Next step for the customer: {next_steps}"
        )
    return MigrationResult(
        account=account,
        outcome=Outcome.MIGRATED,
        message=message,
        role_arn=arn,
        before=describe(current),
        after=describe(new),
        code="OK",
        next_steps=next_steps,
        checks=list(verification.checks),
    )


def _finish(plan: _Plan, verification: VerifyResult, actor: Actor, *, dry_run: bool) -> MigrationResult:
    arn = plan.candidate.role_arn
    if not verification.ok:
        result = _failure(
            plan.account, plan.current, arn, verification.message,
            code=verification.code, permanent=verification.permanent, checks=verification.checks,
            staff_reason=verification.for_staff,
        )
        if not dry_run:
            _record_failure(result, actor)
        return result
    if dry_run:
        return MigrationResult(
            account=plan.account,
            outcome=Outcome.READY,
            message=f"Ready: Parkway can assume {arn} and park with it. Nothing was changed.",
            role_arn=arn,
            before=plan.before,
            after=f"role {arn}",
            code="OK",
            checks=list(verification.checks),
        )
    return _switch(plan, verification, actor)
