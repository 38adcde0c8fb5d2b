"""Selector for the admin index panel: how far the move to IAM roles has got."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, Subquery

from tenants.models import CloudAccount, CloudCredential


@dataclass(frozen=True)
class MigrationProgress:
    on_legacy: int
    on_role: int
    migrated: int

    @property
    def percent_migrated(self) -> int:
        """Share of the accounts that were on legacy keys which are now on roles."""
        total = self.migrated + self.on_legacy
        return 100 if total == 0 else int(100 * self.migrated / total)


def migration_progress() -> MigrationProgress:
    """One query: accounts on legacy keys, on roles, and migrated (on a role, with retired legacy keys)."""
    active_kind = Subquery(
        CloudCredential.objects.filter(account=OuterRef("pk"), retired_at__isnull=True).values("kind")[:1]
    )
    had_legacy = Exists(
        CloudCredential.objects.filter(
            account=OuterRef("pk"), kind=CloudCredential.Kind.LEGACY_USER, retired_at__isnull=False
        )
    )
    counts = CloudAccount.objects.annotate(active_kind=active_kind, had_legacy=had_legacy).aggregate(
        on_legacy=Count("pk", filter=Q(active_kind=CloudCredential.Kind.LEGACY_USER)),
        on_role=Count("pk", filter=Q(active_kind=CloudCredential.Kind.ROLE)),
        migrated=Count("pk", filter=Q(active_kind=CloudCredential.Kind.ROLE, had_legacy=True)),
    )
    return MigrationProgress(**counts)
