"""Moving accounts from legacy IAM-user keys to a cross-account role, losing nothing.

All configuration hangs off `CloudAccount` (resources, overrides, parking
history…), so a migration only touches credentials: it verifies the new role
end to end *before* changing anything, then, in one transaction with the
account row locked, adds the role credential, retires the legacy one (its
secret destroyed, its masked key ID kept for history) and records an audit
event. Any failure leaves the account as it was, still parking with its keys.

* `account_migrate_to_role` — one account (admin, self-service);
* `account_check_role` — the same verification, changing nothing (pre-checks);
* `accounts_migrate_to_role` — many accounts: AWS verification in parallel
  threads, every database write in the calling thread (serialized, on any
  database), a stop event for Ctrl-C;
* `migration_progress` — the counts the admin index panel shows.

Layout: `services` (the three services above), `steps` (plan, verify, switch,
record a failure: what the services share), `results` (`Outcome`,
`MigrationResult`), `progress` (the selector).
"""

from .progress import MigrationProgress, migration_progress
from .results import MigrationResult, Outcome, delete_key_instructions, describe
from .services import account_check_role, account_migrate_to_role, accounts_migrate_to_role

# The step functions (`_verify`, `_switch`, …) are deliberately not re-exported:
# patch them where they are looked up (tenants.migration.services /
# tenants.migration.steps), so a patch on this package fails loudly instead of
# silently doing nothing.
__all__ = [
    "MigrationProgress",
    "MigrationResult",
    "Outcome",
    "account_check_role",
    "account_migrate_to_role",
    "accounts_migrate_to_role",
    "delete_key_instructions",
    "describe",
    "migration_progress",
]
