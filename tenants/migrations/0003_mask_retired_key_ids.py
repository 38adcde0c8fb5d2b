"""Retired credentials keep only the masked access key ID, as documented (issue 9).

`CloudCredential.retire` used to destroy the secret but keep the whole key ID.
This masks the key ID of every retired credential (AKIA…WXYZ), empties any
secret a retired credential might still hold, and masks the key ID wherever an
audit event of its account quoted it in full. (Numbered from 0003 as agreed
for issue 9's migrations; there is no 0002.)
"""

import json

from django.db import migrations

MASK = "…"


def _mask(key_id: str) -> str:
    # Frozen copy of tenants.validation.mask_key_id: a migration must not change
    # behaviour when the app's code does.
    if not key_id or MASK in key_id:
        return key_id or ""
    return f"{key_id[:4]}{MASK}{key_id[-4:]}"


def mask_retired_key_ids(apps, schema_editor):
    CloudCredential = apps.get_model("tenants", "CloudCredential")
    AuditEvent = apps.get_model("tenants", "AuditEvent")
    retired = CloudCredential.objects.filter(retired_at__isnull=False)
    for credential in retired.exclude(access_key_id="").exclude(access_key_id__contains=MASK).iterator():
        full, masked = credential.access_key_id, _mask(credential.access_key_id)
        CloudCredential.objects.filter(pk=credential.pk).update(access_key_id=masked)
        # Audit events are append-only for the application; removing a key ID
        # that should never have been kept is the one rewrite they get.
        for event in AuditEvent.objects.filter(account_id=credential.account_id).iterator():
            text = json.dumps(event.details)
            if full in text:
                AuditEvent.objects.filter(pk=event.pk).update(details=json.loads(text.replace(full, masked)))
    retired.exclude(secret_access_key="").update(secret_access_key="")


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(mask_retired_key_ids, migrations.RunPython.noop),
    ]
