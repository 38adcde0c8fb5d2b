"""Inventory: what machines an account has, kept in `Resource` rows.

One paginated DescribeInstances per region (1,000 per page, AWS's maximum),
upserted with one statement per page. Machines that disappear are marked gone,
never deleted, so their parking history stays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.utils import timezone

from scheduling.models import Resource
from tenants import aws
from tenants.models import CloudAccount

DESCRIBE_PAGE_SIZE = 1000  # DescribeInstances MaxResults: 5..1000
ASG_TAG = "aws:autoscaling:groupName"
UPSERT_FIELDS = [
    "kind", "name", "tags", "state", "instance_type", "launch_time", "asg_name",
    "schedule_tag", "last_seen_at", "gone_at",
    "failures", "last_failure", "retry_after",
]


def describe_pages(ec2: Any) -> Iterator[list[dict[str, Any]]]:
    """Instances page by page (flattened out of their reservations)."""
    paginator = ec2.get_paginator("describe_instances")
    for page in paginator.paginate(PaginationConfig={"PageSize": DESCRIBE_PAGE_SIZE}):
        yield [instance for reservation in page.get("Reservations", []) for instance in reservation.get("Instances", [])]


def _apply_instance(resource: Resource, instance: dict[str, Any], *, tag_key: str, now: dt.datetime) -> None:
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", []) or []}
    state = instance.get("State", {}).get("Name", "")
    schedule_tag = tags.get(tag_key, "")[:256]
    if resource.failures and (state != resource.state or schedule_tag != resource.schedule_tag):
        # A machine that backs off after failures is tried again as soon as
        # something about it changes.
        resource.failures, resource.last_failure, resource.retry_after = 0, "", None
    resource.kind = Resource.Kind.EC2_INSTANCE
    resource.name = tags.get("Name", "")[:256]
    resource.tags = tags
    resource.state = state
    resource.instance_type = instance.get("InstanceType", "")
    resource.launch_time = instance.get("LaunchTime")
    resource.asg_name = tags.get(ASG_TAG, "")
    resource.schedule_tag = schedule_tag
    resource.last_seen_at = now
    resource.gone_at = None


def inventory_sync(
    *,
    account: CloudAccount,
    session: Any = None,
    now: dt.datetime | None = None,
    write: bool = True,
    heartbeat: Callable[[], None] | None = None,
) -> list[Resource]:
    """Refresh the account's resources from AWS; returns those seen now.

    With `write=False` nothing is stored (dry runs): the returned objects are
    the stored rows updated in memory, plus unsaved new ones.
    Raises AwsError (translated) when AWS refuses. `heartbeat` runs after
    each page (parking renews its lease there).
    """
    now = now or timezone.now()
    session = session or aws.session_for(account)
    tag_key = settings.PARKWAY_SCHEDULE_TAG
    existing = {(r.region, r.resource_id): r for r in Resource.objects.filter(account=account)}
    seen: list[Resource] = []
    for region in account.regions:
        ec2 = aws.client(session, "ec2", region)
        try:
            for instances in describe_pages(ec2):
                page: list[Resource] = []
                for instance in instances:
                    key = (region, instance["InstanceId"])
                    resource = existing.get(key)
                    if resource is None:
                        resource = Resource(account=account, region=region, resource_id=instance["InstanceId"], first_seen_at=now)
                        existing[key] = resource
                    _apply_instance(resource, instance, tag_key=tag_key, now=now)
                    page.append(resource)
                if write and page:
                    Resource.objects.bulk_create(
                        page,
                        update_conflicts=True,
                        unique_fields=["account", "region", "resource_id"],
                        update_fields=UPSERT_FIELDS,
                    )
                seen.extend(page)
                if heartbeat is not None:
                    heartbeat()
        except aws.AWS_ERRORS as exc:
            raise aws.translate_error(exc) from exc
        if write:
            # Only after the region's describe completed: a failed page never marks machines gone.
            Resource.objects.filter(account=account, region=region, gone_at__isnull=True, last_seen_at__lt=now).update(gone_at=now)
    return seen


def account_refresh_and_preview(*, account: CloudAccount) -> str:
    """After a connection test passed: the machines appear at once, and the
    customer reads what the next tick will do with them."""
    from scheduling.resolver import preview_sentence, resources_explain

    inventory_sync(account=account)
    resources = Resource.objects.filter(account=account, gone_at__isnull=True).select_related("account")
    return preview_sentence(resources_explain(resources, at=timezone.now()).values())
