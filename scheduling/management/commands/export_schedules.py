from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.management import tenant_for_slug
from scheduling.services import schedules_export


class Command(BaseCommand):
    help = (
        "Write a tenant's schedules (or, without --tenant, the global templates) as a JSON "
        "list of schedule specs, the format import_schedules reads."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="File to write; '-' for standard output.")
        parser.add_argument(
            "--tenant", metavar="SLUG", help="Tenant whose schedules to export (default: global templates)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_for_slug(options["tenant"])
        specs = schedules_export(tenant=tenant)
        text = json.dumps(specs, indent=2, ensure_ascii=False) + "\n"
        if options["file"] == "-":
            self.stdout.write(text, ending="")
            return
        try:
            with open(options["file"], "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise CommandError(f"Cannot write {options['file']}: {exc.strerror or exc}") from None
        except ValueError:  # a NUL byte in the path
            raise CommandError(f"Cannot write {options['file']!r}: not a file name.") from None
        owner = f"tenant {tenant.slug}" if tenant else "global templates"
        self.stdout.write(f"Exported {len(specs)} schedule(s) of {owner} to {options['file']}.")
