"""Seed the AWS stand-in and the database with three demo customers.

* Acme Robotics — connected by role (the way forward), with, beside its EC2
  machines, one RDS database, one Aurora cluster (two members) and one Auto
  Scaling group (1/2/4), all parked a few minutes after the demo starts;
* Globex — still on legacy IAM-user keys;
* Initech — a role whose trust policy carries a different External ID
  (the classic onboarding mistake), so "Test connection" shows the mismatch.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test.utils import override_settings
from django.utils import timezone

from scheduling.models import Schedule

from tenants import aws, demo, services
from tenants.models import CloudAccount, Membership, Tenant
from tenants.verification import account_verify

DEMO_REGIONS = ["us-east-1", "eu-west-1"]
# Tags: Acme's us-east-1 machines run until a few minutes after the demo starts
# and are then parked; Globex's start a few minutes later; the rest follow a
# Berlin office-hours template (see _seed_schedules).
CUSTOMERS = [
    # slug, name, account, how it connects, instances per region
    ("acme", "Acme Robotics", "111111111111", "role", 4),
    ("globex", "Globex Corporation", "222222222222", "legacy", 3),
    ("initech", "Initech", "333333333333", "wrong_external_id", 2),
]


class Command(BaseCommand):
    help = "Seed the local AWS stand-in (AWS_ENDPOINT_URL) and the database with demo customers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--staff-username", default="admin")
        parser.add_argument("--staff-password", default=None, help="Default: a random password, printed.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise CommandError("seed_demo seeds the local AWS stand-in, never AWS: set AWS_ENDPOINT_URL (make demo does).")
        if Tenant.objects.filter(slug__in=[c[0] for c in CUSTOMERS]).exists():
            raise CommandError("The demo tenants already exist: seed a fresh database (make demo does).")
        ours = settings.PARKWAY_AWS_ACCOUNT_ID
        if not ours:
            raise CommandError("Set PARKWAY_AWS_ACCOUNT_ID (the stand-in's default account is 123456789012).")
        User = get_user_model()
        username = options["staff_username"]
        try:
            User._meta.get_field(User.USERNAME_FIELD).run_validators(username)
            if not username or "\x00" in username or len(username) > User._meta.get_field(User.USERNAME_FIELD).max_length:
                raise ValidationError("a username of 1 to 150 letters, digits and @.+-_")
        except ValidationError as exc:
            raise CommandError(f"--staff-username {username!r} is not a username: {' '.join(exc.messages)}") from None
        password = options["staff_password"] or secrets.token_urlsafe(9)
        if "\x00" in password:
            raise CommandError("--staff-password cannot contain a NUL character.")
        taken = sorted(CloudAccount.objects.filter(
            account_id__in=[c[2] for c in CUSTOMERS], claimed_at__isnull=False
        ).values_list("account_id", flat=True))
        if taken:
            raise CommandError(f"The demo needs a fresh database; its accounts {', '.join(taken)} already belong to a tenant here.")
        try:
            with transaction.atomic():
                self._seed_schedules()
                for slug, name, account_id, method, per_region in CUSTOMERS:
                    self._seed_customer(slug, name, account_id, method, per_region, ours, password)
                User.objects.create_superuser(username, "staff@parkway.invalid", password)
        except (ValidationError, IntegrityError) as exc:
            raise CommandError(f"The demo needs a fresh database; this one already holds part of it: {exc}") from None
        except aws.AWS_ERRORS as exc:
            raise CommandError(
                f"The AWS stand-in at {os.environ['AWS_ENDPOINT_URL']} refused the demo data ({exc}); "
                "start a fresh one (make demo does)."
            ) from None
        # As the Connect page does: an account is claimed, and parked, only once
        # a test proves its tenant controls it (Initech's stays unverified).
        for account in CloudAccount.objects.filter(tenant__slug__in=[c[0] for c in CUSTOMERS]).select_related("tenant"):
            result = account_verify(account=account, actor="cli")
            self.stdout.write(f"  Tested {account.tenant.slug} {account.account_id}: {'ok' if result.ok else result.code}")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Staff login: {options['staff_username']} / {password}  (/admin/)")
        self.stdout.write(f"  Customer logins: acme-admin, globex-admin, initech-admin / {password}  (/app/)")

    def _seed_schedules(self) -> None:
        """Global templates; two are relative to now so parking shows within minutes."""
        now = timezone.now().astimezone(dt.timezone.utc)

        def hhmm(minutes: int) -> str:
            return (now + dt.timedelta(minutes=minutes)).strftime("%H:%M")

        specs = [
            {"name": "office-hours", "description": "Mon–Fri 08:00–18:00 in Berlin", "timezone": "Europe/Berlin",
             "periods": [{"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}]},
            {"name": "demo-park-soon", "description": "Running now, parked 3 minutes after the demo starts",
             "timezone": "UTC", "periods": [{"begintime": hhmm(-60), "endtime": hhmm(3)}]},
            {"name": "demo-start-soon", "description": "Stopped now, started 5 minutes after the demo starts",
             "timezone": "UTC", "periods": [{"begintime": hhmm(5), "endtime": hhmm(120)}]},
        ]
        for spec in specs:
            schedule, periods = Schedule.from_spec(spec, tenant=None)
            schedule.save()
            for period in periods:
                period.schedule = schedule
                period.save()
        self.stdout.write("  Schedules: office-hours, demo-park-soon (parks in ~3 min), demo-start-soon (starts in ~5 min)")

    def _seed_other_kinds(self, account_id: str, *, tags: dict[str, str]) -> None:
        """One database, one Aurora cluster and one Auto Scaling group, on the schedule that parks soon."""
        region = DEMO_REGIONS[0]
        demo.seed_database(account_id, region, "acme-orders", engine="postgres", tags=tags | {"Name": "acme-orders"})
        demo.seed_cluster(account_id, region, "acme-analytics", tags=tags | {"Name": "acme-analytics"})
        demo.seed_group(account_id, region, "acme-web", min_size=1, desired=2, max_size=4, tags=tags)
        self.stdout.write("  Acme Robotics: database acme-orders, Aurora cluster acme-analytics (2 members), "
                          "Auto Scaling group acme-web (1/2/4)")

    def _seed_customer(
        self, slug: str, name: str, account_id: str, method: str, per_region: int, ours: str, password: str
    ) -> None:
        tenant = Tenant.objects.create(name=name, slug=slug, contact_emails=f"ops@{slug}.example")
        member = get_user_model().objects.create_user(f"{slug}-admin", f"admin@{slug}.example", password)
        Membership.objects.create(user=member, tenant=tenant, role=Membership.Role.ADMIN)
        demo_tags = {"acme": ("demo-park-soon", "running"), "globex": ("demo-start-soon", "stopped")}
        tag, state = demo_tags.get(slug, ("office-hours", "running"))
        demo.seed_instances(account_id, DEMO_REGIONS[0], per_region, tags={"Schedule": tag, "Name": f"{slug}-app"}, state=state)
        demo.seed_instances(account_id, DEMO_REGIONS[1], per_region, tags={"Schedule": "office-hours", "Name": f"{slug}-batch"})
        if slug == "acme":
            self._seed_other_kinds(account_id, tags={"Schedule": tag})
        if method == "legacy":
            key_id, secret = demo.seed_legacy_user(account_id)
            # Legacy keys are sunset; the demo recreates a customer from before it.
            with override_settings(PARKWAY_ALLOW_LEGACY_USERS=True):
                services.account_connect_legacy(
                    tenant=tenant, account_id=account_id, access_key_id=key_id, secret_access_key=secret,
                    name=f"{name} production", regions=DEMO_REGIONS, actor="cli",
                )
            # The role they will migrate to exists already (created from our template).
            demo.seed_role(account_id, role_name=settings.PARKWAY_ROLE_NAME, trusted_account_id=ours, external_id=tenant.external_id)
        else:
            external_id = tenant.external_id if method == "role" else "pasted-from-another-vendor"
            demo.seed_role(account_id, role_name=settings.PARKWAY_ROLE_NAME, trusted_account_id=ours, external_id=external_id)
            services.account_connect_role(
                tenant=tenant, account_id=account_id, name=f"{name} production", regions=DEMO_REGIONS, actor="cli"
            )
        self.stdout.write(f"  {name}: account {account_id} ({method}), {per_region * len(DEMO_REGIONS)} instances")
