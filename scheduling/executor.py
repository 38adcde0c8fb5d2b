"""Carrying out start/stop decisions against AWS, per kind.

* EC2: one StopInstances and one StartInstances call per (account, region)
  for up to `BATCH_LIMIT` machines. One unknown or wrong-state ID fails a
  whole EC2 call and leaves the others as they were, so a failed batch is
  bisected until the bad IDs are isolated and the rest are applied.
* RDS has no batch call: one Stop/StartDBInstance or Stop/StartDBCluster per
  database, one after the other (well within RDS's request rate; botocore's
  retry mode backs off when AWS throttles).
* An Auto Scaling group: its sizes written to its `parkway:sizes` tag, then
  one UpdateAutoScalingGroup to 0/0/0; started by one UpdateAutoScalingGroup
  back to exactly the stored sizes. Or, in "suspend" mode, SuspendProcesses
  and one StopInstances for its instances; resumed in the reverse order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


from scheduling import kinds
from tenants import aws

# EC2 documents "up to 1000 instance IDs" per request for its instance actions
# (and recommends smaller batches); moto enforces no limit, so we must.
BATCH_LIMIT = 1000

OPERATIONS = {"stop": ("stop_instances", "StoppingInstances"), "start": ("start_instances", "StartingInstances")}
# Errors that stop the whole account, not one machine: bisecting cannot help.
ACCOUNT_LEVEL_CODES = aws.DENIED_CODES | aws.INVALID_KEY_CODES | aws.EXPIRED_CODES


class AccountFailure(Exception):
    """The account as a whole refused (access, credentials): stop parking it."""

    def __init__(self, error: aws.AwsError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Outcome:
    ok: bool
    new_state: str = ""
    code: str = ""
    message: str = ""
    # Worth retrying at the next tick as usual (throttling, network): no
    # per-machine backoff. Permanent per-machine failures back off.
    transient: bool = False
    # AWS never answered (the request may or may not have acted): only AWS's
    # state, read by the next tick, can say what happened.
    unknown: bool = False


class Interrupted(Exception):
    """`before_call` refused to let the next call go out (e.g. the lease was
    lost); `outcomes` holds what AWS had already answered."""

    def __init__(self, outcomes: dict[str, Outcome], cause: Exception) -> None:
        super().__init__(str(cause))
        self.outcomes = outcomes
        self.cause = cause


@dataclass
class _Run:
    ec2: Any
    action: str
    before_call: Callable[[], None] | None
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def execute(
    ec2: Any, action: str, instance_ids: Sequence[str], *, before_call: Callable[[], None] | None = None
) -> dict[str, Outcome]:
    """Stop or start `instance_ids`; an Outcome per ID. Raises AccountFailure,
    or Interrupted when `before_call` (run before every AWS call) raises."""
    run = _Run(ec2=ec2, action=action, before_call=before_call)
    for start in range(0, len(instance_ids), BATCH_LIMIT):
        _run_batch(run, list(instance_ids[start : start + BATCH_LIMIT]))
    return run.outcomes


def _run_batch(run: _Run, ids: list[str]) -> None:
    method, result_key = OPERATIONS[run.action]
    outcomes = run.outcomes
    if run.before_call is not None:
        try:
            run.before_call()
        except Exception as exc:
            raise Interrupted(dict(outcomes), exc) from exc
    try:
        response = getattr(run.ec2, method)(InstanceIds=ids)
    except aws.AWS_ERRORS as exc:
        if not aws.answered(exc):
            # No answer after botocore's retries (timeouts, dropped connections):
            # the call may have acted. Never guess, never bisect.
            error = aws.translate_error(exc)
            for instance_id in ids:
                outcomes[instance_id] = Outcome(False, code=error.code, message=error.message, transient=True, unknown=True)
            return
        code, message, status = aws.error_fields(exc)
        if code in ACCOUNT_LEVEL_CODES:
            raise AccountFailure(aws.translate_error(exc)) from exc
        if code in aws.THROTTLING_CODES:
            # botocore's retry mode already backed off; leave the batch for next tick.
            for instance_id in ids:
                outcomes[instance_id] = Outcome(
                    False, code=code, message="AWS throttled the call; retried next tick.", transient=True
                )
            return
        if status >= 500:
            # AWS's own failure, after botocore's retries: it may have acted
            # before failing, so, as with no answer at all, only AWS's state
            # (read by the next tick) says what happened. No bisection, no backoff.
            for instance_id in ids:
                outcomes[instance_id] = Outcome(
                    False, code=code, message=message or "AWS failed to answer", transient=True, unknown=True
                )
            return
        if len(ids) == 1:
            outcomes[ids[0]] = Outcome(False, code=code, message=message)
            return
        middle = len(ids) // 2
        _run_batch(run, ids[:middle])
        _run_batch(run, ids[middle:])
        return
    for item in response.get(result_key, []):
        outcomes[item["InstanceId"]] = Outcome(True, new_state=item.get("CurrentState", {}).get("Name", ""))
    for instance_id in ids:
        # An ID EC2 accepted without listing it: treat as done, the next describe tells.
        outcomes.setdefault(instance_id, Outcome(True))


# --- RDS and Auto Scaling: one resource at a time ------------------------------------


@dataclass(frozen=True)
class Target:
    """One database, cluster or group to act on, with what its action needs."""

    resource_id: str
    sizes: dict[str, int] | None = None  # a group's sizes to store (stop) or restore (start)
    mode: str = "scale"  # a group's parking: "scale" to zero, or "suspend"
    members: tuple[str, ...] = ()  # a group's EC2 instances (suspend mode)
    suspended: bool = False  # a group parked by suspension: started by resuming


def execute_kind(
    kind: str,
    clients: Callable[[str], Any],
    action: str,
    targets: Sequence[Target],
    *,
    before_call: Callable[[], None] | None = None,
) -> dict[str, Outcome]:
    """Stop or start RDS databases, clusters or Auto Scaling groups; an Outcome
    per resource ID. `clients(service)` gives the region's client. Raises
    AccountFailure, or Interrupted when `before_call` raises."""
    outcomes: dict[str, Outcome] = {}

    def call(operation: Callable[..., Any], **params: Any) -> Any:
        if before_call is not None:
            try:
                before_call()
            except Exception as exc:
                raise Interrupted(dict(outcomes), exc) from exc
        return operation(**params)

    for target in targets:
        try:
            outcomes[target.resource_id] = _act_one(kind, clients, action, target, call)
        except aws.AWS_ERRORS as exc:
            outcomes[target.resource_id] = _failed(exc)
    return outcomes


def _act_one(kind: str, clients: Callable[[str], Any], action: str, target: Target, call: Callable[..., Any]) -> Outcome:
    stopping = action == "stop"
    if kind == kinds.RDS_INSTANCE:
        rds = clients("rds")
        operation = rds.stop_db_instance if stopping else rds.start_db_instance
        call(operation, DBInstanceIdentifier=target.resource_id)
        return Outcome(True, new_state="stopping" if stopping else "pending")
    if kind == kinds.RDS_CLUSTER:
        rds = clients("rds")
        operation = rds.stop_db_cluster if stopping else rds.start_db_cluster
        call(operation, DBClusterIdentifier=target.resource_id)
        return Outcome(True, new_state="stopping" if stopping else "pending")
    if kind != kinds.ASG:
        raise ValueError(f"no per-resource actions for kind {kind!r}")
    group = clients("autoscaling")
    name = target.resource_id
    if stopping and target.mode == "suspend":
        call(group.suspend_processes, AutoScalingGroupName=name, ScalingProcesses=kinds.SUSPENDED_PROCESSES)
        if target.members:
            call(clients("ec2").stop_instances, InstanceIds=list(target.members)[:BATCH_LIMIT])
        return Outcome(True, new_state="stopped")
    if not stopping and target.suspended:
        if target.members:
            call(clients("ec2").start_instances, InstanceIds=list(target.members)[:BATCH_LIMIT])
        call(group.resume_processes, AutoScalingGroupName=name, ScalingProcesses=kinds.SUSPENDED_PROCESSES)
        return Outcome(True, new_state="running")
    sizes = target.sizes
    if stopping:
        if not sizes:
            return Outcome(False, code="NoSizes", message="its sizes are unknown, so it is not scaled to zero")
        # Written on the group before it is emptied: if our row is ever lost, the group remembers.
        call(group.create_or_update_tags, Tags=[{
            "ResourceId": name, "ResourceType": "auto-scaling-group", "Key": kinds.SIZES_TAG,
            "Value": kinds.sizes_text(sizes), "PropagateAtLaunch": False,
        }])
        call(group.update_auto_scaling_group, AutoScalingGroupName=name, MinSize=0, DesiredCapacity=0, MaxSize=0)
        return Outcome(True, new_state="stopped")
    if not sizes or not sizes.get("max"):
        return Outcome(
            False, code="NoStoredSizes",
            message=f"no sizes stored by Parkway (database or {kinds.SIZES_TAG} tag) to restore; set them by hand",
        )
    call(
        group.update_auto_scaling_group, AutoScalingGroupName=name,
        MinSize=sizes["min"], DesiredCapacity=sizes["desired"], MaxSize=sizes["max"],
    )
    return Outcome(True, new_state="running")


def _failed(exc: Exception) -> Outcome:
    """AWS's answer (or silence) for one resource, as an Outcome; account-wide
    refusals raise AccountFailure. A missing permission for this kind fails
    the resource (and backs off), not the account: EC2 still parks."""
    if not aws.answered(exc):
        error = aws.translate_error(exc)
        return Outcome(False, code=error.code, message=error.message, transient=True, unknown=True)
    code, message, status = aws.error_fields(exc)
    if code in aws.INVALID_KEY_CODES | aws.EXPIRED_CODES:
        raise AccountFailure(aws.translate_error(exc)) from exc
    if code in aws.DENIED_CODES:
        return Outcome(False, code=code, message=aws.translate_error(exc).message)
    if code in aws.THROTTLING_CODES:
        return Outcome(False, code=code, message="AWS throttled the call; retried next tick.", transient=True)
    if status >= 500:
        return Outcome(False, code=code, message=message or "AWS failed to answer", transient=True, unknown=True)
    return Outcome(False, code=code, message=message)
