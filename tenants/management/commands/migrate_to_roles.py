"""Move legacy accounts onto IAM roles in bulk (tenants.migration does the work).

Exit codes: 0 every selected account is on a role afterwards (with --dry-run:
every pre-check passed), 1 some failed, 2 usage error, 3 the run finished but
its report could not be written, 130 stopped by Ctrl-C before every account had
its turn (run again: it continues where it stopped). Every argument is checked,
the report's path included, before any account changes.
"""

from __future__ import annotations

import csv
import json
import signal
import string
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.migration import MigrationResult, Outcome, accounts_migrate_to_role
from tenants.models import CloudAccount
from tenants.validation import ACCOUNT_ID_RE, ROLE_NAME_RE, TENANT_SLUG_RE, parse_role_arn

TEMPLATE_PLACEHOLDERS = ("partition", "account_id", "tenant")
MAX_TEMPLATE_LENGTH = 2048  # IAM's limit for an ARN
MAX_CONCURRENCY = 64
REPORT_FIELDS = ("tenant", "account", "before", "after", "outcome", "message")
BAR_WIDTH = 30
EXIT_REPORT_FAILED = 3
EXIT_INTERRUPTED = 130


def usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = (
        "Migrate accounts from legacy IAM-user keys to a cross-account IAM role, verifying each role first. "
        "A failure leaves the account on its keys; a rerun continues where a previous run stopped. "
        "Exit: 0 all on roles, 1 some failed, 2 usage error, 3 report not written, 130 interrupted."
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
        parser.add_argument(
            "--concurrency", type=int, default=4, help=f"Accounts verified in parallel (default 4, at most {MAX_CONCURRENCY})."
        )
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
            malformed = [s for s in slugs if not TENANT_SLUG_RE.fullmatch(s)]
            if malformed:
                raise usage_error(f"Not a tenant slug (letters, digits, - and _): {', '.join(map(repr, malformed))}.")
            selected = list(accounts.filter(tenant__slug__in=slugs))
            missing = sorted(set(slugs) - {a.tenant.slug for a in selected})
            if missing:
                raise usage_error(f"No tenant with accounts has the slug: {', '.join(missing)}.")
            return selected
        ids = list(dict.fromkeys(options["account"]))
        malformed = [i for i in ids if not ACCOUNT_ID_RE.fullmatch(i)]
        if malformed:
            raise usage_error(f"Not a 12-digit AWS account ID: {', '.join(map(repr, malformed))}.")
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
        self._check_template(template)
        return {
            a.pk: template.format(partition=a.partition, account_id=a.account_id, tenant=a.tenant.slug) for a in accounts
        }

    @staticmethod
    def _check_template(template: str) -> None:
        """Only bare {partition}, {account_id} and {tenant}: a format spec such as
        {account_id:>100000000000} asks str.format for 100 GB, and {tenant.__class__}
        reaches into objects. The ARN it makes must be a role ARN of our partition."""
        placeholders = ", ".join(f"{{{name}}}" for name in TEMPLATE_PLACEHOLDERS)
        if len(template) > MAX_TEMPLATE_LENGTH:
            raise usage_error(f"--role-arn-template is longer than an ARN may be ({MAX_TEMPLATE_LENGTH} characters).")
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template) if name is not None]
        except ValueError as exc:
            raise usage_error(f"Bad --role-arn-template ({exc}): use the placeholders {placeholders}.") from None
        for name, spec, conversion in fields:
            if name not in TEMPLATE_PLACEHOLDERS or spec or conversion:
                shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                raise usage_error(
                    f"Bad --role-arn-template placeholder {{{shown[:60]}}}: use the placeholders {placeholders}, "
                    "with nothing after the name."
                )
        if "account_id" not in {name for name, _, _ in fields}:
            raise usage_error("--role-arn-template needs {account_id}: the role lives in each customer's own account.")
        sample = template.format(partition=settings.PARKWAY_AWS_PARTITION, account_id="123456789012", tenant="tenant-slug")
        try:
            parse_role_arn(sample)
        except ValidationError as exc:
            raise usage_error(f"--role-arn-template does not make a role ARN (e.g. {sample[:200]}): {' '.join(exc.messages)}") from None

    # ------------------------------------------------------------------ run

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["concurrency"] <= MAX_CONCURRENCY:
            raise usage_error(f"--concurrency must be at least 1 and at most {MAX_CONCURRENCY}.")
        report = Path(options["report"]) if options["report"] else None
        if report is not None and report.suffix.lower() not in (".csv", ".json"):
            raise usage_error("--report must end in .csv or .json.")
        accounts = self._selection(options)
        role_arns = self._role_arns(options, accounts)
        if report is not None:
            self._check_report_writable(report)
        dry_run = options["dry_run"]
        if not accounts:
            self.stdout.write("No account selected: nothing to do.")
            report_error = self._write_report(report, []) if report is not None else None
            if report_error:
                raise CommandError(f"The report {report} could not be written: {report_error}.", returncode=EXIT_REPORT_FAILED)
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
        report_error: str | None = None
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
            report_error = self._write_report(report, results) if report is not None else None
            self._summary(results, dry_run=dry_run, report=None if report_error else report)

        if report_error:
            self.stderr.write(f"The report {report} could not be written: {report_error}. The summary above is the run's record.")
        if aborted or any(r.outcome is Outcome.NOT_ATTEMPTED for r in results):
            raise CommandError("Stopped before every account had its turn: run the command again to continue.", returncode=EXIT_INTERRUPTED)
        failed = [r for r in results if not r.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} account(s) failed; see the messages above.", returncode=1)
        if report_error:
            raise CommandError(
                f"Every account was handled as summarised above, but the report {report} could not be written: {report_error}.",
                returncode=EXIT_REPORT_FAILED,
            )

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
        line = f"{account.tenant.slug} {account.account_id}: {result.outcome.label}: {result.for_staff}"
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
                self.stdout.write(f"  {r.account.tenant.slug:<{tenant_width}}  {r.account.account_id}  {r.for_staff}")
        if counts[Outcome.MIGRATED]:
            self.stdout.write("")
            self.stdout.write(
                "Next step for each migrated customer: delete the IAM user's access key Parkway used "
                "(named in each message above, in the report and in the audit log); Parkway cannot do it for them."
            )
        if report is not None:
            self.stdout.write(f"Report: {report}")

    def _check_report_writable(self, path: Path) -> None:
        """Open the report for appending (creating it, then removing it if it
        was not there), so that a bad path stops the run before any account changes."""
        try:
            existed = path.exists()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8"):
                pass
            if not existed:
                path.unlink()
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a file name"
            raise usage_error(f"Cannot write the report {str(path)!r}: {reason}.") from None

    def _write_report(self, path: Path, results: list[MigrationResult]) -> str | None:
        """Write the report; the reason it could not be written, or None."""
        rows = [r.as_row() for r in results]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".json":
                path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                return None
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=REPORT_FIELDS)
                writer.writeheader()
                writer.writerows(rows)
        except (OSError, ValueError) as exc:
            return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        return None
