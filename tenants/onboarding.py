"""What a customer needs to create Parkway's role: one source of truth.

The trust policy, the least-privilege permission policy, the CloudFormation
template that creates the role with both, and the console quick-create link are
all built here, so the self-service page, emails, the admin and tests agree.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import yaml
from django.conf import settings

from tenants.models import Tenant

POLICY_VERSION = "2012-10-17"
STACK_NAME = "Parkway"
ROLE_DESCRIPTION = "Assumed by Parkway to park EC2 instances, RDS databases and Auto Scaling groups on schedules."
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}

# What parking needs and nothing more, per AWS service: "read" lets Parkway
# inventory the service's resources, "park" start and stop them. The policy,
# the template, the quick-create link and the connection test's probes
# (tenants.verification) are all built from this one table.
KIND_ACTIONS: dict[str, dict[str, list[str]]] = {
    "ec2": {
        "read": ["ec2:DescribeInstances"],
        "park": ["ec2:StartInstances", "ec2:StopInstances"],
    },
    "rds": {
        # Tags come with the describe answers; ListTagsForResource is the
        # fallback for resources whose answer carries none.
        "read": ["rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:ListTagsForResource"],
        "park": ["rds:StartDBInstance", "rds:StopDBInstance", "rds:StartDBCluster", "rds:StopDBCluster"],
    },
    "autoscaling": {
        "read": ["autoscaling:DescribeAutoScalingGroups"],
        "park": [
            "autoscaling:UpdateAutoScalingGroup", "autoscaling:SuspendProcesses",
            "autoscaling:ResumeProcesses", "autoscaling:CreateOrUpdateTags",
        ],
    },
}
# What each service's "park" permission lets Parkway park, for messages.
KIND_NOUNS = {"ec2": "EC2 instances", "rds": "databases", "autoscaling": "Auto Scaling groups"}
# The tag Parkway writes on a group before scaling it to zero (scheduling.kinds.SIZES_TAG).
SIZES_TAG = "parkway:sizes"
# Kept for callers that predate the other kinds.
PARKING_ACTIONS = {"inventory": KIND_ACTIONS["ec2"]["read"], "parking": KIND_ACTIONS["ec2"]["park"]}


LEVEL_LABELS = {"park": "park", "read": "read only", "none": "no access"}


def kind_access_summary(kind_access: dict[str, dict]) -> str:
    """"EC2: park; RDS: read only — add rds:StopDBInstance to park databases." """
    parts = []
    for service, label in (("ec2", "EC2"), ("rds", "RDS"), ("autoscaling", "Auto Scaling")):
        entry = kind_access.get(service)
        if not entry:
            continue
        text = f"{label}: {LEVEL_LABELS.get(entry['level'], entry['level'])}"
        if entry.get("missing"):
            goal = "see and park" if entry["level"] == "none" else "park"
            text += f" — add {', '.join(entry['missing'])} to {goal} {KIND_NOUNS[service]}"
        parts.append(text)
    return "; ".join(parts) + "."


def all_actions() -> list[str]:
    """Every action the permission policy grants, once each."""
    return [action for levels in KIND_ACTIONS.values() for level in ("read", "park") for action in levels[level]]


def _our_principal(partition: str | None = None) -> str:
    partition = partition or settings.PARKWAY_AWS_PARTITION
    return f"arn:{partition}:iam::{settings.PARKWAY_AWS_ACCOUNT_ID}:root"


def trust_policy(tenant: Tenant) -> dict[str, Any]:
    """Lets only our account assume the role, and only with this tenant's External ID."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ParkwayAssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": _our_principal()},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": tenant.external_id}},
            }
        ],
    }


