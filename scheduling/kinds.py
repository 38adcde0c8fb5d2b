"""What Parkway knows about each kind of resource: how AWS describes it, what
its state means in the planner's words, and why some cannot be parked.

Pure functions over AWS's describe answers (no database, no AWS): inventory
reads through them, the executor and the planner use their constants.

* EC2 instances — `ec2:DescribeInstances`; members of an Auto Scaling group
  are never parked one by one (their group is).
* RDS DB instances — `rds:DescribeDBInstances` (tags come with it). A member
  of a DB cluster is parked through its cluster; AWS cannot stop a read
  replica, a database with read replicas, or SQL Server in Multi-AZ.
* RDS DB clusters (Aurora, Neptune, DocumentDB, Multi-AZ clusters) —
  `rds:DescribeDBClusters`. AWS cannot stop Aurora Serverless v1 clusters,
  clusters of a global database, or multi-master clusters.
* Auto Scaling groups — `autoscaling:DescribeAutoScalingGroups`, with their
  sizes and tags. Parked by scaling to 0/0/0 after storing the sizes (in the
  database and in the tag `parkway:sizes`), or by suspending their processes
  and stopping their instances (`Schedule.asg_mode`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tenants import onboarding

EC2, RDS_INSTANCE, RDS_CLUSTER, ASG = "ec2_instance", "rds_instance", "rds_cluster", "autoscaling_group"
KINDS = (EC2, RDS_INSTANCE, RDS_CLUSTER, ASG)
# The AWS service (and key of CloudAccount.kind_access) each kind belongs to.
SERVICE = {EC2: "ec2", RDS_INSTANCE: "rds", RDS_CLUSTER: "rds", ASG: "autoscaling"}
SERVICE_LABEL = {"ec2": "EC2", "rds": "RDS", "autoscaling": "Auto Scaling"}
DESCRIBE_ACTION = {
    EC2: "ec2:DescribeInstances",
    RDS_INSTANCE: "rds:DescribeDBInstances",
    RDS_CLUSTER: "rds:DescribeDBClusters",
    ASG: "autoscaling:DescribeAutoScalingGroups",
}

ASG_MEMBER_TAG = "aws:autoscaling:groupName"
SIZES_TAG = onboarding.SIZES_TAG  # "min/desired/max", written before a group is scaled to zero
# Suspended in "suspend" mode: nothing launches, terminates or replaces the
# stopped instances until the group is resumed.
SUSPENDED_PROCESSES = [
    "Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance",
    "AlarmNotification", "ScheduledActions", "AddToLoadBalancer",
]
# AWS starts a database or cluster that stayed stopped for 7 days by itself.
AUTO_RESTART_DAYS = 7

# RDS statuses in the planner's words; anything else is "in transition".
RDS_STATES = {
    "available": "running", "starting": "pending", "started": "pending", "stopping": "stopping", "stopped": "stopped",
    "deleting": "shutting-down", "failed": "terminated",
}


@dataclass(frozen=True)
class Seen:
    """One resource as AWS describes it, in Resource's fields."""

    kind: str
    resource_id: str
    tags: dict[str, str]
    state: str
    fields: dict[str, Any]  # the kind's own fields (engine, sizes, details…)
    refusal: str = ""


def _tags(items: Any) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or [] if "Key" in t}


def sizes_text(sizes: dict[str, int]) -> str:
    return f"{sizes['min']}/{sizes['desired']}/{sizes['max']}"


def sizes_from_tag(value: str) -> dict[str, int] | None:
    """The `parkway:sizes` tag's sizes, or None when it is not ours to read."""
    parts = value.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    low, desired, high = (int(p) for p in parts)
    if not low <= desired <= high:
        return None
    return {"min": low, "desired": desired, "max": high}


