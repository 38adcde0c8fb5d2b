"""`credential_verify`: prove, end to end, that Parkway can park in an account.

AssumeRole (roles) → GetCallerIdentity (the account must match) → a permission
probe for exactly what parking needs (DescribeInstances, and StopInstances /
StartInstances with DryRun=True, which answers DryRunOperation when permitted
and UnauthorizedOperation when not, without touching a machine).

The first success also *claims* the account for its tenant (`account_claim`):
assuming the role with this tenant's External ID is what proves that the
account's owner set Parkway up for them. So that the proof means something, an
unclaimed account's role must refuse an External ID that is nobody's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants import aws
from tenants.models import CloudAccount, CloudCredential
from tenants.audit import Actor, audit_record
from tenants.permissions import ADMINISTER, require
from tenants.services import account_claim
from tenants.validation import is_parkway_account, parkway_account_message

# A well-formed ID that exists nowhere: with DryRun=True AWS checks the
# permission before it looks for the instance.
PROBE_INSTANCE_ID = "i-0000000000000000f"
PERMISSION_PROBES = (("StopInstances", "ec2:StopInstances"), ("StartInstances", "ec2:StartInstances"))


@dataclass
class VerifyResult:
    ok: bool
    message: str
    code: str = ""
    permanent: bool = True
    caller_account: str = ""
    checks: list[tuple[str, bool]] = field(default_factory=list)
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
        sts = clients.client("sts")
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
        ec2 = clients.client("ec2", region)
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
    return VerifyResult(ok=True, code="OK", message=message, caller_account=caller_account, checks=checks)


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
        account.save(update_fields=["status", "last_verified_at", "last_error"])
        if result.ok and credential.pk is not None:
            credential.verified_at = now
            credential.save(update_fields=["verified_at"])
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
