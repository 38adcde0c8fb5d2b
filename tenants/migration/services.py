"""The migration services: one account, a dry-run check, and many accounts in bulk."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.db import connections

from tenants.models import CloudAccount, CloudCredential
from tenants.audit import Actor
from tenants.permissions import ADMINISTER, require
from tenants.verification import VerifyResult

from .results import MigrationResult, Outcome
from .steps import _Plan, _finish, _plan, _record_failure, _verify


def account_migrate_to_role(*, account: CloudAccount, role_arn: str | None = None, actor: Actor) -> MigrationResult:
    """Move one account to an IAM role (default: the conventional one our template creates).

    Idempotent: an account already on a role reports so. Safe under concurrency:
    of two simultaneous migrations of one account, one migrates, the other
    reports the account already on a role.
    """
    require(actor, account.tenant, ADMINISTER)
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
