"""The IAM decisions moto does not make: AssumeRole trust policies, and the
permissions of EC2, RDS and Auto Scaling calls."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from moto.iam.exceptions import NotFoundException
from moto.iam.models import IAMBackend, Role, iam_backends

from .identity import Caller, CallerKind
from .policy import FAIL_CLOSED, IGNORE_UNKNOWN, Decision, Statement, evaluate, parse_policy
from .protocol import ApiRequest, Rejection

_ROLE_ARN_RE = re.compile(r"arn:(aws[\w-]*):iam::(\d{12}):role/.+")
_SESSION_NAME_RE = re.compile(r"[\w+=,.@-]*")
_EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]*")
DEFAULT_MAX_SESSION_DURATION = 3600
ROLE_CHAINING_MAX_DURATION = 3600  # AWS caps role-chained sessions at one hour


# --------------------------------------------------------------------------- AssumeRole


def _validation_errors(params: Mapping[str, str]) -> list[str]:
    """AWS's model constraints for AssumeRole, worded like AWS."""
    errors: list[str] = []

    def fail(value: str | None, member: str, constraint: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        errors.append(f"Value {shown} at '{member}' failed to satisfy constraint: {constraint}")

    role_arn = params.get("RoleArn")
    if role_arn is None:
        fail(None, "roleArn", "Member must not be null")
    elif not 20 <= len(role_arn) <= 2048:
        fail(role_arn, "roleArn", "Member must have length greater than or equal to 20")

    name = params.get("RoleSessionName")
    if name is None:
        fail(None, "roleSessionName", "Member must not be null")
    elif len(name) < 2:
        fail(name, "roleSessionName", "Member must have length greater than or equal to 2")
    elif len(name) > 64:
        fail(name, "roleSessionName", "Member must have length less than or equal to 64")
    elif not _SESSION_NAME_RE.fullmatch(name):
        fail(
            name, "roleSessionName", r"Member must satisfy regular expression pattern: [\w+=,.@-]*"
        )

    external_id = params.get("ExternalId")
    if external_id is not None:
        if len(external_id) < 2:
            fail(external_id, "externalId", "Member must have length greater than or equal to 2")
        elif len(external_id) > 1224:
            fail(external_id, "externalId", "Member must have length less than or equal to 1224")
        elif not _EXTERNAL_ID_RE.fullmatch(external_id):
            fail(
                external_id,
                "externalId",
                r"Member must satisfy regular expression pattern: [\w+=,.@:\/-]*",
            )

    duration = params.get("DurationSeconds")
    if duration is not None:
        if not duration.lstrip("-").isdigit():
            fail(duration, "durationSeconds", "Member must be an integer")
        elif int(duration) < 900:
            fail(duration, "durationSeconds", "Member must have value greater than or equal to 900")
        elif int(duration) > 43200:
            fail(duration, "durationSeconds", "Member must have value less than or equal to 43200")
    return errors


def _find_role(role_arn: str) -> Role | None:
    match = _ROLE_ARN_RE.fullmatch(role_arn)
    if not match:
        return None
    partition, account_id = match.groups()
    # dict.get: look without letting BackendDict create an account/partition on the fly.
    backend = dict.get(dict.get(iam_backends, account_id) or {}, partition)
    if backend is None:
        return None  # never touched, so it holds no roles
    try:
        return backend.get_role_by_arn(role_arn)
    except NotFoundException:
        return None


def check_assume_role(request: ApiRequest, caller: Caller) -> Rejection | None:
    params = request.params
    errors = _validation_errors(params)
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        return Rejection(400, "ValidationError", count + "; ".join(errors), "sts")

    role_arn = params["RoleArn"]
    role = _find_role(role_arn)
    context = {
        "sts:externalid": params.get("ExternalId"),
        "sts:rolesessionname": params["RoleSessionName"],
        "aws:principalaccount": caller.account_id,
        "aws:principalarn": caller.principal_arn,
    }
    decision = (
        evaluate(
            parse_policy(role.assume_role_policy_document),
            "sts:AssumeRole",
            context=context,
            principal=caller.principal,
            unknown_conditions=FAIL_CLOSED,
        )
        if role is not None
        else Decision.IMPLICIT_DENY
    )
    if decision is not Decision.ALLOW:
        # Same answer for "no such role" and "trust policy says no", like AWS:
        # a caller must not learn which roles exist in someone else's account.
        return Rejection(
            403,
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            "sts",
        )

    assert role is not None
    duration = int(params.get("DurationSeconds") or DEFAULT_MAX_SESSION_DURATION)
    if caller.kind is CallerKind.ASSUMED_ROLE and duration > ROLE_CHAINING_MAX_DURATION:
        return Rejection(
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            "sts",
        )
    if duration > int(role.max_session_duration or DEFAULT_MAX_SESSION_DURATION):
        return Rejection(
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            "sts",
        )
    return None


# --------------------------------------------------------------------------- EC2 permissions


def _managed_document(backend: IAMBackend, policy: Any) -> str | None:
    versions = getattr(policy, "versions", [])
    default = next((v for v in versions if v.is_default), None)
    return default.document if default is not None else None


def _policy_set(
    backend: IAMBackend, inline: Mapping[str, str], managed: Iterable[Any]
) -> list[Statement]:
    statements: list[Statement] = []
    for document in inline.values():
        statements += parse_policy(document)
    for policy in managed:
        statements += parse_policy(_managed_document(backend, policy))
    return statements


def identity_policy_sets(caller: Caller) -> list[list[Statement]] | None:
    """Policy sets that must *each* allow an action: identity policies first, then
    the permissions boundary and the session policy when present.  None = identity gone."""
    backend = iam_backends[caller.account_id][caller.partition]
    if caller.kind is CallerKind.ASSUMED_ROLE and caller.role_arn:
        try:
            role = backend.get_role_by_arn(caller.role_arn)
        except NotFoundException:
            return None  # role deleted after the session started: nothing is allowed
        sets = [_policy_set(backend, role.policies, role.managed_policies.values())]
        if role.permissions_boundary_arn:
            try:
                boundary = backend.get_policy(role.permissions_boundary_arn)
                sets.append(parse_policy(_managed_document(backend, boundary)))
            except NotFoundException:
                sets.append([])
        if caller.session_policy:
            sets.append(parse_policy(caller.session_policy))
        return sets
    if caller.kind is CallerKind.USER and caller.user_name in backend.users:
        user = backend.users[caller.user_name]
        statements = _policy_set(backend, user.policies, user.managed_policies.values())
        for group in list(backend.groups.values()):
            if user in group.users:
                statements += _policy_set(backend, group.policies, group.managed_policies.values())
        return [statements]
    return None


def is_action_allowed(caller: Caller, action: str, region: str) -> bool:
    sets = identity_policy_sets(caller)
    if sets is None:
        return False
    context = {
        "aws:principalaccount": caller.account_id,
        "aws:principalarn": caller.principal_arn,
        "aws:requestedregion": region,
    }
    return all(
        evaluate(statements, action, context=context, unknown_conditions=IGNORE_UNKNOWN)
        is Decision.ALLOW
        for statements in sets
    )


def check_ec2_permission(request: ApiRequest, caller: Caller) -> Rejection | None:
    action = f"ec2:{request.action}"
    if is_action_allowed(caller, action, request.region):
        return None
    return Rejection(
        403,
        "UnauthorizedOperation",
        f"You are not authorized to perform this operation. User: {caller.arn} "
        f"is not authorized to perform: {action}",
        "ec2",
    )


# Services whose calls are checked against the caller's policies, and the
# error AWS answers each with when a permission is missing.
CHECKED_SERVICES = ("ec2", "rds", "autoscaling")


def check_service_permission(request: ApiRequest, caller: Caller) -> Rejection | None:
    """EC2, RDS and Auto Scaling calls by IAM users and assumed roles: allowed
    by their policies, or refused the way each service refuses."""
    if request.service == "ec2":
        return check_ec2_permission(request, caller)
    action = f"{request.service}:{request.action}"
    if is_action_allowed(caller, action, request.region):
        return None
    return Rejection(
        403,
        "AccessDenied",
        f"User: {caller.arn} is not authorized to perform: {action} on resource: "
        f"arn:aws:{request.service}:{request.region}:{caller.account_id}:*",
        request.service,
    )


# Auto Scaling calls naming a group, and where the name is.
_GROUP_PARAMS = {
    "SuspendProcesses": "AutoScalingGroupName",
    "ResumeProcesses": "AutoScalingGroupName",
    "CreateOrUpdateTags": "Tags.member.1.ResourceId",
}


def check_autoscaling_group_exists(request: ApiRequest, account_id: str) -> Rejection | None:
    """AWS answers ValidationError for a group that does not exist (moto fails
    with a server error for these calls): Parkway's permission probes rely on it."""
    from moto.autoscaling.models import autoscaling_backends

    param = _GROUP_PARAMS.get(request.action)
    if request.service != "autoscaling" or param is None or param not in request.params:
        return None
    backend = dict.get(dict.get(autoscaling_backends, account_id) or {}, request.region)
    name = request.params[param]
    if backend is not None and name in backend.autoscaling_groups:
        return None
    return Rejection(400, "ValidationError", f"AutoScalingGroup name not found - {name}", "autoscaling")
