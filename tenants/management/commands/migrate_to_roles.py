"""Move legacy accounts onto IAM roles in bulk (tenants.migration does the work).

Exit codes: 0 every selected account is on a role afterwards (with --dry-run:
every pre-check passed), 1 some failed, 2 usage error, 130 stopped by Ctrl-C
before every account had its turn (run again: it continues where it stopped).
"""

from __future__ import annotations

import csv
import json
import re
import signal
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.migration import MigrationResult, Outcome, accounts_migrate_to_role
from tenants.models import CloudAccount
from tenants.validation import ACCOUNT_ID_RE

ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
REPORT_FIELDS = ("tenant", "account", "before", "after", "outcome", "message")
BAR_WIDTH = 30
EXIT_INTERRUPTED = 130


def usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = (
        "Migrate accounts from legacy IAM-user keys to a cross-account IAM role, verifying each role first. "
        "A failure leaves the account on its keys; a rerun continues where a previous run stopped. "
        "Exit: 0 all on roles, 1 some failed, 2 usage error, 130 interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        selection = parser.add_argument_group("selection (exactly one)")
        selection.add_argument("--all-legacy", action="store_true", help="Every account still on legacy keys.")
        selection.add_argument("--tenant", nargs="+", action="extend", default=[], metavar="SLUG", help="Every account of these tenants.")
        selection.add_argument(
            "--account", nargs="+", action="extend", default=[], metavar="ACCOUNT_ID", help="These AWS account IDs."
        )
        role = parser.add_argument_group("role (default: the conventional role our CloudFormation template creates)")
        role.add_argument("--role-name", help=f"Role name in every account (default {settings.PARKWAY_ROLE_NAME}).")
        role.add_argument(
            "--role-arn-template",
            help="e.g. 'arn:{partition}:iam::{account_id}:role/path/Parkway' ({partition}, {account_id}, {tenant}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Verify the roles only; change nothing.")
        parser.add_argument("--concurrency", type=int, default=4, help="Accounts verified in parallel (default 4).")
        parser.add_argument("--report", metavar="FILE", help="Write a .csv or .json report.")

    # ------------------------------------------------------------------ input

    def _selection(self, options: dict[str, Any]) -> list[CloudAccount]:
        chosen = [name for name in ("all_legacy", "tenant", "account") if options[name]]
        if len(chosen) != 1:
            raise usage_error("Choose exactly one of --all-legacy, --tenant SLUG…, --account ACCOUNT_ID….")
        accounts = (
            CloudAccount.objects.excluding_registrations_claimed_elsewhere()
            .select_related("tenant")
            .order_by("tenant__slug", "account_id")
        )
        if options["all_legacy"]:
            return list(accounts.on_legacy_keys())
        if options["tenant"]:
            slugs = list(dict.fromkeys(options["tenant"]))
            selected = list(accounts.filter(tenant__slug__in=slugs))
            missing = sorted(set(slugs) - {a.tenant.slug for a in selected})
            if missing:
                raise usage_error(f"No tenant with accounts has the slug: {', '.join(missing)}.")
            return selected
        ids = list(dict.fromkeys(options["account"]))
        malformed = [i for i in ids if not ACCOUNT_ID_RE.match(i)]
        if malformed:
            raise usage_error(f"Not a 12-digit AWS account ID: {', '.join(malformed)}.")
        selected = list(accounts.filter(account_id__in=ids, partition=settings.PARKWAY_AWS_PARTITION))
        missing = sorted(set(ids) - {a.account_id for a in selected})
        if missing:
            raise usage_error(f"Unknown account(s): {', '.join(missing)}.")
        return selected

    def _role_arns(self, options: dict[str, Any], accounts: list[CloudAccount]) -> dict[int, str]:
        name, template = options["role_name"], options["role_arn_template"]
        if name and template:
            raise usage_error("Give --role-name or --role-arn-template, not both.")
        if name:
            if not ROLE_NAME_RE.match(name):
                raise usage_error("A role name has 1 to 64 characters of letters, digits and + = , . @ _ -.")
            template = f"arn:{{partition}}:iam::{{account_id}}:role/{name}"
        if not template:
            return {}  # the service's default: CloudAccount.conventional_role_arn
        try:
            template.format(partition="aws", account_id="123456789012", tenant="t")
        except (KeyError, IndexError, ValueError) as exc:
            raise usage_error(
                f"Bad --role-arn-template ({exc!r}): use the placeholders {{partition}}, {{account_id}} and {{tenant}}."
            ) from None
        return {
            a.pk: template.format(partition=a.partition, account_id=a.account_id, tenant=a.tenant.slug) for a in accounts
        }

    # ------------------------------------------------------------------ run

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] < 1:
            raise usage_error("--concurrency must be at least 1.")
        report = Path(options["report"]) if options["report"] else None
        if report is not None and report.suffix.lower() not in (".csv", ".json"):
            raise usage_error("--report must end in .csv or .json.")
        accounts = self._selection(options)
        role_arns = self._role_arns(options, accounts)
        dry_run = options["dry_run"]
        if not accounts:
            self.stdout.write("No account selected: nothing to do.")
            if report is not None:
                self._write_report(report, [])
            return

        self.stdout.write(
            f"{'Checking' if dry_run else 'Migrating'} {len(accounts)} account(s), {options['concurrency']} at a time"
            f"{' (dry run: nothing will change)' if dry_run else ''}."
        )
        self._bar = self.stdout.isatty()
        self._total, self._done, self._counts = len(accounts), 0, Counter()
        stop = threading.Event()
        results: list[MigrationResult] = []
        restore = self._install_ctrl_c(stop)
        aborted = False
        try:
            accounts_migrate_to_role(
                accounts=accounts,
                actor="cli",
                role_arns=role_arns,
                dry_run=dry_run,
                concurrency=options["concurrency"],
                stop=stop,
                on_result=lambda r: self._progress(r, results),
            )
        except KeyboardInterrupt:
            aborted = True  # second Ctrl-C: the transaction in progress rolled back
        finally:
            restore()
            if self._bar:
                self.stdout.write("")
            seen = {r.account.pk for r in results}
            results += [
                MigrationResult(account=a, outcome=Outcome.NOT_ATTEMPTED, message="Not attempted (aborted).", code="Stopped")
                for a in accounts
                if a.pk not in seen
            ]
            results.sort(key=lambda r: (r.account.tenant.slug, r.account.account_id))
            if report is not None:
                self._write_report(report, results)
            self._summary(results, dry_run=dry_run, report=report)

        if aborted or any(r.outcome is Outcome.NOT_ATTEMPTED for r in results):
            raise CommandError("Stopped before every account had its turn: run the command again to continue.", returncode=EXIT_INTERRUPTED)
        failed = [r for r in results if not r.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} account(s) failed; see the messages above.", returncode=1)

    def _install_ctrl_c(self, stop: threading.Event) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()
            self.stderr.write(
                "\nStopping: accounts being verified now finish (or roll back); nothing new starts. "
                "Ctrl-C again to abort at once."
            )

        previous = signal.signal(signal.SIGINT, on_sigint)
        return lambda: signal.signal(signal.SIGINT, previous)

    # ------------------------------------------------------------------ output

    def _progress(self, result: MigrationResult, results: list[MigrationResult]) -> None:
        results.append(result)
        self._done += 1
        self._counts[result.outcome] += 1
        account = result.account
        line = f"{account.tenant.slug} {account.account_id}: {result.outcome.label}: {result.message}"
        if not self._bar:
            self.stdout.write(f"[{self._done}/{self._total}] {line}")
            return
        if not result.ok:
            self.stdout.write(f"\r\033[K{line}")
        filled = BAR_WIDTH * self._done // self._total
        counts = "  ".join(f"{o.label.split(' (')[0]} {n}" for o, n in sorted(self._counts.items()))
        self.stdout.write(f"\r\033[K[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self._done}/{self._total}  {counts}", ending="")
        self.stdout.flush()

    def _summary(self, results: list[MigrationResult], *, dry_run: bool, report: Path | None) -> None:
        counts = Counter(r.outcome for r in results)
        width = max(len(o.label) for o in Outcome)
        self.stdout.write("")
        self.stdout.write(f"Summary{' (dry run: nothing was changed)' if dry_run else ''}")
        self.stdout.write(f"  {'outcome':<{width}}  accounts")
        for outcome in Outcome:
            if counts[outcome]:
                self.stdout.write(f"  {outcome.label:<{width}}  {counts[outcome]:>8}")
        self.stdout.write(f"  {'total':<{width}}  {len(results):>8}")
        failed = [r for r in results if r.outcome is Outcome.FAILED]
        if failed:
            self.stdout.write("")
            self.stdout.write(self.style.ERROR("Failed (each account still works with its legacy keys):"))
            tenant_width = max(len(r.account.tenant.slug) for r in failed)
            for r in failed:
                self.stdout.write(f"  {r.account.tenant.slug:<{tenant_width}}  {r.account.account_id}  {r.message}")
        if counts[Outcome.MIGRATED]:
            self.stdout.write("")
            self.stdout.write(
                "Next step for each migrated customer: delete the IAM user's access key Parkway used "
                "(named in each message above, in the report and in the audit log); Parkway cannot do it for them."
            )
        if report is not None:
            self.stdout.write(f"Report: {report}")

    def _write_report(self, path: Path, results: list[MigrationResult]) -> None:
        rows = [r.as_row() for r in results]
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            return
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=REPORT_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
