from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.crypto import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of PARKWAY_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, EncryptedTextField):
                    total += self._rotate(model, field.name)
        self.stdout.write(f"Re-encrypted {total} secret(s) with the first key.")

    def _rotate(self, model: Any, field: str) -> int:
        # Reading decrypts with any key, saving encrypts with the first one;
        # destroyed (empty) secrets are skipped. One transaction: all or nothing.
        count = 0
        with transaction.atomic():
            rows = model._default_manager.select_for_update().exclude(**{field: ""}).only("pk", field)
            for row in rows.iterator():
                row.save(update_fields=[field])
                count += 1
        return count
