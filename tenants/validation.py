"""Validation of the AWS identifiers customers and staff type in.

Every function raises django's ValidationError with a message a customer can
act on; forms, admin and services all use these, so the rules live once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import boto3
from django.conf import settings
from django.core.exceptions import ValidationError

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

ACCOUNT_ID_RE = re.compile(r"^[0-9]{12}$")
# Tenant.slug (a SlugField of 60), for checking a slug typed on a command line
# before it reaches a query (PostgreSQL refuses a NUL byte with an error).
TENANT_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,60}", re.ASCII)
# Long-term IAM user keys start with AKIA; ASIA keys are temporary and expire.
ACCESS_KEY_ID_RE = re.compile(r"^AKIA[A-Z0-9]{16}$")
SECRET_ACCESS_KEY_RE = re.compile(r"^[A-Za-z0-9/+=]{40}$")
ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account_id>[0-9]{12}):role/"
    r"(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,
)
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
# An IAM role's name on its own (the last part of ROLE_ARN_RE).
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
# CloudCredential.role_arn holds this many; AWS's own limit is 2048 too.
ROLE_ARN_MAX_LENGTH = 2048


@dataclass(frozen=True)
class RoleArn:
    partition: str
    account_id: str
    name: str
    arn: str


def validate_account_id(value: str) -> None:
    if not ACCOUNT_ID_RE.match(value or ""):
        raise ValidationError(
            "An AWS account ID is exactly 12 digits, for example 123456789012 (got %(value)r).",
            code="invalid_account_id",
            params={"value": value},
        )


def is_parkway_account(account_id: str) -> bool:
    """Is this Parkway's own AWS account (the one customers' roles trust)?"""
    ours = settings.PARKWAY_AWS_ACCOUNT_ID
    return bool(ours) and (account_id or "").strip() == ours


def parkway_account_message(account_id: str, *, staff: bool = False) -> str:
    """Why Parkway's own account ID is refused, for a customer or (`staff`) for the admin."""
    if staff:
        return (
            f"{account_id} is Parkway's own AWS account — the one customers' roles trust. "
            "Enter the customer's account ID, where their machines run."
        )
    return (
        f"{account_id} is Parkway's own AWS account — the one your role trusts. "
        "Enter the ID of your account, where your machines run."
    )


def validate_customer_account_id(value: str, *, staff: bool = False) -> None:
    """An account ID a customer may connect: 12 digits, and not Parkway's own.

    Parkway's own account ID is shown (with a Copy button) right above the
    connect form, so it is the ID most often pasted by mistake; accepted, it
    would fail on every tick. `staff` words the refusal for the admin."""
    validate_account_id(value)
    if is_parkway_account(value):
        raise ValidationError(parkway_account_message(value, staff=staff), code="parkway_account")


def validate_access_key_id(value: str) -> None:
    if not ACCESS_KEY_ID_RE.match(value or ""):
        raise ValidationError(
            "An IAM user's access key ID starts with AKIA and has 20 upper-case letters and digits.",
            code="invalid_access_key_id",
        )


def validate_secret_access_key(value: str) -> None:
    # The value itself is never echoed back: it is a secret.
    if not SECRET_ACCESS_KEY_RE.match(value or ""):
        raise ValidationError(
            "A secret access key has 40 characters (letters, digits, '/', '+' and '=').",
            code="invalid_secret_access_key",
        )


def validate_external_id(value: str) -> None:
    if not EXTERNAL_ID_RE.match(value or ""):
        raise ValidationError(
            "An External ID has 2 to 1224 characters of letters, digits and + = , . @ : / - _.",
            code="invalid_external_id",
        )


def parse_role_arn(value: str) -> RoleArn:
    """Check a role ARN's grammar and that it is in this deployment's partition."""
    value = (value or "").strip()
    if len(value) > ROLE_ARN_MAX_LENGTH:
        raise ValidationError(
            "A role ARN has at most %(limit)d characters (this one has %(length)d).",
            code="max_length",
            params={"limit": ROLE_ARN_MAX_LENGTH, "length": len(value)},
        )
    match = ROLE_ARN_RE.match(value)
    if not match:
        raise ValidationError(
            "Enter an IAM role ARN such as arn:aws:iam::123456789012:role/%(role)s.",
            code="invalid_role_arn",
            params={"role": settings.PARKWAY_ROLE_NAME},
        )
    partition = match["partition"]
    ours = settings.PARKWAY_AWS_PARTITION
    if partition != ours:
        raise ValidationError(
            "This role is in the AWS partition '%(theirs)s', but Parkway here serves '%(ours)s'. "
            "IAM roles cannot be assumed across partitions: create the role in an account "
            "of the '%(ours)s' partition.",
            code="partition_mismatch",
            params={"theirs": partition, "ours": ours},
        )
    return RoleArn(partition=partition, account_id=match["account_id"], name=match["name"], arn=value)


def validate_role_arn_for_account(value: str, *, account_id: str) -> RoleArn:
    role = parse_role_arn(value)
    if role.account_id != account_id:
        raise ValidationError(
            "The role belongs to AWS account %(theirs)s, not to this account (%(ours)s). "
            "Create the role in account %(ours)s.",
            code="account_mismatch",
            params={"theirs": role.account_id, "ours": account_id},
        )
    return role


@lru_cache(maxsize=8)
def regions_of(partition: str) -> frozenset[str]:
    """The EC2 regions botocore knows for a partition (no AWS call)."""
    return frozenset(boto3.session.Session().get_available_regions("ec2", partition_name=partition))


def validate_regions(regions: object, *, partition: str) -> list[str]:
    if not isinstance(regions, (list, tuple)) or not all(isinstance(r, str) for r in regions):
        raise ValidationError("Regions must be a list of region names.", code="invalid_regions")
    # Region names are lower case; "EU-West-1" typed by a person means eu-west-1.
    cleaned = [r.strip().lower() for r in regions if r.strip()]
    if not cleaned:
        raise ValidationError("Choose at least one region, for example us-east-1.", code="no_regions")
    known = regions_of(partition)
    unknown = [r for r in cleaned if r not in known]
    if unknown:
        raise ValidationError(
            "Unknown region(s) for partition '%(partition)s': %(unknown)s.",
            code="unknown_region",
            params={"partition": partition, "unknown": ", ".join(unknown)},
        )
    return list(dict.fromkeys(cleaned))


MASK = "…"


def mask_key_id(access_key_id: str) -> str:
    """AKIA…WXYZ: enough to recognise a key, not enough to use it. Idempotent."""
    if not access_key_id or MASK in access_key_id:
        return access_key_id or ""
    return f"{access_key_id[:4]}{MASK}{access_key_id[-4:]}"


def validate_timezone(value: str) -> None:
    from portal.zones import zone_names

    if value and value not in zone_names():
        raise ValidationError(
            "Unknown time zone %(value)r: choose an IANA zone such as Europe/Berlin or UTC.",
            code="invalid_timezone",
            params={"value": value[:64]},
        )
