import ast
import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml

from tenants import onboarding

pytestmark = pytest.mark.django_db

# What the issue allows, written out here rather than read from the code under test.
EXACT_ACTIONS = {
    "ec2:DescribeInstances", "ec2:StartInstances", "ec2:StopInstances", "kms:CreateGrant",
    "rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:ListTagsForResource",
    "rds:StartDBInstance", "rds:StopDBInstance", "rds:StartDBCluster", "rds:StopDBCluster",
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses", "autoscaling:CreateOrUpdateTags",
}


def _actions(statement):
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_trust_policy_names_our_account_and_the_tenant_external_id(acme):
    policy = json.loads(onboarding.policy_json(onboarding.trust_policy(acme)))
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": acme.external_id}}


def test_permission_policy_is_least_privilege_for_parking():
    policy = json.loads(onboarding.policy_json(onboarding.permission_policy()))
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    assert actions == EXACT_ACTIONS
    assert not any("*" in a for a in actions)
    kms = next(s for s in policy["Statement"] if s["Action"] == "kms:CreateGrant")
    assert kms["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_cloudformation_template_creates_the_role_with_both_policies(acme, settings):
    template = yaml.safe_load(onboarding.cloudformation_template(acme))
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Parameters"]["ExternalId"]["Default"] == acme.external_id
    assert template["Parameters"]["ParkwayAccountId"]["Default"] == "123456789012"
    role = template["Resources"]["ParkwayAccessRole"]
    assert role["Type"] == "AWS::IAM::Role"
    props = role["Properties"]
    assert props["RoleName"] == settings.PARKWAY_ROLE_NAME
    assert props["MaxSessionDuration"] >= 3600
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert trust["Principal"]["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${ParkwayAccountId}:root"}
    (inline,) = props["Policies"]
    granted = {a for s in inline["PolicyDocument"]["Statement"] for a in _actions(s)}
    assert granted == EXACT_ACTIONS
    assert template["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": ["ParkwayAccessRole", "Arn"]}


def test_quick_create_link_prefills_the_external_id(acme, settings):
    settings.PARKWAY_TEMPLATE_URL = "https://parkway-templates.s3.amazonaws.com/parkway-role.yaml"
    url = onboarding.quick_create_url(acme)
    parts = urlsplit(url)
    assert parts.netloc == "console.aws.amazon.com"
    route, _, query = parts.fragment.partition("?")
    assert route == "/stacks/quickcreate"
    params = parse_qs(query)
    assert params["param_ExternalId"] == [acme.external_id]
    assert params["templateURL"] == [settings.PARKWAY_TEMPLATE_URL]
    assert params["param_ParkwayAccountId"] == ["123456789012"]


def test_quick_create_link_is_empty_without_a_published_template(acme, settings):
    settings.PARKWAY_TEMPLATE_URL = ""
    assert onboarding.quick_create_url(acme) == ""


def test_govcloud_documents_use_its_partition_and_console(acme, settings):
    settings.PARKWAY_AWS_PARTITION = "aws-us-gov"
    settings.PARKWAY_TEMPLATE_URL = "https://example.invalid/t.yaml"
    assert onboarding.trust_policy(acme)["Statement"][0]["Principal"]["AWS"].startswith("arn:aws-us-gov:iam::")
    assert "console.amazonaws-us-gov.com" in onboarding.quick_create_url(acme, region="us-gov-west-1")


def test_template_scopes_what_aws_can_scope_and_nothing_is_broader(acme):
    template = yaml.safe_load(onboarding.cloudformation_template(acme))
    (inline,) = template["Resources"]["ParkwayAccessRole"]["Properties"]["Policies"]
    statements = inline["PolicyDocument"]["Statement"]
    by_action = {a: s for s in statements for a in _actions(s)}
    # Only describes (which AWS cannot scope) and the KMS grant apply to "*".
    unscoped = {a for a, s in by_action.items() if s["Resource"] == "*"}
    assert unscoped == {
        "ec2:DescribeInstances", "rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:ListTagsForResource",
        "autoscaling:DescribeAutoScalingGroups", "kms:CreateGrant",
    }
    assert by_action["rds:StopDBCluster"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:rds:*:*:db:*"}, {"Fn::Sub": "arn:${AWS::Partition}:rds:*:*:cluster:*"},
    ]
    assert by_action["autoscaling:UpdateAutoScalingGroup"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*"
    }
    # Parkway may write one tag on a group, its stored sizes, and no other.
    tags = by_action["autoscaling:CreateOrUpdateTags"]
    assert _actions(tags) == ["autoscaling:CreateOrUpdateTags"]
    assert tags["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": ["parkway:sizes"]}}


# --------------------------------------------------------------------------- the template in the tools


def test_the_cloudformation_template_passes_cfn_lint(acme):
    from cfnlint.api import lint

    # Errors and warnings, as the cfn-lint command reports them, in a region of each partition.
    matches = lint(onboarding.cloudformation_template(acme), regions=["us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1"])
    assert [str(m) for m in matches] == []


def _document(value):
    # moto hands back an inline policy created by CloudFormation as the repr of
    # the dict it was given, where AWS gives JSON.
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


def test_the_cloudformation_template_deploys_the_role_with_both_policies(acme, standin, settings):
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName=onboarding.STACK_NAME, TemplateBody=onboarding.cloudformation_template(acme),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=onboarding.STACK_NAME)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    (output,) = stack["Outputs"]
    assert output["OutputKey"] == "RoleArn"
    assert output["OutputValue"] == f"arn:aws:iam::123456789012:role/{settings.PARKWAY_ROLE_NAME}"

    iam = boto3.client("iam")
    role = iam.get_role(RoleName=settings.PARKWAY_ROLE_NAME)["Role"]
    (trust,) = _document(role["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": acme.external_id}}
    (expected_trust,) = onboarding.trust_policy(acme)["Statement"]
    assert trust == {k: v for k, v in expected_trust.items() if k != "Sid"}
    assert iam.list_role_policies(RoleName=settings.PARKWAY_ROLE_NAME)["PolicyNames"] == ["ParkwayParking"]
    inline = _document(iam.get_role_policy(RoleName=settings.PARKWAY_ROLE_NAME, PolicyName="ParkwayParking")["PolicyDocument"])
    assert {a for s in inline["Statement"] for a in _actions(s)} == EXACT_ACTIONS
    # With ${AWS::Partition} resolved, the deployed policy is the one source, word for word.
    assert inline == onboarding.permission_policy()