def permission_policy(partition: str | None = None) -> dict[str, Any]:
    partition = partition or settings.PARKWAY_AWS_PARTITION
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ParkwayInventory",
                "Effect": "Allow",
                "Action": [a for levels in KIND_ACTIONS.values() for a in levels["read"]],
                # Describe* calls do not support resource-level permissions.
                "Resource": "*",
            },
            {
                "Sid": "ParkwayStartStop",
                "Effect": "Allow",
                "Action": KIND_ACTIONS["ec2"]["park"],
                "Resource": f"arn:{partition}:ec2:*:*:instance/*",
            },
            {
                "Sid": "ParkwayStartStopDatabases",
                "Effect": "Allow",
                "Action": KIND_ACTIONS["rds"]["park"],
                "Resource": [f"arn:{partition}:rds:*:*:db:*", f"arn:{partition}:rds:*:*:cluster:*"],
            },
            {
                "Sid": "ParkwayScaleGroups",
                "Effect": "Allow",
                "Action": [a for a in KIND_ACTIONS["autoscaling"]["park"] if a != "autoscaling:CreateOrUpdateTags"],
                "Resource": f"arn:{partition}:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*",
            },
            {
                # The one tag Parkway writes (a group's sizes before it is
                # scaled to zero), and no other.
                "Sid": "ParkwayRememberGroupSizes",
                "Effect": "Allow",
                "Action": "autoscaling:CreateOrUpdateTags",
                "Resource": f"arn:{partition}:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*",
                "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": [SIZES_TAG]}},
            },
            {
                # Without it, an instance whose EBS volumes use a customer-managed
                # KMS key silently falls back to stopped when started.
                "Sid": "ParkwayStartEncryptedVolumes",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def cloudformation_template(tenant: Tenant) -> str:
    """YAML template creating PARKWAY_ROLE_NAME with the two policies.

    Written with the JSON forms of intrinsics (Fn::Sub, Ref) so it is plain
    YAML that any parser reads, not CloudFormation's short `!Sub` tags.
    """
    statements = permission_policy(partition="${AWS::Partition}")["Statement"]
    for statement in statements:
        resource = statement.get("Resource", "")
        if isinstance(resource, list):
            statement["Resource"] = [{"Fn::Sub": r} if "${" in r else r for r in resource]
        elif "${" in resource:
            statement["Resource"] = {"Fn::Sub": resource}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "Parkway: lets Parkway inventory, stop and start your EC2 instances, RDS databases and "
            "clusters, and scale your Auto Scaling groups on schedules."
        ),
        "Parameters": {
            "ExternalId": {
                "Type": "String",
                "Default": tenant.external_id,
                "MinLength": 2,
                "MaxLength": 1224,
                "AllowedPattern": r"[\w+=,.@:/-]*",
                "Description": "Your External ID from the Parkway page. Do not change it.",
            },
            "ParkwayAccountId": {
                "Type": "String",
                "Default": settings.PARKWAY_AWS_ACCOUNT_ID,
                "AllowedPattern": r"\d{12}",
                "Description": "Parkway's AWS account.",
            },
        },
        "Resources": {
            "ParkwayAccessRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": settings.PARKWAY_ROLE_NAME,
                    "Description": ROLE_DESCRIPTION,
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": POLICY_VERSION,
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ParkwayAccountId}:root"}},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "ParkwayParking",
                            "PolicyDocument": {"Version": POLICY_VERSION, "Statement": statements},
                        }
                    ],
                },
            }
        },
        "Outputs": {
            "RoleArn": {
                "Description": "Paste this into Parkway.",
                "Value": {"Fn::GetAtt": ["ParkwayAccessRole", "Arn"]},
            }
        },
    }
    return yaml.safe_dump(template, sort_keys=False, width=120)


def quick_create_url(tenant: Tenant, *, region: str | None = None) -> str:
    """The console link that opens the stack with the External ID filled in.

    Empty when PARKWAY_TEMPLATE_URL is not set: CloudFormation's quick-create
    needs the template hosted (S3); the customer can still upload the download.
    """
    if not settings.PARKWAY_TEMPLATE_URL:
        return ""
    partition = settings.PARKWAY_AWS_PARTITION
    host = CONSOLE_HOSTS.get(partition, CONSOLE_HOSTS["aws"])
    region = region or settings.PARKWAY_AWS_DEFAULT_REGION
    query = urlencode(
        {
            "templateURL": settings.PARKWAY_TEMPLATE_URL,
            "stackName": STACK_NAME,
            "param_ExternalId": tenant.external_id,
            "param_ParkwayAccountId": settings.PARKWAY_AWS_ACCOUNT_ID,
        }
    )
    return f"https://{host}/cloudformation/home?region={region}#/stacks/quickcreate?{query}"


def policy_json(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2)


# --------------------------------------------------------------------------- Terraform

