import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduling.management import check_account_ids
from scheduling.parking import run_tick

# Results that mean the account was not parked this tick ("busy" means another
# worker is parking it right now, which is fine).
FAILED_STATUSES = frozenset({"failed", "error", "interrupted"})


def parse_instant(value: str) -> dt.datetime:
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at {value!r} is not an ISO-8601 instant (e.g. 2026-11-24T20:00:00+00:00).") from None
    if instant.tzinfo is None:
        raise CommandError("--at needs a UTC offset (e.g. 2026-11-24T20:00:00+00:00 or ...Z).")
    # Schedules are evaluated around the instant (days before and after): year 1 or 9999 overflows.
    if not 1970 <= instant.year <= 2999:
        raise CommandError(f"--at {value!r} is outside the years 1970 to 2999.")
    return instant


class Command(BaseCommand):
    help = "Run one parking tick now, in this process, through the worker's code path."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--at", help="Evaluate schedules at this ISO-8601 instant (default: now).")
        parser.add_argument("--account", nargs="+", metavar="ACCOUNT_ID", help="Only these AWS account IDs.")
        parser.add_argument("--dry-run", action="store_true", help="Plan and print, change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        at = parse_instant(options["at"]) if options["at"] else timezone.now()
        check_account_ids(options["account"])
        results = run_tick(at=at, account_ids=options["account"], dry_run=options["dry_run"])
        if options["dry_run"]:
            self.stdout.write(f"Dry run at {at.isoformat()}: nothing was changed.")
        if not results:
            self.stdout.write("No active accounts matched.")
            return
        header = f"{'tenant':<20} {'account':<12} {'status':<10} {'planned':>7} {'done':>5} {'failed':>6} {'skipped':>7}  AWS calls"
        self.stdout.write(header)
        for r in results:
            calls = ", ".join(f"{op} {n}" for op, n in sorted(r.aws_calls.items())) or "-"
            self.stdout.write(
                f"{r.account.tenant.slug[:20]:<20} {r.account.account_id:<12} {r.status:<10} {r.planned:>7} "
                f"{r.succeeded:>5} {r.failed:>6} {r.skipped:>7}  {calls}"
            )
            if r.error:
                self.stdout.write(f"    {r.error}")
            if options["dry_run"]:
                for resource, decision in r.decisions:
                    if decision.action:
                        self.stdout.write(f"    would {decision.action} {resource.region} {resource.resource_id}: {decision.reason}")
        failed = [r for r in results if r.status in FAILED_STATUSES]
        if failed:
            # Every account was attempted; the exit status tells scripts that some were not parked.
            lines = "; ".join(f"{r.account.account_id} ({r.status}): {r.error.splitlines()[0] if r.error else 'no detail'}" for r in failed)
            raise CommandError(f"{len(failed)} of {len(results)} account(s) not parked: {lines}")
