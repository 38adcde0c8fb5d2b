from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduling.history import MAX_BATCH_SIZE, history_prune


def batch_size(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_BATCH_SIZE:
        raise CommandError(f"--batch-size must be a whole number from 1 to {MAX_BATCH_SIZE}, not {value!r}.")
    return int(value)


class Command(BaseCommand):
    help = (
        "Delete parking runs (and their actions) older than PARKWAY_HISTORY_DAYS and audit events older than "
        "PARKWAY_AUDIT_DAYS, in batches. Runs still running or with pending actions are kept."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument("--batch-size", default="1000", metavar="N", help=f"Rows per DELETE (1–{MAX_BATCH_SIZE}; default 1000).")

    def handle(self, *args: Any, **options: Any) -> None:
        report = history_prune(
            now=timezone.now(),
            history_days=settings.PARKWAY_HISTORY_DAYS,
            audit_days=settings.PARKWAY_AUDIT_DAYS,
            batch_size=batch_size(str(options["batch_size"])),
            dry_run=options["dry_run"],
        )
        self.stdout.write(f"{report}.")
