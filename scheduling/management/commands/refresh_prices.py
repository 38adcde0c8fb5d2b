"""Replace the price table with AWS's own on-demand prices (Price List API)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scheduling.prices import prices_refresh
from tenants.aws import AwsError


class Command(BaseCommand):
    help = (
        "Fetch on-demand prices for the types in scheduling/data/prices.json from the AWS Price List API "
        "(pricing:GetProducts, us-east-1) with Parkway's own AWS credentials, and rewrite the file."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = prices_refresh()
        except AwsError as exc:
            raise CommandError(f"Could not read AWS's price list: {exc.staff_message}") from None
        self.stdout.write(
            f"{result.ec2} EC2 and {result.rds} RDS prices in {result.regions} regions written to {result.path}."
        )
