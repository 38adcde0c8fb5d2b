"""Only a *claimed* account is unique across tenants (issue 9, account squatting).

Before, registering an account ID was enough to own it: a failed registration
locked the real owner out. Now an account is claimed when a test proves the
tenant controls it, and only claims are unique.

Existing accounts are claimed when they ever showed control under their
tenant: a credential that passed a test, a connected status (set by a test or
a successful tick), legacy keys (entered by staff, acting in the account), or
machines inventoried through their credential. The rest are registrations that
never worked (for example a failed self-service Connect): they stay unclaimed,
block nobody, and are forgotten like any unverified registration.
"""

from django.db import migrations, models
from django.db.models import Exists, F, OuterRef, Q, Subquery


def claim_accounts_that_showed_control(apps, schema_editor):
    CloudAccount = apps.get_model("tenants", "CloudAccount")
    CloudCredential = apps.get_model("tenants", "CloudCredential")
    Resource = apps.get_model("scheduling", "Resource")
    first_verified = (
        CloudCredential.objects.filter(account=OuterRef("pk"), verified_at__isnull=False)
        .order_by("verified_at")
        .values("verified_at")[:1]
    )
    CloudAccount.objects.filter(claimed_at__isnull=True).filter(Exists(first_verified)).update(
        claimed_at=Subquery(first_verified)
    )
    had_legacy = CloudCredential.objects.filter(account=OuterRef("pk"), kind="legacy_user")
    inventoried = Resource.objects.filter(account=OuterRef("pk"))
    CloudAccount.objects.filter(claimed_at__isnull=True).filter(
        Q(status="connected") | Exists(had_legacy) | Exists(inventoried)
    ).update(claimed_at=F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0004_retired_credentials_hold_nothing"),
        # Resources tell which existing accounts were reached through their credential.
        ("scheduling", "0002_parkinglease_parkingrun_resource_parkingaction_and_more"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="cloudaccount",
            name="one_tenant_per_aws_account",
        ),
        migrations.AddField(
            model_name="cloudaccount",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="cloudaccount",
            constraint=models.UniqueConstraint(
                condition=models.Q(("claimed_at__isnull", False)),
                fields=("partition", "account_id"),
                name="one_tenant_per_aws_account",
            ),
        ),
        migrations.AddConstraint(
            model_name="cloudaccount",
            constraint=models.UniqueConstraint(
                fields=("tenant", "partition", "account_id"), name="one_registration_per_tenant_and_aws_account"
            ),
        ),
        # Last: on PostgreSQL, rows updated before an ALTER TABLE in one transaction
        # can leave "pending trigger events".
        migrations.RunPython(claim_accounts_that_showed_control, migrations.RunPython.noop),
    ]
