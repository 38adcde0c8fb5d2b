"""Selectors of the activity page: a tenant's parking runs, the actions they
took and its audit log, narrowed by account, outcome and a range of days (UTC).

Every query starts from the tenant, so a filter can only narrow what the tenant
already sees; the account filter takes an account row the caller loaded from
the tenant's own accounts, never an id from the request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from scheduling.models import ParkingAction, ParkingRun
from tenants.models import AuditEvent, CloudAccount, Tenant

# The outcomes a person filters by: how finished runs ended.
RUN_OUTCOMES = (
    ParkingRun.Status.SUCCEEDED,
    ParkingRun.Status.PARTIAL,
    ParkingRun.Status.FAILED,
    ParkingRun.Status.INTERRUPTED,
)


@dataclass(frozen=True)
class ActivityFilters:
    account: CloudAccount | None = None
    outcome: str = ""  # a ParkingRun status; narrows runs, and actions to those of such runs
    since: dt.date | None = None  # first day shown, inclusive
    until: dt.date | None = None  # last day shown, inclusive

    @property
    def narrowed(self) -> bool:
        return bool(self.account or self.outcome or self.since or self.until)


def _within_days(queryset: QuerySet, field: str, filters: ActivityFilters) -> QuerySet:
    # Bounds on the indexed timestamp itself (not `__date`), so the (…, -created_at) indexes serve the range.
    if filters.since is not None:
        queryset = queryset.filter(**{f"{field}__gte": dt.datetime.combine(filters.since, dt.time.min, tzinfo=dt.UTC)})
    if filters.until is not None and filters.until < dt.date.max:  # the day after 9999-12-31 does not exist
        next_day = dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        queryset = queryset.filter(**{f"{field}__lt": next_day})
    return queryset


def activity_runs(*, tenant: Tenant, filters: ActivityFilters) -> QuerySet[ParkingRun]:
    runs = ParkingRun.objects.filter(account__tenant=tenant)
    if filters.account is not None:
        runs = runs.filter(account=filters.account)
    if filters.outcome:
        runs = runs.filter(status=filters.outcome)
    return _within_days(runs, "started_at", filters).select_related("account").order_by("-started_at", "-pk")


def activity_actions(*, tenant: Tenant, filters: ActivityFilters) -> QuerySet[ParkingAction]:
    actions = ParkingAction.objects.filter(run__account__tenant=tenant)
    if filters.account is not None:
        actions = actions.filter(run__account=filters.account)
    if filters.outcome:
        actions = actions.filter(run__status=filters.outcome)
    actions = _within_days(actions, "created_at", filters)
    return actions.select_related("resource", "run__account").order_by("-created_at", "-pk")


def activity_events(*, tenant: Tenant, filters: ActivityFilters) -> QuerySet[AuditEvent]:
    """The audit log; the outcome filter is about parking runs and does not apply here."""
    events = AuditEvent.objects.filter(tenant=tenant)
    if filters.account is not None:
        events = events.filter(account=filters.account)
    events = _within_days(events, "created_at", filters)
    return events.select_related("account", "actor").order_by("-created_at", "-pk")


# --- how an audit event reads to a customer (the activity page and the API)

ACTION_LABELS = {
    "account.connected_role": "Account connected by IAM role",
    "account.connected_legacy_keys": "Account connected with IAM user keys",
    "account.updated": "Account settings changed",
    "account.migrated_to_role": "Account switched to an IAM role",
    "account.migration_failed": "Switch to an IAM role failed",
    "credential.verified": "Connection tested: working",
    "credential.verify_failed": "Connection test failed",
    "resource.snoozed": "Machine snoozed",
    "resource.snooze_cleared": "Snooze cancelled",
    "resource.schedule_assigned": "Schedule assigned",
    "resource.stop_now": "Machines stopped by hand",
    "resource.start_now": "Machines started by hand",
    "schedule.created": "Schedule created",
    "schedule.updated": "Schedule changed",
    "schedule.deleted": "Schedule deleted",
    "tenant.external_id_rotated": "External ID changed",
    "tenant.migration_instructions_sent": "Migration instructions emailed",
}
MACHINE_ACTORS = {"system": "Parkway", "cli": "Parkway operations"}


def _text(value: Any) -> str:
    if isinstance(value, dict) and set(value) >= {"before", "after"}:
        return f"{_text(value['before'])} → {_text(value['after'])}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


@dataclass(frozen=True)
class EventRow:
    event: AuditEvent
    label: str
    actor: str
    summary: str

    @classmethod
    def of(cls, event: AuditEvent) -> EventRow:
        details = event.details or {}
        if details.get("message"):
            summary = str(details["message"])
        else:
            skip = {"checks", "schedule_id", "credential_id"}
            summary = "; ".join(
                f"{key.replace('_', ' ')}: {_text(value)}"
                for key, value in details.items()
                if key not in skip and not (isinstance(value, dict) and not {"before", "after"} <= set(value))
            )
        if event.actor is not None and event.actor.is_staff:
            actor = "Parkway support"
        else:
            actor = MACHINE_ACTORS.get(event.actor_label, event.actor_label)
        return cls(event=event, label=ACTION_LABELS.get(event.action, event.action), actor=actor, summary=summary[:400])
