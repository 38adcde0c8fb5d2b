"""Inventory: what machines an account has, kept in `Resource` rows.

One paginated describe per kind per region (scheduling.kinds: EC2 instances,
RDS databases and clusters, Auto Scaling groups); between complete
inventories, EC2 is asked only for the machines that follow a schedule.
Only what changed is written
(compared in memory with the rows already loaded): new machines and machines
whose state, tags, type, sizes… differ are upserted, up to UPSERT_BATCH rows a
statement; an account whose machines did not change costs no write at all.
Machines that disappear are marked gone, never deleted, so their parking
history stays. `Resource.last_seen_at` is therefore when a row last changed;
when the account's machines were last all read is `ParkingLease.inventoried_at`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.utils import timezone

from scheduling import kinds
from scheduling.models import Resource
from tenants import aws
from tenants.audit import audit_record
from tenants.models import CloudAccount

# Refusals that concern the account, not one kind: never sat out.
ACCOUNT_WIDE_CODES = aws.INVALID_KEY_CODES | aws.EXPIRED_CODES | {aws.LEGACY_PAUSED}
UPSERT_BATCH = 1000  # rows per upsert statement
DESCRIBE_PAGE_SIZE = 1000  # DescribeInstances MaxResults: 5..1000 (RDS and Auto Scaling take 100)
ASG_TAG = kinds.ASG_MEMBER_TAG
# Compared before and after reading a machine: a row is written only when one differs.
COMPARED_FIELDS = [
    "kind", "name", "tags", "state", "instance_type", "launch_time", "asg_name",
    "engine", "refusal", "min_size", "desired_size", "max_size", "details",
    "schedule_tag", "last_seen_at", "gone_at", "parked_at",
    "failures", "last_failure", "retry_after", "saved_sizes",
]
UPSERT_FIELDS = [f for f in COMPARED_FIELDS if f != "saved_sizes"]
COMPARED_FIELDS.remove("last_seen_at")  # changes every read: not a change of the machine


def _snapshot(resource: Resource) -> tuple[Any, ...]:
    return tuple(getattr(resource, name) for name in COMPARED_FIELDS)
KIND_DEFAULTS: dict[str, Any] = {
    "instance_type": "", "launch_time": None, "asg_name": "", "engine": "",
    "min_size": None, "desired_size": None, "max_size": None, "details": {},
}


def describe_pages(ec2: Any) -> Iterator[list[dict[str, Any]]]:
    """EC2 instances page by page (flattened out of their reservations)."""
    return kinds.describe_pages(kinds.EC2, ec2, page_size=DESCRIBE_PAGE_SIZE)


def _apply(resource: Resource, found: kinds.Seen, *, tag_key: str, now: dt.datetime) -> None:
    schedule_tag = found.tags.get(tag_key, "")[:256]
    if resource.failures and (found.state != resource.state or schedule_tag != resource.schedule_tag):
        # A machine that backs off after failures is tried again as soon as
        # something about it changes.
        resource.failures, resource.last_failure, resource.retry_after = 0, "", None
    resource.kind = found.kind
    resource.name = found.tags.get("Name", "")[:256]
    resource.tags = found.tags
    resource.state = found.state
    for name, value in (KIND_DEFAULTS | found.fields).items():
        setattr(resource, name, value[:64] if name == "engine" else (value[:255] if name == "asg_name" else value))
    resource.instance_type = resource.instance_type[:32]
    refusal = found.refusal
    if found.kind == kinds.ASG and found.state == "stopped" and "Launch" not in resource.details.get("suspended", []):
        stored = resource.saved_sizes or kinds.sizes_from_tag(found.tags.get(kinds.SIZES_TAG, ""))
        if not stored or not stored.get("max"):
            refusal = (f"at 0/0/0 with no sizes stored by Parkway (database or {kinds.SIZES_TAG} tag): "
                       "set its sizes by hand once; Parkway then parks and restores it")
        elif not resource.saved_sizes:
            resource.saved_sizes = stored  # our row was lost; the group's tag remembers
    resource.refusal = refusal[:300]
    if (
        resource.parked_at is not None
        and found.state in ("running", "pending")
        and now - resource.parked_at < dt.timedelta(days=kinds.AUTO_RESTART_DAYS) - dt.timedelta(hours=1)
    ):
        # Started before AWS's 7 days were up: a person did it, and Parkway no
        # longer holds it stopped (an AWS restart is only told after 7 days).
        resource.parked_at = None
    resource.schedule_tag = schedule_tag
    resource.last_seen_at = now
    resource.gone_at = None


def _apply_instance(resource: Resource, instance: dict[str, Any], *, tag_key: str, now: dt.datetime) -> None:
    _apply(resource, kinds.seen(kinds.EC2, instance), tag_key=tag_key, now=now)


def kinds_to_describe(account: CloudAccount) -> list[str]:
    """Every kind, except those whose describe the role was refused: that gap
    is reported once (CloudAccount.kind_access) and not asked again every
    tick; the connection test asks again."""
    access = account.kind_access or {}
    return [
        kind for kind in kinds.KINDS
        if kind == kinds.EC2 or kinds.DESCRIBE_ACTION[kind] not in access.get(kinds.SERVICE[kind], {}).get("missing", [])
    ]


def kind_access_refused(*, account: CloudAccount, kind: str, error: aws.AwsError) -> None:
    """A describe was refused: say once, on the account, what is missing
    (the other kinds go on). Audited when it is new."""
    service = kinds.SERVICE[kind]
    action = kinds.DESCRIBE_ACTION[kind]
    access = dict(account.kind_access or {})
    entry = dict(access.get(service) or {})
    missing = sorted(set(entry.get("missing", [])) | {action})
    if entry.get("level") == "none" and action in entry.get("missing", []):
        return
    known = entry.get("level") == "none"
    access[service] = {"level": "none", "missing": missing}
    account.kind_access = access
    CloudAccount.objects.filter(pk=account.pk).update(kind_access=access)
    if known:
        return  # the service's gap was reported already
    audit_record(
        action="account.permission_missing", actor="system", account=account,
        details={"kind": kind, "missing": missing, "message": error.message},
    )


def inventory_sync(
    *,
    account: CloudAccount,
    session: Any = None,
    now: dt.datetime | None = None,
    write: bool = True,
    heartbeat: Callable[[], None] | None = None,
    unread: list[str] | None = None,
    known_kinds_only: bool = False,
    snoozes_at: dt.datetime | None = None,
) -> list[Resource]:
    """Refresh the account's resources from AWS; returns those seen now.

    One paginated describe per kind per region, upserted in batches of up to
    UPSERT_BATCH rows. A kind
    whose describe the role is refused (RDS, Auto Scaling) is reported once
    on the account and left out; its resources are neither returned (so not
    planned) nor marked gone.
    With `write=False` nothing is stored (dry runs): the returned objects are
    the stored rows updated in memory, plus unsaved new ones.
    Raises AwsError (translated) when AWS refuses EC2 or the account as a
    whole. `heartbeat` runs after each page (parking renews its lease there).
    With `unread` (a list), any other failure to describe a database, cluster or
    group kind leaves that kind out for the region and is appended there
    instead of failing the whole account.
    With `known_kinds_only` (a run between complete inventories), a database,
    cluster or group kind is described in a region only where the account
    has such resources already: the others would almost always answer
    "none" (six of a typical account's ten calls). EC2 is described in every
    region, but only the machines a tick may act on: those carrying the
    schedule tag and those assigned a schedule (`_scheduled`): describing
    and parsing machines is the largest share of a busy tick's CPU (README
    "Measured"), and the untagged, unassigned ones are none of its business.
    Such a read is not a complete inventory: new databases or groups in a
    region that had none, and untagged machines, are read by the next
    complete one (PARKWAY_INVENTORY_MINUTES), as new machines of an idle
    account are. It never marks an EC2 machine gone: one missing from a
    filtered answer may only have lost its tag.
    With `snoozes_at`, each stored row says whether a snooze is in force then
    (`snoozed`, resolver.snooze_flagged), read with the rows.
    """
    now = now or timezone.now()
    session = session or aws.session_for(account)
    tag_key = settings.PARKWAY_SCHEDULE_TAG
    rows = Resource.objects.filter(account=account)
    if snoozes_at is not None:
        from scheduling.resolver import snooze_flagged

        rows = snooze_flagged(rows, at=snoozes_at)
    existing = {(r.region, r.kind, r.resource_id): r for r in rows}
    seen: list[Resource] = []
    seen_keys: set[tuple[str, str, str]] = set()
    described = kinds_to_describe(account)
    unsaved: list[Resource] = []
    gone: list[int] = []

    def save() -> None:
        # Changed rows are written in upserts of up to UPSERT_BATCH rows: one
        # query for a thousand new databases however AWS pages them (RDS: 100 a page).
        if write and unsaved:
            Resource.objects.bulk_create(
                unsaved,
                update_conflicts=True,
                unique_fields=["account", "region", "kind", "resource_id"],
                update_fields=UPSERT_FIELDS + ["saved_sizes"],
            )
        unsaved.clear()

    known = {(r.region, r.kind) for r in existing.values() if r.gone_at is None}
    for region in account.regions:
        for kind in list(described):
            if known_kinds_only and kind != kinds.EC2 and (region, kind) not in known:
                continue
            client = aws.client(session, kinds.SERVICE[kind], region)
            scheduled = _scheduled(existing.values(), region, tag_key=tag_key) if known_kinds_only and kind == kinds.EC2 else None
            try:
                for items in kinds.describe_pages(kind, client, page_size=DESCRIBE_PAGE_SIZE, scheduled=scheduled):
                    for item in items:
                        found = kinds.seen(kind, item)
                        key = (region, kind, found.resource_id)
                        resource = existing.get(key)
                        if resource is None:
                            resource = Resource(account=account, region=region, resource_id=found.resource_id, first_seen_at=now)
                            resource.snoozed = False  # first sight: no snooze can name it yet
                            existing[key] = resource
                            before = None
                        else:
                            before = _snapshot(resource)
                        _apply(resource, found, tag_key=tag_key, now=now)
                        if before is None or _snapshot(resource) != before:
                            unsaved.append(resource)
                        seen.append(resource)
                        seen_keys.add(key)
                    if len(unsaved) >= UPSERT_BATCH:
                        save()
                    if heartbeat is not None:
                        heartbeat()
            except (*aws.AWS_ERRORS, aws.AwsError) as exc:
                save()  # what was seen before the refusal is kept, as it is returned
                error = exc if isinstance(exc, aws.AwsError) else aws.translate_error(exc)
                account_wide = error.code in ACCOUNT_WIDE_CODES or error.operation == "AssumeRole"
                if kind == kinds.EC2 or account_wide or (error.code not in aws.DENIED_CODES and unread is None):
                    _mark_gone(gone, now=now, write=write)
                    if error is exc:
                        raise
                    raise error from exc
                if error.code in aws.DENIED_CODES:
                    described.remove(kind)
                    if write:
                        kind_access_refused(account=account, kind=kind, error=error)
                else:
                    # Throttled past botocore's retries, AWS's own failure: this
                    # kind sits out this tick in this region (its resources are
                    # neither planned nor marked gone); EC2 and the rest go on.
                    unread.append(f"{Resource.Kind(kind).label}s in {region} not read: {error.message}")
                continue
            if scheduled is not None:
                continue  # a filtered read says nothing about the machines it did not ask for
            # Only after the kind's describe completed: a failed page never marks resources gone.
            for (r_region, r_kind, _), resource in existing.items():
                if (
                    r_region == region and r_kind == kind and resource.pk is not None and resource.gone_at is None
                    and (r_region, r_kind, resource.resource_id) not in seen_keys
                ):
                    resource.gone_at = now
                    gone.append(resource.pk)
    save()
    _mark_gone(gone, now=now, write=write)
    return seen


def _scheduled(rows: Iterable[Resource], region: str, *, tag_key: str) -> kinds.Scheduled:
    """What a read between complete inventories asks EC2 for in `region`:
    the machines carrying the schedule tag, and the live machines assigned a
    schedule in Parkway or snoozed (asked by ID unless the tag answer held
    them, so an assignment is followed even without the tag, or after it was
    removed, and a snooze is held on any machine: rows read with `snoozes_at`
    say so). Machines neither tagged, assigned nor snoozed follow nothing:
    the tick has nothing to do with them, and the next complete inventory
    reads them."""
    ids = sorted(
        r.resource_id for r in rows
        if r.region == region and r.kind == kinds.EC2 and r.gone_at is None
        and (r.schedule_id is not None or getattr(r, "snoozed", False))
    )
    return kinds.Scheduled(tag_key=tag_key, ids=tuple(ids))


def _mark_gone(pks: list[int], *, now: dt.datetime, write: bool) -> None:
    if write and pks:
        Resource.objects.filter(pk__in=pks, gone_at__isnull=True).update(gone_at=now)
    pks.clear()


def account_refresh_and_preview(*, account: CloudAccount) -> str:
    """After a connection test passed: the machines appear at once, and the
    customer reads what the next tick will do with them."""
    from scheduling.resolver import preview_sentence, resources_explain

    from scheduling.due import accounts_mark_changed

    inventory_sync(account=account)
    # New machines (first seen outside their period...) are planned by the next tick, not an hour later.
    accounts_mark_changed(account_ids=[account.pk])
    resources = Resource.objects.filter(account=account, gone_at__isnull=True).select_related("account")
    return preview_sentence(resources_explain(resources, at=timezone.now()).values())
