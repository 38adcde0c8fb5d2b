from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.models import Schedule as QSchedule

# By name, so rerunning this (every deploy, every `make demo`) updates rather than duplicates.
# "minutes" is None for a daily job.
JOBS: dict[str, dict[str, Any]] = {
    "parkway-tick": {"func": "scheduling.tasks.tick", "minutes": lambda: settings.PARKWAY_TICK_MINUTES},
    "parkway-forget-unverified-accounts": {"func": "tenants.tasks.forget_unverified_accounts", "minutes": lambda: 60},
    "parkway-prune-history": {"func": "scheduling.tasks.prune_history", "minutes": lambda: None},
}

# Jobs of earlier versions, deleted on the next deploy: the tick refreshes every
# account's inventory in its per-account task, so an hourly sync of all accounts
# in one task only repeated its AWS calls.
RETIRED = ["parkway-inventory-sync"]


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules that drive parking."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, job in JOBS.items():
            minutes_of: Callable[[], int | None] = job["minutes"]
            minutes = minutes_of()
            schedule_type = QSchedule.DAILY if minutes is None else QSchedule.MINUTES
            _, created = QSchedule.objects.update_or_create(
                name=name,
                defaults={"func": job["func"], "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
            )
            every = "day" if minutes is None else f"{minutes} min"
            self.stdout.write(f"{'created' if created else 'updated'} {name}: {job['func']} every {every}")
        for name in RETIRED:
            if QSchedule.objects.filter(name=name).delete()[0]:
                self.stdout.write(f"removed {name}: its work is done by parkway-tick")
