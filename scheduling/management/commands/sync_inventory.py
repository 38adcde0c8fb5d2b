from typing import Any

from django.core.management.base import BaseCommand

from scheduling.inventory import inventory_sync
from scheduling.management import check_account_ids
from scheduling.parking import active_accounts
from tenants.aws import AwsError


class Command(BaseCommand):
    help = "Refresh the machine inventory of active accounts from AWS."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", nargs="+", metavar="ACCOUNT_ID", help="Only these AWS account IDs.")

    def handle(self, *args: Any, **options: Any) -> None:
        check_account_ids(options["account"])
        accounts = active_accounts()
        if options["account"]:
            accounts = accounts.filter(account_id__in=options["account"])
        failed = 0
        for account in accounts.distinct():
            try:
                resources = inventory_sync(account=account)
            except AwsError as exc:
                failed += 1
                self.stderr.write(f"{account.account_id}: {exc.message}")
                continue
            self.stdout.write(f"{account.account_id}: {len(resources)} machine(s) in {', '.join(account.regions)}")
        if failed:
            self.stderr.write(f"{failed} account(s) could not be synced.")
