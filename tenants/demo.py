"""Seeding the AWS stand-in (moto) with customers' side of things: their roles,
IAM users and machines. Used by `seed_demo`, tests and benchmarks; it only makes
sense against moto, which lets us act in any account with `x-moto-account-id`.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tenants.onboarding import permission_policy

DEMO_AMI = "ami-12c6146b"  # an image moto ships in every region


def account_client(service: str, account_id: str, region: str = "us-east-1") -> Any:
    """A client acting in `account_id` on the stand-in (moto's account header)."""
    client = boto3.client(
        service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    def add_header(request: Any, **kwargs: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign.*.*", add_header)
    return client


def seed_role(
    account_id: str,
    *,
    role_name: str,
    trusted_account_id: str,
    external_id: str | None,
    policy: dict | None = None,
) -> str:
    """Create the role our template would create; returns its ARN."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{trusted_account_id}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    iam = account_client("iam", account_id)
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        MaxSessionDuration=3600,
    )
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="ParkwayParking",
        PolicyDocument=json.dumps(policy if policy is not None else permission_policy(partition="aws")),
    )
    return role["Role"]["Arn"]


def seed_legacy_user(account_id: str, *, user_name: str = "parkway", policy: dict | None = None) -> tuple[str, str]:
    """An IAM user with keys, the way legacy customers connected; returns (key ID, secret)."""
    iam = account_client("iam", account_id)
    iam.create_user(UserName=user_name)
    iam.put_user_policy(
        UserName=user_name,
        PolicyName="ParkwayParking",
        PolicyDocument=json.dumps(policy if policy is not None else permission_policy(partition="aws")),
    )
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def seed_instances(
    account_id: str, region: str, count: int, *, tags: dict[str, str] | None = None, state: str = "running"
) -> list[str]:
    ec2 = account_client("ec2", account_id, region)
    tag_spec = []
    if tags:
        tag_spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    ids: list[str] = []
    while count > len(ids):
        batch = min(count - len(ids), 500)
        reservation = ec2.run_instances(
            ImageId=DEMO_AMI, MinCount=batch, MaxCount=batch, InstanceType="t3.micro", TagSpecifications=tag_spec
        )
        ids.extend(i["InstanceId"] for i in reservation["Instances"])
    if state == "stopped" and ids:
        ec2.stop_instances(InstanceIds=ids)
    return ids


def _tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def seed_database(
    account_id: str,
    region: str,
    identifier: str,
    *,
    engine: str = "postgres",
    instance_class: str = "db.t3.medium",
    tags: dict[str, str] | None = None,
    cluster: str | None = None,
    replica_of: str | None = None,
    multi_az: bool = False,
) -> str:
    """An RDS DB instance: standalone, a member of `cluster`, or a read replica of `replica_of`."""
    rds = account_client("rds", account_id, region)
    if replica_of:
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=replica_of, DBInstanceClass=instance_class,
            Tags=_tag_list(tags),
        )
        return identifier
    params: dict[str, Any] = {
        "DBInstanceIdentifier": identifier, "Engine": engine, "DBInstanceClass": instance_class, "Tags": _tag_list(tags),
    }
    if cluster:
        params["DBClusterIdentifier"] = cluster
    else:
        params |= {"AllocatedStorage": 20, "MasterUsername": "parkway", "MasterUserPassword": "demo-password-1", "MultiAZ": multi_az}
    rds.create_db_instance(**params)
    return identifier


def seed_cluster(
    account_id: str,
    region: str,
    identifier: str,
    *,
    engine: str = "aurora-postgresql",
    members: int = 2,
    tags: dict[str, str] | None = None,
    member_tags: dict[str, str] | None = None,
) -> list[str]:
    """An Aurora cluster with `members` instances; returns the members' identifiers."""
    rds = account_client("rds", account_id, region)
    rds.create_db_cluster(
        DBClusterIdentifier=identifier, Engine=engine, MasterUsername="parkway", MasterUserPassword="demo-password-1",
        Tags=_tag_list(tags),
    )
    return [
        seed_database(account_id, region, f"{identifier}-{n}", engine=engine, instance_class="db.r6g.large",
                      cluster=identifier, tags=member_tags)
        for n in range(1, members + 1)
    ]


def seed_group(
    account_id: str,
    region: str,
    name: str,
    *,
    min_size: int = 1,
    desired: int = 2,
    max_size: int = 4,
    tags: dict[str, str] | None = None,
    launch_template: str | None = None,
) -> str:
    """An Auto Scaling group (its own launch template with the demo image, or
    `launch_template`, which exists) with its sizes."""
    ec2 = account_client("ec2", account_id, region)
    template = launch_template or f"{name}-template"
    if launch_template is None:
        ec2.create_launch_template(
            LaunchTemplateName=template, LaunchTemplateData={"ImageId": DEMO_AMI, "InstanceType": "t3.micro"}
        )
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    account_client("autoscaling", account_id, region).create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
        MinSize=min_size, DesiredCapacity=desired, MaxSize=max_size, AvailabilityZones=[zone],
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": False} for k, v in (tags or {}).items()],
    )
    return name