# --- describe, page by page --------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    """A filtered EC2 read: only the machines carrying the schedule tag
    (`tag_key`, whatever its value), and the machines with these `ids`
    (assigned a schedule in Parkway, whether or not they carry the tag)."""

    tag_key: str
    ids: tuple[str, ...] = ()


# AWS: at most 1,000 InstanceIds a call, and no MaxResults beside them.
IDS_PER_CALL = 1000
# EC2 answers FilterLimitExceeded beyond 200 values in one filter.
FILTER_VALUES_PER_CALL = 200
NOT_FOUND = "InvalidInstanceID.NotFound"


def describe_pages(
    kind: str, client: Any, *, page_size: int, scheduled: Scheduled | None = None
) -> Iterator[list[dict[str, Any]]]:
    """AWS's descriptions of `kind`, page by page (one paginated describe).
    With `scheduled` (EC2 only), only the machines a tick may act on: see
    `_scheduled_instance_pages`."""
    if scheduled is not None and kind != EC2:
        raise ValueError("only EC2 reads are filtered")
    if kind == EC2 and scheduled is not None:
        yield from _scheduled_instance_pages(client, scheduled, page_size=page_size)
    elif kind == EC2:
        yield from _instance_pages(client, page_size=page_size)
    elif kind == RDS_INSTANCE:
        for page in client.get_paginator("describe_db_instances").paginate(PaginationConfig={"PageSize": 100}):
            yield page.get("DBInstances", [])
    elif kind == RDS_CLUSTER:
        for page in client.get_paginator("describe_db_clusters").paginate(PaginationConfig={"PageSize": 100}):
            yield page.get("DBClusters", [])
    elif kind == ASG:
        for page in client.get_paginator("describe_auto_scaling_groups").paginate(PaginationConfig={"PageSize": 100}):
            yield page.get("AutoScalingGroups", [])
    else:
        raise ValueError(f"unknown kind {kind!r}")


def _instance_pages(client: Any, *, page_size: int | None, **params: Any) -> Iterator[list[dict[str, Any]]]:
    """EC2 instances page by page, flattened out of their reservations.
    `page_size` None: no MaxResults (AWS refuses it beside InstanceIds)."""
    config = {} if page_size is None else {"PaginationConfig": {"PageSize": min(page_size, 1000)}}
    for page in client.get_paginator("describe_instances").paginate(**params, **config):
        yield [i for reservation in page.get("Reservations", []) for i in reservation.get("Instances", [])]


def _scheduled_instance_pages(client: Any, scheduled: Scheduled, *, page_size: int) -> Iterator[list[dict[str, Any]]]:
    """The machines carrying the schedule tag (one paginated describe
    filtered on the tag key), then those of `scheduled.ids` that answer did
    not hold (by ID, at most IDS_PER_CALL a call): each machine once. The
    untagged, unassigned rest of the account is not asked for at all."""
    found: set[str] = set()
    for items in _instance_pages(client, page_size=page_size, Filters=[{"Name": "tag-key", "Values": [scheduled.tag_key]}]):
        found.update(i["InstanceId"] for i in items)
        yield items
    missing = [i for i in dict.fromkeys(scheduled.ids) if i not in found]
    for start in range(0, len(missing), IDS_PER_CALL):
        for items in _pages_by_id(client, missing[start:start + IDS_PER_CALL], page_size=page_size):
            fresh = [i for i in items if i["InstanceId"] not in found]
            found.update(i["InstanceId"] for i in fresh)
            yield fresh


def _pages_by_id(client: Any, ids: list[str], *, page_size: int) -> Iterator[list[dict[str, Any]]]:
    """Instances by ID. AWS fails the whole call when one ID no longer
    exists (terminated more than about an hour ago): then the same IDs are
    asked through the `instance-id` filter, which leaves missing IDs out.
    The ID call comes first because it is the fast path AWS recommends and
    the common case has no missing ID."""
    try:
        pages = list(_instance_pages(client, page_size=None, InstanceIds=ids))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != NOT_FOUND:
            raise
    else:
        yield from pages
        return
    for start in range(0, len(ids), FILTER_VALUES_PER_CALL):
        chunk = ids[start:start + FILTER_VALUES_PER_CALL]
        yield from _instance_pages(client, page_size=page_size, Filters=[{"Name": "instance-id", "Values": chunk}])


def seen(kind: str, item: dict[str, Any]) -> Seen:
    return {EC2: _ec2, RDS_INSTANCE: _rds_instance, RDS_CLUSTER: _rds_cluster, ASG: _asg}[kind](item)


def _ec2(item: dict[str, Any]) -> Seen:
    tags = _tags(item.get("Tags"))
    return Seen(
        kind=EC2, resource_id=item["InstanceId"], tags=tags, state=item.get("State", {}).get("Name", ""),
        fields={"instance_type": item.get("InstanceType", ""), "launch_time": item.get("LaunchTime"),
                "asg_name": tags.get(ASG_MEMBER_TAG, "")},
    )


def _rds_instance(item: dict[str, Any]) -> Seen:
    status = item.get("DBInstanceStatus", "")
    engine = item.get("Engine", "")
    cluster = item.get("DBClusterIdentifier") or ""
    source = item.get("ReadReplicaSourceDBInstanceIdentifier") or item.get("ReadReplicaSourceDBClusterIdentifier") or ""
    replicas = list(item.get("ReadReplicaDBInstanceIdentifiers") or [])
    multi_az = bool(item.get("MultiAZ"))
    if cluster:
        refusal = f"member of DB cluster {cluster}: parked with its cluster, never alone"
    elif source:
        refusal = f"read replica of {source}: AWS cannot stop a read replica"
    elif replicas:
        refusal = f"has read replicas ({', '.join(replicas[:3])}): AWS cannot stop a database that has read replicas"
    elif multi_az and engine.startswith("sqlserver"):
        refusal = "SQL Server in Multi-AZ: AWS cannot stop it"
    else:
        refusal = ""
    details = {"status": status, "multi_az": multi_az}
    details |= {"cluster": cluster} if cluster else {}
    details |= {"replica_of": source} if source else {}
    details |= {"replicas": replicas} if replicas else {}
    return Seen(
        kind=RDS_INSTANCE, resource_id=item["DBInstanceIdentifier"], tags=_tags(item.get("TagList")),
        state=RDS_STATES.get(status, status), refusal=refusal,
        fields={"instance_type": item.get("DBInstanceClass", ""), "engine": engine, "details": details},
    )


def _rds_cluster(item: dict[str, Any]) -> Seen:
    status = item.get("Status", "")
    mode = item.get("EngineMode", "") or "provisioned"
    global_id = item.get("GlobalClusterIdentifier") or ""
    members = [m.get("DBInstanceIdentifier", "") for m in item.get("DBClusterMembers") or []]
    if mode == "serverless":
        refusal = "Aurora Serverless v1: AWS cannot stop it (it pauses by itself when idle)"
    elif global_id:
        refusal = f"part of global database {global_id}: AWS cannot stop a cluster of a global database"
    elif mode in ("multimaster", "parallelquery"):
        refusal = f"{mode} cluster: AWS cannot stop it"
    else:
        refusal = ""
    details: dict[str, Any] = {"status": status, "engine_mode": mode, "members": members}
    if item.get("ServerlessV2ScalingConfiguration"):
        details["serverless_v2"] = True
    if global_id:
        details["global_cluster"] = global_id
    return Seen(
        kind=RDS_CLUSTER, resource_id=item["DBClusterIdentifier"], tags=_tags(item.get("TagList")),
        state=RDS_STATES.get(status, status), refusal=refusal,
        fields={"instance_type": item.get("DBClusterInstanceClass") or "", "engine": item.get("Engine", ""),
                "details": details},
    )


def _asg(item: dict[str, Any]) -> Seen:
    tags = _tags(item.get("Tags"))
    suspended = sorted(p.get("ProcessName", "") for p in item.get("SuspendedProcesses") or [])
    low, desired, high = item.get("MinSize", 0), item.get("DesiredCapacity", 0), item.get("MaxSize", 0)
    members = [i["InstanceId"] for i in item.get("Instances") or [] if "InstanceId" in i]
    if "Launch" in suspended and set(SUSPENDED_PROCESSES) <= set(suspended):
        state = "stopped"  # suspended (by Parkway's suspend mode or alike): nothing launches
    elif high == 0 and desired == 0:
        state = "stopped"
    elif item.get("Status") == "Delete in progress":
        state = "shutting-down"
    else:
        state = "running"
    return Seen(
        kind=ASG, resource_id=item["AutoScalingGroupName"], tags=tags, state=state,
        fields={"min_size": low, "desired_size": desired, "max_size": high,
                "details": {"suspended": suspended, "members": members}},
    )
