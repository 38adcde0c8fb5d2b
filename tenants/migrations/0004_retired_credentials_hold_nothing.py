"""The database keeps retired credentials free of secrets and whole key IDs (issue 9).

Separate from 0003: on PostgreSQL a table altered after rows were updated in
the same transaction can fail with "pending trigger events".
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0003_mask_retired_key_ids"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="cloudcredential",
            constraint=models.CheckConstraint(
                condition=models.Q(("retired_at__isnull", True), ("secret_access_key", ""), _connector="OR"),
                name="retired_credential_has_no_secret",
            ),
        ),
        migrations.AddConstraint(
            model_name="cloudcredential",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("retired_at__isnull", True), ("access_key_id", ""), ("access_key_id__contains", "…"), _connector="OR"
                ),
                name="retired_credential_keeps_only_a_masked_key_id",
            ),
        ),
    ]