# The module's README: shown on the Connect page and as the file's header, so
# the two cannot disagree. Run in an empty directory holding the downloaded file.
TERRAFORM_STEPS: tuple[tuple[str, str], ...] = (
    ("terraform init", "downloads the AWS provider"),
    ("terraform apply", "shows the role and its two policies; answer yes to create them"),
    ("terraform output", "prints role_arn and account_id: paste both into Parkway's Connect form"),
)


def _hcl_string(text: str) -> str:
    """A quoted HCL string that Terraform reads back as exactly `text`.

    HCL strings are templates: "${" and "%{" would start an interpolation or
    a directive, so they are doubled, as the HCL spec says.
    """
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    body = "".join(
        escapes.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch) for ch in text
    )
    return '"' + body.replace("${", "$${").replace("%{", "%%{") + '"'


def _hcl_value(value: Any, indent: int) -> str:
    """`value` (a policy: dicts, lists, strings) as an HCL expression laid out as `terraform fmt` would."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _hcl_string(value)
    inner = "  " * (indent + 1)
    if isinstance(value, list):
        items = "".join(f"{inner}{_hcl_value(item, indent + 1)},\n" for item in value)
        return f"[\n{items}{'  ' * indent}]"
    lines: list[str] = []
    # terraform fmt aligns the "=" of consecutive one-line attributes; a
    # multi-line one stands alone.
    group: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(key) for key, _ in group), default=0)
        lines.extend(f"{inner}{key.ljust(width)} = {rendered}" for key, rendered in group)
        group.clear()

    for key, item in value.items():
        rendered = _hcl_value(item, indent + 1)
        if "\n" in rendered:
            flush()
            lines.append(f"{inner}{_hcl_string(key)} = {rendered}")
        else:
            group.append((_hcl_string(key), rendered))
    flush()
    return "{\n" + "".join(line + "\n" for line in lines) + "  " * indent + "}"


def terraform_module(tenant: Tenant) -> str:
    """A one-file Terraform root module (main.tf) creating the same role as the CloudFormation template.

    The policies are the very dicts of `trust_policy` and `permission_policy`,
    written as HCL objects and passed through jsonencode, so Terraform and
    CloudFormation customers get the same role.
    """
    width = max(len(command) for command, _ in TERRAFORM_STEPS)
    steps = "".join(f"#   {command.ljust(width)}   # {why}\n" for command, why in TERRAFORM_STEPS)
    role_name = _hcl_string(settings.PARKWAY_ROLE_NAME)
    return f"""\
# Parkway: the IAM role Parkway assumes to inventory, stop and start your EC2
# instances, RDS databases and clusters, and to scale your Auto Scaling groups
# on schedules. Only Parkway's account ({settings.PARKWAY_AWS_ACCOUNT_ID}) may assume it, and only with
# your organisation's External ID, which is written below: keep this file out
# of public places.
#
# In an empty directory holding this file, with credentials for the AWS
# account to connect:
#
{steps}
terraform {{
  required_version = ">= 1.0"
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = ">= 4.0"
    }}
  }}
}}

# IAM is global; the provider needs a region all the same.
variable "region" {{
  type    = string
  default = {_hcl_string(settings.PARKWAY_AWS_DEFAULT_REGION)}
}}

provider "aws" {{
  region = var.region
}}

locals {{
  # Lets only Parkway's account assume the role, and only with your External ID.
  trust_policy = {_hcl_value(trust_policy(tenant), 1)}

  # What parking needs and nothing more.
  permission_policy = {_hcl_value(permission_policy(), 1)}
}}

resource "aws_iam_role" "parkway" {{
  name                 = {role_name}
  description          = {_hcl_string(ROLE_DESCRIPTION)}
  max_session_duration = 3600
  assume_role_policy   = jsonencode(local.trust_policy)
}}

resource "aws_iam_role_policy" "parkway" {{
  name   = "ParkwayParking"
  role   = aws_iam_role.parkway.id
  policy = jsonencode(local.permission_policy)
}}

data "aws_caller_identity" "current" {{}}

output "role_arn" {{
  description = "Paste this into Parkway."
  value       = aws_iam_role.parkway.arn
}}

output "account_id" {{
  description = "The account Parkway connects to."
  value       = data.aws_caller_identity.current.account_id
}}
"""
