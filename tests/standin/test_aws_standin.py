"""The AWS stand-in (moto + trust-policy/ExternalId/credential/EC2 permission checks).

Our own platform identity uses the keys "testing"/"testing" (moto's default
account 123456789012); the customer account 111111111111 is seeded through the
``x-moto-account-id`` header (``account_client``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.utils import utcnow
from moto.sts.models import sts_backends

from portal.aws_standin import StandinServer, account_client
from portal.aws_standin.policy import Decision, Principal, evaluate, parse_policy

PLATFORM_ACCOUNT = "123456789012"
CUSTOMER_ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
EXTERNAL_ID = "pk-3f9a1c7e-tenant-42"
AMI = "ami-12c6146b"  # one of moto's default AMIs
REPO_ROOT = Path(__file__).resolve().parents[2]


def platform_client(server: StandinServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def client_for(server: StandinServer, service: str, creds: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
    )


def trust_policy(
    principal: Any = f"arn:aws:iam::{PLATFORM_ACCOUNT}:root",
    external_id: Any = EXTERNAL_ID,
    extra: list[dict[str, Any]] | None = None,
) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement, *(extra or [])]})


def allow(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


def create_customer_role(
    server: StandinServer,
    name: str = "ParkwayAccess",
    trust: str | None = None,
    policy: str | None = None,
    **kwargs: Any,
) -> str:
    iam = account_client("iam", CUSTOMER_ACCOUNT, endpoint_url=server.url)
    arn = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=trust or trust_policy(), **kwargs
    )["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="parkway", PolicyDocument=policy)
    return arn


def customer_instance(server: StandinServer) -> str:
    ec2 = account_client("ec2", CUSTOMER_ACCOUNT, endpoint_url=server.url)
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def assume(server: StandinServer, role_arn: str, **kwargs: Any) -> dict[str, str]:
    sts = platform_client(server, "sts")
    return sts.assume_role(RoleArn=role_arn, RoleSessionName="parkway", **kwargs)["Credentials"]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = excinfo.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


# --------------------------------------------------------------------------- AssumeRole


def test_assume_role_with_right_external_id_acts_in_customer_account(server: StandinServer) -> None:
    role_arn = create_customer_role(server)
    assert role_arn == f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/ParkwayAccess"

    creds = assume(server, role_arn, ExternalId=EXTERNAL_ID)

    assert creds["AccessKeyId"].startswith("ASIA")
    identity = client_for(server, "sts", creds).get_caller_identity()
    assert identity["Account"] == CUSTOMER_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/ParkwayAccess/parkway"


@pytest.mark.parametrize(
    ("trust", "external_id", "role_name"),
    [
        pytest.param(None, "wrong-external-id", "ParkwayAccess", id="wrong-external-id"),
        pytest.param(None, None, "ParkwayAccess", id="missing-external-id"),
        pytest.param(None, EXTERNAL_ID, "NoSuchRole", id="role-does-not-exist"),
        pytest.param(
            trust_policy(f"arn:aws:iam::{OTHER_ACCOUNT}:root"),
            EXTERNAL_ID,
            "ParkwayAccess",
            id="other-account",
        ),
        pytest.param(
            trust_policy(OTHER_ACCOUNT), EXTERNAL_ID, "ParkwayAccess", id="other-account-short-form"
        ),
        pytest.param(
            trust_policy(extra=[{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:*"}]),
            EXTERNAL_ID,
            "ParkwayAccess",
            id="explicit-deny-wins",
        ),
    ],
)
def test_assume_role_denied_like_aws(
    server: StandinServer, trust: str | None, external_id: str | None, role_name: str
) -> None:
    create_customer_role(server, trust=trust)
    role_arn = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/{role_name}"
    kwargs = {"ExternalId": external_id} if external_id else {}

    with pytest.raises(ClientError) as excinfo:
        assume(server, role_arn, **kwargs)

    # Same answer whether the role is missing or the trust policy says no.
    assert error_of(excinfo) == (
        403,
        "AccessDenied",
        f"User: arn:aws:iam::{PLATFORM_ACCOUNT}:root is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn}",
    )


@pytest.mark.parametrize(
    "principal",
    [
        PLATFORM_ACCOUNT,
        "*",
        [f"arn:aws:iam::{OTHER_ACCOUNT}:root", f"arn:aws:iam::{PLATFORM_ACCOUNT}:root"],
    ],
)
def test_trust_principal_forms(server: StandinServer, principal: Any) -> None:
    role_arn = create_customer_role(
        server, trust=trust_policy(principal, external_id=["old-id", EXTERNAL_ID])
    )
    assert assume(server, role_arn, ExternalId=EXTERNAL_ID)["AccessKeyId"].startswith("ASIA")


def test_role_chaining_uses_exact_role_arn_principal(server: StandinServer) -> None:
    first = create_customer_role(server, name="First", policy=allow("sts:AssumeRole"))
    second = create_customer_role(
        server, name="Second", trust=trust_policy(first, external_id=None)
    )
    creds = assume(server, first, ExternalId=EXTERNAL_ID)
    sts = client_for(server, "sts", creds)

    chained = sts.assume_role(RoleArn=second, RoleSessionName="chained")["Credentials"]
    assert (
        client_for(server, "sts", chained)
        .get_caller_identity()["Arn"]
        .endswith(":assumed-role/Second/chained")
    )

    # Our platform identity is not the principal named in Second's trust policy.
    with pytest.raises(ClientError) as excinfo:
        assume(server, second)
    assert error_of(excinfo)[1] == "AccessDenied"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"RoleSessionName": "x"}, "Member must have length greater than or equal to 2"),
        ({"RoleSessionName": "bad name!"}, "Member must satisfy regular expression pattern"),
        ({"RoleSessionName": "n" * 65}, "Member must have length less than or equal to 64"),
        ({"DurationSeconds": 600}, "Member must have value greater than or equal to 900"),
        ({"DurationSeconds": 7200}, "exceeds the MaxSessionDuration set for this role"),
    ],
)
def test_assume_role_validation(
    server: StandinServer, kwargs: dict[str, Any], message: str
) -> None:
    role_arn = create_customer_role(server)
    # botocore checks lengths/ranges itself; switch that off so the server's checks run.
    sts = boto3.client(
        "sts",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False),
    )
    params = {
        "RoleArn": role_arn,
        "RoleSessionName": "parkway",
        "ExternalId": EXTERNAL_ID,
        **kwargs,
    }
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(**params)
    status, code, text = error_of(excinfo)
    assert (status, code) == (400, "ValidationError")
    assert message in text


def test_duration_up_to_max_session_duration(server: StandinServer) -> None:
    role_arn = create_customer_role(server, MaxSessionDuration=7200)
    assert assume(server, role_arn, ExternalId=EXTERNAL_ID, DurationSeconds=7200)


# --------------------------------------------------------------------------- credentials


def test_unknown_aws_shaped_key_is_rejected(server: StandinServer) -> None:
    fake = {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG"}

    with pytest.raises(ClientError) as excinfo:
        client_for(server, "sts", fake).get_caller_identity()
    assert error_of(excinfo) == (
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )

    with pytest.raises(ClientError) as excinfo:
        client_for(server, "ec2", fake).describe_instances()
    assert error_of(excinfo) == (
        401,
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
    )


def test_assumed_key_needs_its_session_token(server: StandinServer) -> None:
    role_arn = create_customer_role(server, policy=allow("ec2:*"))
    creds = assume(server, role_arn, ExternalId=EXTERNAL_ID)
    with pytest.raises(ClientError) as excinfo:
        client_for(server, "ec2", {**creds, "SessionToken": "forged"}).describe_instances()
    assert error_of(excinfo)[:2] == (401, "AuthFailure")


def test_expired_session_is_rejected(server: StandinServer) -> None:
    role_arn = create_customer_role(server, policy=allow("ec2:*"))
    creds = assume(server, role_arn, ExternalId=EXTERNAL_ID)
    # Age the session in moto's own records (shared with the server thread).
    session = sts_backends[CUSTOMER_ACCOUNT]["aws"].get_assumed_role_from_access_key(
        creds["AccessKeyId"]
    )
    assert session is not None
    session.expiration = utcnow() - timedelta(seconds=1)

    with pytest.raises(ClientError) as excinfo:
        client_for(server, "sts", creds).get_caller_identity()
    assert error_of(excinfo)[:2] == (403, "ExpiredToken")
    with pytest.raises(ClientError) as excinfo:
        client_for(server, "ec2", creds).describe_instances()
    assert error_of(excinfo)[:2] == (400, "RequestExpired")


def test_iam_user_key_works_in_its_account_until_deleted(server: StandinServer) -> None:
    instance_id = customer_instance(server)
    iam = account_client("iam", CUSTOMER_ACCOUNT, endpoint_url=server.url)
    iam.create_user(UserName="ops")
    iam.put_user_policy(UserName="ops", PolicyName="read", PolicyDocument=allow("ec2:Describe*"))
    key = iam.create_access_key(UserName="ops")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA")
    ec2 = client_for(server, "ec2", key)

    reservations = ec2.describe_instances()["Reservations"]
    assert [i["InstanceId"] for r in reservations for i in r["Instances"]] == [instance_id]
    # A real key decides its account: x-moto-account-id cannot move it elsewhere.
    redirected = account_client(
        "ec2",
        PLATFORM_ACCOUNT,
        endpoint_url=server.url,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    assert len(redirected.describe_instances()["Reservations"]) == 1
    with pytest.raises(ClientError) as excinfo:  # user policy does not allow it
        ec2.stop_instances(InstanceIds=[instance_id], DryRun=True)
    assert error_of(excinfo)[1] == "UnauthorizedOperation"

    iam.delete_access_key(UserName="ops", AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_instances()
    assert error_of(excinfo)[:2] == (401, "AuthFailure")


def test_account_header_seeds_only_that_account(server: StandinServer) -> None:
    customer_instance(server)
    assert platform_client(server, "ec2").describe_instances()["Reservations"] == []
    customer_ec2 = account_client("ec2", CUSTOMER_ACCOUNT, endpoint_url=server.url)
    assert len(customer_ec2.describe_instances()["Reservations"]) == 1


# --------------------------------------------------------------------------- EC2 permissions


@pytest.mark.parametrize(
    ("policy", "expected_code"),
    [
        (allow("ec2:Describe*"), "UnauthorizedOperation"),
        (allow("ec2:DescribeInstances", "ec2:StopInstances"), "DryRunOperation"),
        (allow("ec2:*"), "DryRunOperation"),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "*", "Resource": "*"},
                        {"Effect": "Deny", "Action": "ec2:Stop*", "Resource": "*"},
                    ],
                }
            ),
            "UnauthorizedOperation",
        ),
    ],
    ids=["describe-only", "stop-allowed", "ec2-wildcard", "explicit-deny"],
)
def test_dry_run_stop_is_a_permission_probe(
    server: StandinServer, policy: str, expected_code: str
) -> None:
    instance_id = customer_instance(server)
    role_arn = create_customer_role(server, policy=policy)
    ec2 = client_for(server, "ec2", assume(server, role_arn, ExternalId=EXTERNAL_ID))

    with pytest.raises(ClientError) as excinfo:
        ec2.stop_instances(InstanceIds=[instance_id], DryRun=True)

    status, code, message = error_of(excinfo)
    assert code == expected_code
    if code == "UnauthorizedOperation":
        assert status == 403
        assert message == (
            "You are not authorized to perform this operation. User: "
            f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/ParkwayAccess/parkway "
            "is not authorized to perform: ec2:StopInstances"
        )


def test_attached_managed_policy_counts(server: StandinServer) -> None:
    instance_id = customer_instance(server)
    role_arn = create_customer_role(server)
    iam = account_client("iam", CUSTOMER_ACCOUNT, endpoint_url=server.url)
    policy_arn = iam.create_policy(
        PolicyName="ParkwayStartStop",
        PolicyDocument=allow("ec2:StartInstances", "ec2:StopInstances"),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="ParkwayAccess", PolicyArn=policy_arn)
    ec2 = client_for(server, "ec2", assume(server, role_arn, ExternalId=EXTERNAL_ID))

    ec2.stop_instances(InstanceIds=[instance_id])
    with pytest.raises(ClientError) as excinfo:
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert error_of(excinfo)[1] == "UnauthorizedOperation"


# --------------------------------------------------------------------------- counters


def test_call_counters(server: StandinServer) -> None:
    role_arn = create_customer_role(server, policy=allow("ec2:Describe*"))
    creds = assume(server, role_arn, ExternalId=EXTERNAL_ID)
    with pytest.raises(ClientError):
        assume(server, role_arn, ExternalId="wrong")  # denied attempts are calls too
    ec2 = client_for(server, "ec2", creds)
    ec2.describe_instances()
    ec2.describe_instances()

    calls = server.calls()
    assert calls["sts:AssumeRole"] == 2
    assert calls["ec2:DescribeInstances"] == 2
    with urllib.request.urlopen(f"{server.url}/_standin/calls") as response:
        assert json.load(response)["sts:AssumeRole"] == 2

    request = urllib.request.Request(f"{server.url}/_standin/calls", method="DELETE")
    urllib.request.urlopen(request).close()
    assert server.calls() == {}

    ec2.describe_instances()
    assert server.calls() == {"ec2:DescribeInstances": 1}
    urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/moto-api/reset", method="POST")
    ).close()
    assert server.calls() == {}


def test_counters_are_thread_safe(server: StandinServer) -> None:
    clients = [platform_client(server, "sts") for _ in range(8)]

    def call(client: Any) -> None:
        for _ in range(10):
            client.get_caller_identity()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(call, clients))
    assert server.calls() == {"sts:GetCallerIdentity": 80}


# --------------------------------------------------------------------------- policy evaluator


@pytest.mark.parametrize(
    ("condition", "external_id", "expected"),
    [
        ({"StringEquals": {"sts:ExternalId": "a1"}}, "a1", Decision.ALLOW),
        ({"StringEquals": {"sts:externalid": ["a1", "b2"]}}, "b2", Decision.ALLOW),
        ({"StringEquals": {"sts:ExternalId": "a1"}}, None, Decision.IMPLICIT_DENY),
        ({"StringLike": {"sts:ExternalId": "pk-*"}}, "pk-9", Decision.ALLOW),
        (
            {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            "a1",
            Decision.IMPLICIT_DENY,
        ),  # fails closed
    ],
)
def test_trust_conditions(
    condition: dict[str, Any], external_id: str | None, expected: Decision
) -> None:
    statements = parse_policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": "123456789012"},
                "Action": ["sts:*"],
                "Condition": condition,
            }
        }
    )
    decision = evaluate(
        statements,
        "sts:AssumeRole",
        context={"sts:externalid": external_id},
        principal=Principal("123456789012", frozenset({"arn:aws:iam::123456789012:user/x"})),
    )
    assert decision is expected


# --------------------------------------------------------------------------- CLI


def test_cli_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.aws_standin", "--port", "0", "--quiet"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        assert match, line
        url = match.group(0)
        sts = boto3.client(
            "sts",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert sts.get_caller_identity()["Account"] == PLATFORM_ACCOUNT
        with urllib.request.urlopen(f"{url}/_standin/calls") as response:
            assert json.load(response) == {"sts:GetCallerIdentity": 1}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# --------------------------------------------------------------------------- RDS and Auto Scaling permissions


def test_rds_calls_are_checked_against_the_role_like_ec2(server: StandinServer) -> None:
    rds_root = account_client("rds", CUSTOMER_ACCOUNT, endpoint_url=server.url)
    rds_root.create_db_instance(
        DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="parkway", MasterUserPassword="password-123",
    )
    role_arn = create_customer_role(server, policy=allow("rds:DescribeDBInstances"))
    rds = client_for(server, "rds", assume(server, role_arn, ExternalId=EXTERNAL_ID))

    assert [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]] == ["orders"]
    with pytest.raises(ClientError) as excinfo:
        rds.stop_db_instance(DBInstanceIdentifier="orders")

    status, code, message = error_of(excinfo)
    assert (status, code) == (403, "AccessDenied")
    assert "is not authorized to perform: rds:StopDBInstance" in message
    assert rds_root.describe_db_instances()["DBInstances"][0]["DBInstanceStatus"] == "available"


def test_autoscaling_calls_are_checked_and_unknown_groups_refused_like_aws(server: StandinServer) -> None:
    role_arn = create_customer_role(
        server, policy=allow("autoscaling:DescribeAutoScalingGroups", "autoscaling:SuspendProcesses")
    )
    groups = client_for(server, "autoscaling", assume(server, role_arn, ExternalId=EXTERNAL_ID))

    assert groups.describe_auto_scaling_groups()["AutoScalingGroups"] == []
    with pytest.raises(ClientError) as denied:
        groups.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=0)
    with pytest.raises(ClientError) as unknown:
        groups.suspend_processes(AutoScalingGroupName="no-such-group")

    assert error_of(denied)[:2] == (403, "AccessDenied")
    assert "autoscaling:UpdateAutoScalingGroup" in error_of(denied)[2]
    # Allowed, but the group does not exist: AWS's ValidationError, not a server error.
    assert error_of(unknown)[:2] == (400, "ValidationError")
