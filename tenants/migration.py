"""Moving accounts from legacy IAM-user keys to a cross-account role, losing nothing.

All configuration hangs off `CloudAccount` (resources, overrides, parking
history…), so a migration only touches credentials: it verifies the new role
end to end *before* changing anything, then, in one transaction with the
account row locked, adds the role credential, retires the legacy one (its
secret destroyed, its masked key ID kept for history) and records an audit
event. Any failure leaves the account as it was, still parking with its keys.

* `account_migrate_to_role` — one account (admin, self-service);
* `account_check_role` — the same verification, changing nothing (pre-checks);
* `accounts_migrate_to_role` — many accounts: AWS verification in parallel
  threads, every database write in the calling thread (serialized, on any
  database), a stop event for Ctrl-C;
* `migration_progress` — the counts the admin index panel shows.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from tenants.models import CloudAccount, CloudCredential
from tenants.services import Actor, audit_record
from tenants.validation import validate_role_arn_for_account
from tenants.verification import VerifyResult, credential_verify

logger = logging.getLogger(__name__)


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
            "message": self.message,
        }


@dataclass
class _Plan:
    """An account whose role still has to be verified: `candidate` is an unsaved credential."""

    account: CloudAccount
    current: CloudCredential | None
    candidate: CloudCredential

    @property
    def before(self) -> str:
        return describe(self.current)


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


# --------------------------------------------------------------------------- steps


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
) -> MigrationResult:
    if current is not None and current.is_legacy:
        keeps = f"Nothing was changed: the account still works with its legacy keys {current.masked_key_id}."
    else:
        keeps = "Nothing was changed."
    return MigrationResult(
        account=account,
        outcome=Outcome.FAILED,
        message=f"Not migrated to {role_arn}: {reason} {keeps}",
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


def _switch(plan: _Plan, verification: VerifyResult, actor: Actor) -> MigrationResult:
    """Add the verified role, retire the legacy keys, audit: all or nothing."""
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


# --------------------------------------------------------------------------- services


def account_migrate_to_role(*, account: CloudAccount, role_arn: str | None = None, actor: Actor) -> MigrationResult:
    """Move one account to an IAM role (default: the conventional one our template creates).

    Idempotent: an account already on a role reports so. Safe under concurrency:
    of two simultaneous migrations of one account, one migrates, the other
    reports the account already on a role.
    """
    plan = _plan(account, role_arn, account.active_credential())
    if isinstance(plan, MigrationResult):
        if plan.outcome is Outcome.FAILED:
            _record_failure(plan, actor)
        return plan
    return _finish(plan, _verify(plan, actor), actor, dry_run=False)


def account_check_role(*, account: CloudAccount, role_arn: str | None = None, actor: Actor = "system") -> MigrationResult:
    """Verify the role a migration would switch to; changes nothing, records nothing."""
    plan = _plan(account, role_arn, account.active_credential())
    if isinstance(plan, MigrationResult):
        return plan
    return _finish(plan, _verify(plan, actor), actor, dry_run=True)


def accounts_migrate_to_role(
    *,
    accounts: Iterable[CloudAccount],
    actor: Actor,
    role_arns: Mapping[int, str] | None = None,
    dry_run: bool = False,
    concurrency: int = 4,
    stop: threading.Event | None = None,
    on_result: Callable[[MigrationResult], None] | None = None,
) -> list[MigrationResult]:
    """Migrate (or, with `dry_run`, only verify) many accounts.

    `role_arns` maps account pk → ARN (missing: the conventional role). AWS
    verification runs in `concurrency` threads, which never touch the
    database; each verified account is then switched here, in the calling
    thread, one transaction per account. Setting `stop` starts nothing new:
    verifications under way finish and their accounts are switched (or
    rolled back), the rest are reported NOT_ATTEMPTED; a rerun continues.
    """
    accounts = list(accounts)
    role_arns = role_arns or {}
    stop = stop or threading.Event()
    active: dict[int, CloudCredential] = {}
    pks = [a.pk for a in accounts]
    for start in range(0, len(pks), 500):  # SQLite caps the parameters of one query
        chunk = CloudCredential.objects.filter(account__in=pks[start : start + 500], retired_at__isnull=True)
        active.update((c.account_id, c) for c in chunk)
    results: list[MigrationResult] = []

    def emit(result: MigrationResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    plans: list[_Plan] = []
    for account in accounts:
        if account.pk in active:
            active[account.pk].account = account
        plan = _plan(account, role_arns.get(account.pk), active.get(account.pk))
        if isinstance(plan, _Plan):
            plans.append(plan)
            continue
        if plan.outcome is Outcome.FAILED and not dry_run:
            _record_failure(plan, actor)
        emit(plan)

    def verify_in_thread(plan: _Plan) -> VerifyResult | None:
        if stop.is_set():
            return None
        try:
            return _verify(plan, actor)
        finally:
            # Verification needs no database, but should anything open a
            # connection in this thread, it must not outlive the thread's task.
            connections.close_all()

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="parkway-migrate") as pool:
        futures = {pool.submit(verify_in_thread, plan): plan for plan in plans}
        try:
            for future in as_completed(futures):
                plan = futures[future]
                verification = future.result()
                if verification is None:
                    emit(
                        MigrationResult(
                            account=plan.account,
                            outcome=Outcome.NOT_ATTEMPTED,
                            message="Not attempted: the run was stopped before this account's turn. Run again to continue.",
                            role_arn=plan.candidate.role_arn,
                            before=plan.before,
                            after=plan.before,
                            code="Stopped",
                            permanent=False,
                        )
                    )
                    continue
                emit(_finish(plan, verification, actor, dry_run=dry_run))
        except BaseException:
            # A second Ctrl-C: the transaction in progress rolled back; start nothing more.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


# --------------------------------------------------------------------------- selectors


@dataclass(frozen=True)
class MigrationProgress:
    on_legacy: int
    on_role: int
    migrated: int

    @property
    def percent_migrated(self) -> int:
        """Share of the accounts that were on legacy keys which are now on roles."""
        total = self.migrated + self.on_legacy
        return 100 if total == 0 else int(100 * self.migrated / total)


def migration_progress() -> MigrationProgress:
    """One query: accounts on legacy keys, on roles, and migrated (on a role, with retired legacy keys)."""
    active_kind = Subquery(
        CloudCredential.objects.filter(account=OuterRef("pk"), retired_at__isnull=True).values("kind")[:1]
    )
    had_legacy = Exists(
        CloudCredential.objects.filter(
            account=OuterRef("pk"), kind=CloudCredential.Kind.LEGACY_USER, retired_at__isnull=False
        )
    )
    counts = CloudAccount.objects.annotate(active_kind=active_kind, had_legacy=had_legacy).aggregate(
        on_legacy=Count("pk", filter=Q(active_kind=CloudCredential.Kind.LEGACY_USER)),
        on_role=Count("pk", filter=Q(active_kind=CloudCredential.Kind.ROLE)),
        migrated=Count("pk", filter=Q(active_kind=CloudCredential.Kind.ROLE, had_legacy=True)),
    )
    return MigrationProgress(**counts)
