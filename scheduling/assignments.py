"""Which schedule a machine follows: set by a person (self-service, admin) or left to its tag.

Proposed home: `scheduling/actions.py`, beside the snooze services (kept in its
own module while that file has another owner).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from scheduling.inventory import assignment_note, schedules_for
from scheduling.models import Resource, Schedule
from tenants.services import Actor, audit_record


def resource_assign_schedule(*, resource: Resource, schedule: Schedule | None, actor: Actor) -> Resource:
    """Make `resource` follow `schedule` (its tenant's own or a global template);
    None hands it back to its schedule tag. Audited with before and after."""
    account = resource.account
    if schedule is not None and schedule.tenant_id not in (None, account.tenant_id):
        # Never say whose schedule it is.
        raise ValidationError({"schedule": "Choose one of your schedules or a global template."})
    before = resource.schedule
    with transaction.atomic():
        resource.schedule = schedule
        # The note explains a tag that names no schedule; an explicit choice makes it moot.
        resource.assignment_note = "" if schedule is not None else assignment_note(resource, schedules_for(account))
        resource.save(update_fields=["schedule", "assignment_note"])
        audit_record(
            action="resource.schedule_assigned",
            actor=actor,
            account=account,
            details={
                "resource": resource.resource_id,
                "before": before.name if before else None,
                "after": schedule.name if schedule else None,
                "tag": resource.schedule_tag or None,
            },
        )
    return resource
