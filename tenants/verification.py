"""`credential_verify`: prove, end to end, that Parkway can park in an account.

AssumeRole (roles) → GetCallerIdentity (the account must match) → a permission
probe for exactly what parking needs (DescribeInstances, and StopInstances /
StartInstances with DryRun=True, which answers DryRunOperation when permitted
and UnauthorizedOperation when not, without touching a machine) → the same
per kind for RDS and Auto Scaling (`kind_access_probe`), which have no DryRun:
their actions are called on a name that exists nowhere, which AWS refuses as
unknown once the permission passed, or as AccessDenied. What each kind allows
("EC2: park; RDS: read only — add rds:StopDBInstance to park databases") is
stored on the account; only EC2 decides whether the connection works.

The first success also *claims* the account for its tenant (`account_claim`):
assuming the role with this tenant's External ID is what proves that the
account's owner set Parkway up for them. So that the proof means something, an
unclaimed account's role must refuse an External ID that is nobody's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications import credentials as credential_notices
from tenants import aws
from tenants.models import CloudAccount, CloudCredential
from tenants.onboarding import KIND_ACTIONS, SIZES_TAG, kind_access_summary
from tenants.audit import Actor, actor_label, audit_record
from tenants.permissions import ADMINISTER, require
from tenants.services import account_claim
from tenants.validation import is_parkway_account, parkway_account_message

# A well-formed ID that exists nowhere: with DryRun=True AWS checks the
# permission before it looks for the instance.
PROBE_INSTANCE_ID = "i-0000000000000000f"
PERMISSION_PROBES = (("StopInstances", "ec2:StopInstances"), ("StartInstances", "ec2:StartInstances"))
# A name no database, cluster or group has (AWS identifiers: letters, digits, hyphens).
PROBE_NAME = "parkway-permission-probe-0000"


@dataclass
class VerifyResult:
    ok: bool
    message: str
    code: str = ""
    permanent: bool = True
    caller_account: str = ""
    checks: list[tuple[str, bool]] = field(default_factory=list)
    # Per service ("ec2", "rds", "autoscaling"): {"level": park|read|none, "missing": [...]}.
    kind_access: dict[str, dict] = field(default_factory=dict)
    # The same outcome worded for Parkway's staff ("" = `message` serves both).
    staff_message: str = ""

    @property
    def for_staff(self) -> str:
        return self.staff_message or self.message

    @property
    def status(self) -> str:
        return CloudAccount.Status.CONNECTED if self.ok else CloudAccount.Status.ERROR


def _probe(credential: CloudCredential) -> VerifyResult:
    account = credential.account
    checks: list[tuple[str, bool]] = []
    try:
        clients = aws.fresh_clients(credential)
        sts = aws.client(clients, "sts")
        identity = sts.get_caller_identity()
        checks.append(("sts:AssumeRole" if credential.kind == credential.Kind.ROLE else "credentials", True))
        if credential.kind == credential.Kind.ROLE and account.claimed_at is None:
            if aws.role_accepts_any_external_id(credential):
                checks.append(("sts:ExternalId required", False))
                return VerifyResult(
                    ok=False,
                    code="ExternalIdNotRequired",
                    message=(
                        f"The role {credential.role_arn} lets Parkway in without your External ID, so anyone with "
                        "a Parkway account could point Parkway at it. Add the condition sts:ExternalId = "
                        f"{account.tenant.external_id} to its trust policy (our template does), then test again."
                    ),
                    staff_message=(
                        f"The role {credential.role_arn} lets Parkway in without the tenant's External ID, so anyone "
                        "with a Parkway account could point Parkway at it. The customer must add the condition "
                        f"sts:ExternalId = {account.tenant.external_id} to its trust policy (our template does)."
                    ),
                    checks=checks,
                )
            checks.append(("sts:ExternalId required", True))
        caller_account = identity["Account"]
        if caller_account != account.account_id:
            return VerifyResult(
                ok=False,
                code="WrongAccount",
                message=(
                    f"These credentials act in AWS account {caller_account}, not in {account.account_id}. "
                    f"Create the role in account {account.account_id}."
                ),
                caller_account=caller_account,
                checks=checks,
            )
        region = (account.regions or [aws.default_region()])[0]
        ec2 = aws.client(clients, "ec2", region)
        ec2.describe_instances(MaxResults=5)
        checks.append(("ec2:DescribeInstances", True))
        for operation, action in PERMISSION_PROBES:
            try:
                getattr(ec2, _snake(operation))(InstanceIds=[PROBE_INSTANCE_ID], DryRun=True)
            except aws.AWS_ERRORS as exc:
                if not aws.answered(exc):
                    raise
                code = aws.error_fields(exc)[0]
                if code in aws.DENIED_CODES:
                    checks.append((action, False))
                    return VerifyResult(
                        ok=False,
                        code=code,
                        message=(
                            f"The connection works, but Parkway lacks the permission {action}, which parking needs. "
                            "Update the stack with Parkway's latest template (or add the permission to the policy)."
                        ),
                        caller_account=caller_account,
                        checks=checks,
                    )
                # DryRunOperation means permitted; an instance error means the
                # permission check already passed.
                if code != "DryRunOperation" and not code.startswith("InvalidInstanceID"):
                    raise
            checks.append((action, True))
        kind_access = {"ec2": {"level": "park", "missing": []}} | kind_access_probe(
            clients, region=region, account_id=caller_account, partition=account.partition
        )
        for service in ("rds", "autoscaling"):
            missing = set(kind_access[service]["missing"])
            checks.extend((action, action not in missing) for level in ("read", "park") for action in KIND_ACTIONS[service][level])
    except (*aws.AWS_ERRORS, aws.AwsError) as exc:
        error = aws.translate_error(exc, role_arn=credential.role_arn)
        return VerifyResult(
            ok=False, code=error.code, message=error.message, staff_message=error.staff_message,
            permanent=error.permanent, checks=checks,
        )
    if credential.kind == credential.Kind.LEGACY_USER:
        message = (
            "Connected with legacy IAM user keys. They never expire and work from anywhere: "
            "switch this account to an IAM role."
        )
    else:
        message = "Connected: Parkway can see and park the machines in this account."
    if any(entry["level"] != "park" for entry in kind_access.values()):
        message = f"{message} {kind_access_summary(kind_access)}"
    return VerifyResult(
        ok=True, code="OK", message=message, caller_account=caller_account, checks=checks, kind_access=kind_access
    )


def _allowed(call: Any, **params: Any) -> bool:
    """Did AWS let the call through its permission check? Any answer but a
    refusal says yes (the probe names nothing that exists); no answer raises."""
    try:
        call(**params)
    except aws.AWS_ERRORS as exc:
        if not aws.answered(exc):
            raise
        return aws.error_fields(exc)[0] not in aws.DENIED_CODES
    return True


def kind_access_probe(clients: aws.AccountSession, *, region: str, account_id: str, partition: str) -> dict[str, dict]:
    """What the role may do with RDS and Auto Scaling: one call per action of
    KIND_ACTIONS (tenants.onboarding), none of which changes anything."""
    rds = aws.client(clients, "rds", region)
    groups = aws.client(clients, "autoscaling", region)
    probe_arn = f"arn:{partition}:rds:{region}:{account_id}:db:{PROBE_NAME}"
    tag = {"ResourceId": PROBE_NAME, "ResourceType": "auto-scaling-group", "Key": SIZES_TAG, "Value": "0/0/0",
           "PropagateAtLaunch": False}
    probes: dict[str, Callable[[], bool]] = {
        "rds:DescribeDBInstances": lambda: _allowed(rds.describe_db_instances, MaxRecords=20),
        "rds:DescribeDBClusters": lambda: _allowed(rds.describe_db_clusters, MaxRecords=20),
        "rds:ListTagsForResource": lambda: _allowed(rds.list_tags_for_resource, ResourceName=probe_arn),
        "rds:StartDBInstance": lambda: _allowed(rds.start_db_instance, DBInstanceIdentifier=PROBE_NAME),
        "rds:StopDBInstance": lambda: _allowed(rds.stop_db_instance, DBInstanceIdentifier=PROBE_NAME),
        "rds:StartDBCluster": lambda: _allowed(rds.start_db_cluster, DBClusterIdentifier=PROBE_NAME),
        "rds:StopDBCluster": lambda: _allowed(rds.stop_db_cluster, DBClusterIdentifier=PROBE_NAME),
        "autoscaling:DescribeAutoScalingGroups": lambda: _allowed(groups.describe_auto_scaling_groups, MaxRecords=1),
        "autoscaling:UpdateAutoScalingGroup": lambda: _allowed(
            groups.update_auto_scaling_group, AutoScalingGroupName=PROBE_NAME),
        "autoscaling:SuspendProcesses": lambda: _allowed(
            groups.suspend_processes, AutoScalingGroupName=PROBE_NAME, ScalingProcesses=["AZRebalance"]),
        "autoscaling:ResumeProcesses": lambda: _allowed(
            groups.resume_processes, AutoScalingGroupName=PROBE_NAME, ScalingProcesses=["AZRebalance"]),
        "autoscaling:CreateOrUpdateTags": lambda: _allowed(groups.create_or_update_tags, Tags=[tag]),
    }
    access: dict[str, dict] = {}
    for service in ("rds", "autoscaling"):
        levels = KIND_ACTIONS[service]
        missing = [action for level in ("read", "park") for action in levels[level] if not probes[action]()]
        level = "none" if set(levels["read"][:2]) & set(missing) else ("read" if missing else "park")
        access[service] = {"level": level, "missing": missing}
    return access



def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def credential_verify(*, credential: CloudCredential, actor: Actor, record: bool = True) -> VerifyResult:
    """Verify a credential end to end; with `record`, store the outcome on the account
    (and claim the account for its tenant on the first success).

    `record=False` serves pre-checks of a role that is not active yet (migration):
    the account and its status are left alone.
    """
    account_id = credential.account.account_id
    if is_parkway_account(account_id):
        # Registered before the forms refused it: assuming a role in our own
        # account proves nothing about a customer, so it is never claimed.
        result = VerifyResult(
            ok=False, code="ParkwayAccount", message=parkway_account_message(account_id),
            staff_message=parkway_account_message(account_id, staff=True),
        )
    else:
        result = _probe(credential)
    if not record or result.code == aws.LEGACY_PAUSED:
        # Paused by the legacy deadline is not a failure of the account: its
        # status and last error stay as they were until it switches to a role.
        return result
    account = credential.account
    now = timezone.now()
    with transaction.atomic():
        if result.ok and account.claimed_at is None:
            try:
                account_claim(account=account, actor=actor, proof=str(credential), at=now)
            except ValidationError as exc:
                (error,) = exc.error_dict["account_id"]
                gone = error.code == "registration_gone"
                owner = None if gone else CloudAccount.objects.owner_elsewhere(account)
                result = VerifyResult(
                    ok=False,
                    code="RegistrationGone" if gone else "AccountTaken",
                    message=" ".join(error.messages),
                    # Staff see every tenant: name the one that holds it.
                    staff_message=CloudAccount.taken_by_message(owner.tenant) if owner is not None else "",
                    checks=result.checks,
                )
                if gone:
                    return result  # nothing left to record on
        if account.status != CloudAccount.Status.DISABLED:
            account.status = result.status
        account.last_verified_at = now
        account.last_error = "" if result.ok else result.message
        fields = ["status", "last_verified_at", "last_error"]
        if result.ok:
            # The tick asks again for what is granted now (scheduling.inventory).
            account.kind_access = result.kind_access
            fields.append("kind_access")
        account.save(update_fields=fields)
        if result.ok and credential.pk is not None:
            credential.verified_at = now
            credential.save(update_fields=["verified_at"])
        # Told to the tenant's channels that chose credential problems: once until it works again.
        if result.ok:
            credential_notices.connection_works(account=account)
        elif result.permanent:
            credential_notices.connection_failed(
                account=account, message=result.message, found_by=f"the connection test by {actor_label(actor)}"
            )
        audit_record(
            action="credential.verified" if result.ok else "credential.verify_failed",
            actor=actor,
            account=account,
            details={
                "credential": str(credential),
                "code": result.code,
                "message": result.message,
                "checks": [list(c) for c in result.checks],
            },
        )
    return result


def account_verify(*, account: CloudAccount, actor: Actor) -> VerifyResult:
    """Test the account's active credential (and claim the account on its first success)."""
    require(actor, account.tenant, ADMINISTER)
    credential = account.active_credential()
    if credential is None:
        return VerifyResult(ok=False, code="NoCredential", message="This account has no active credential.")
    return credential_verify(credential=credential, actor=actor)
