from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.management import tenant_for_slug
from scheduling.services import schedules_import


class Command(BaseCommand):
    help = (
        "Create or update (by name) schedules from a JSON file: Parkway's export, or the output of "
        "Instance Scheduler's 'scheduler-cli describe-schedules' and 'describe-periods' (one combined "
        "object, or a list of the two documents). All or nothing: if any entry is invalid, nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="File to read; '-' for standard input.")
        parser.add_argument("--tenant", metavar="SLUG", help="Tenant to import into (default: global templates).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_for_slug(options["tenant"])
        path = options["file"]
        try:
            # Bytes, not text: the loader detects UTF-16 (PowerShell redirection) itself.
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from None
        except ValueError:  # a NUL byte in the path
            raise CommandError(f"Cannot read {path!r}: not a file name.") from None

        report = schedules_import(data=data, tenant=tenant, actor="cli", dry_run=options["dry_run"])

        # entry None = the file as a whole (not JSON, not a format we know).
        for error in report.errors:
            if error.entry is None:
                raise CommandError(f"Cannot import {path}: {error.message}")
        for error in report.errors:
            self.stderr.write(f"invalid  {error}")
        if report.errors:
            count = len(report.errors)
            raise CommandError(f"{count} invalid entr{'y' if count == 1 else 'ies'}; nothing was written.")

        created, updated = ("would create", "would update") if report.dry_run else ("created", "updated")
        for name in report.created:
            self.stdout.write(f"{created}  {name}")
        for name in report.updated:
            self.stdout.write(f"{updated}  {name}")
        totals = f"{len(report.created)} created, {len(report.updated)} updated"
        if report.dry_run:
            self.stdout.write(f"Dry run: {totals} if imported; nothing was written.")
        else:
            self.stdout.write(f"Imported: {totals}.")
