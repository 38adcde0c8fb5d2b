"""The stand-in's fault layer: faults behave like AWS misbehaving, and the effect
tracker tells what each Stop/StartInstances really changed in moto."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from portal.aws_standin import Call, StandinServer, account_client, instance_states

CUSTOMER = "111111111111"
OTHER = "222222222222"
PLATFORM = "123456789012"
AMI = "ami-12c6146b"
REGION = "us-east-1"


def ec2(server: StandinServer, account: str = CUSTOMER, *, attempts: int = 1, region: str = REGION) -> Any:
    """A customer-account EC2 client; attempts=1: botocore does not retry."""
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=5, read_timeout=10)
    return account_client("ec2", account, endpoint_url=server.url, region_name=region, config=config)


def machines(server: StandinServer, n: int, account: str = CUSTOMER, region: str = REGION) -> list[str]:
    reservation = ec2(server, account, region=region).run_instances(ImageId=AMI, MinCount=n, MaxCount=n)
    return [i["InstanceId"] for i in reservation["Instances"]]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def http(server: StandinServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --------------------------------------------------------------------------- throttle


def test_throttle_answers_like_ec2_and_acts_on_nothing(server: StandinServer) -> None:
    ids = machines(server, 2)
    fault = server.faults.throttle("ec2:StopInstances", times=1)
    with pytest.raises(ClientError) as excinfo:
        ec2(server).stop_instances(InstanceIds=ids)
    assert error_of(excinfo) == (503, "RequestLimitExceeded", "Request limit exceeded.")
    assert set(instance_states(CUSTOMER, REGION).values()) == {"running"}
    assert server.faults.effects() == []  # the throttled call never reached moto
    assert fault.fired == 1
    ec2(server).stop_instances(InstanceIds=ids)  # exhausted: the next call acts
    assert set(instance_states(CUSTOMER, REGION).values()) == {"stopped"}
    assert fault.fired == 1 and server.calls()["ec2:StopInstances"] == 2


def test_botocore_retries_a_throttled_call(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    server.faults.throttle("ec2:StopInstances", times=1)
    ec2(server, attempts=2).stop_instances(InstanceIds=[instance])
    assert server.calls()["ec2:StopInstances"] == 2
    assert [(e.instance_id, e.before, e.after) for e in server.faults.effects()] == [(instance, "running", "stopped")]


def test_query_services_are_throttled_with_their_own_code(server: StandinServer) -> None:
    server.faults.throttle("sts:GetCallerIdentity", times=1)
    sts = boto3.client(
        "sts", endpoint_url=server.url, region_name=REGION, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_of(excinfo)[:2] == (400, "Throttling")
    assert sts.get_caller_identity()["Account"] == PLATFORM


# --------------------------------------------------------------------------- lost responses


def test_a_dropped_response_hides_a_real_effect(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    server.faults.lose_response("ec2:StopInstances", how="close")
    with pytest.raises(ConnectionClosedError):
        ec2(server).stop_instances(InstanceIds=[instance])
    assert instance_states(CUSTOMER, REGION) == {instance: "stopped"}
    (effect,) = server.faults.effects()
    assert effect.changed and effect.status == 200


def test_botocore_resends_after_a_lost_response_and_only_the_first_call_changes_state(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    server.faults.lose_response("ec2:StopInstances", how="close")
    answer = ec2(server, attempts=2).stop_instances(InstanceIds=[instance])
    assert answer["StoppingInstances"][0]["InstanceId"] == instance
    assert [e.changed for e in server.faults.effects()] == [True, False]
    assert server.faults.state_changes() == {instance: 1}


@pytest.mark.parametrize(("how", "code"), [(500, "InternalError"), (503, "Unavailable")])
def test_a_server_error_after_acting(server: StandinServer, how: int, code: str) -> None:
    (instance,) = machines(server, 1)
    server.faults.lose_response("ec2:StopInstances", how=how)
    with pytest.raises(ClientError) as excinfo:
        ec2(server).stop_instances(InstanceIds=[instance])
    assert error_of(excinfo)[:2] == (how, code)
    assert instance_states(CUSTOMER, REGION) == {instance: "stopped"}


# --------------------------------------------------------------------------- failing IDs


def test_one_failing_id_fails_the_whole_call_like_ec2(server: StandinServer) -> None:
    good1, bad, good2 = machines(server, 3)
    fault = server.faults.fail_ids("ec2:StopInstances", [bad])
    with pytest.raises(ClientError) as excinfo:
        ec2(server).stop_instances(InstanceIds=[good1, bad, good2])
    assert error_of(excinfo) == (
        400, "IncorrectInstanceState", f"The instance '{bad}' is not in a state from which it can be stopped."
    )
    assert set(instance_states(CUSTOMER, REGION).values()) == {"running"}
    ec2(server).stop_instances(InstanceIds=[good1, good2])  # calls without it are not affected
    with pytest.raises(ClientError):
        ec2(server).stop_instances(InstanceIds=[bad])  # permanent by default
    assert fault.fired == 2
    assert instance_states(CUSTOMER, REGION) == {good1: "stopped", bad: "running", good2: "stopped"}


def test_failing_id_codes_and_limits(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    server.faults.fail_ids("ec2:StartInstances", [instance], code="InvalidInstanceID.NotFound", times=1)
    ec2(server).stop_instances(InstanceIds=[instance])  # another action: untouched
    with pytest.raises(ClientError) as excinfo:
        ec2(server).start_instances(InstanceIds=[instance])
    assert error_of(excinfo) == (400, "InvalidInstanceID.NotFound", f"The instance ID '{instance}' does not exist")
    ec2(server).start_instances(InstanceIds=[instance])
    assert instance_states(CUSTOMER, REGION) == {instance: "running"}


# --------------------------------------------------------------------------- delays and hooks


def test_delays_before_and_after_acting(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    server.faults.delay("ec2:StopInstances", 0.3, when="before")
    server.faults.delay("ec2:StopInstances", 0.3, when="after")
    seen: list[str] = []
    watcher = threading.Timer(0.45, lambda: seen.append(instance_states(CUSTOMER, REGION)[instance]))
    started = time.monotonic()
    watcher.start()
    ec2(server).stop_instances(InstanceIds=[instance])
    assert time.monotonic() - started >= 0.6
    watcher.join()
    assert seen == ["stopped"]  # acted after the first delay, answered after the second


def test_hooks_run_in_the_server_before_and_after_acting(server: StandinServer) -> None:
    ids = machines(server, 2)
    seen: list[tuple[str, dict[str, str], list[bool]]] = []

    def look(when: str) -> Any:
        def hook(call: Call) -> None:
            assert call.target == "ec2:StopInstances" and call.account_id == CUSTOMER and call.region == REGION
            seen.append((when, instance_states(CUSTOMER, REGION, call.instance_ids), [e.changed for e in call.effects]))

        return hook

    server.faults.hook("ec2:StopInstances", look("before"), when="before")
    server.faults.hook("ec2:StopInstances", look("after"), when="after")
    ec2(server).stop_instances(InstanceIds=ids)
    assert seen == [
        ("before", {i: "running" for i in ids}, []),
        ("after", {i: "stopped" for i in ids}, [True, True]),
    ]
    assert server.faults.hook_errors() == []


def test_a_failing_hook_is_reported_not_swallowed(server: StandinServer) -> None:
    (instance,) = machines(server, 1)

    def broken(call: Call) -> None:
        raise RuntimeError("boom")

    server.faults.hook("ec2:StopInstances", broken)
    ec2(server).stop_instances(InstanceIds=[instance])  # the caller still gets its answer
    assert instance_states(CUSTOMER, REGION) == {instance: "stopped"}
    (error,) = server.faults.hook_errors()
    assert "RuntimeError: boom" in error


def test_faults_are_limited_to_an_account_and_region(server: StandinServer) -> None:
    mine = machines(server, 1)
    theirs = machines(server, 1, account=OTHER)
    elsewhere = machines(server, 1, region="eu-west-1")
    fault = server.faults.throttle("ec2:*", times=None, account_id=OTHER, region=REGION)
    ec2(server).stop_instances(InstanceIds=mine)
    ec2(server, region="eu-west-1").stop_instances(InstanceIds=elsewhere)
    with pytest.raises(ClientError):
        ec2(server, OTHER).stop_instances(InstanceIds=theirs)
    with pytest.raises(ClientError):
        ec2(server, OTHER).describe_instances()  # "ec2:*": every EC2 action
    assert fault.fired == 2


def test_the_account_of_an_assumed_role_session_is_the_roles(server: StandinServer) -> None:
    """Parking acts through assumed roles, without the account header: faults and
    effects must still know the account."""
    iam = account_client("iam", CUSTOMER, endpoint_url=server.url)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PLATFORM}:root"}, "Action": "sts:AssumeRole"}
    ]}
    arn = iam.create_role(RoleName="ParkwayAccess", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName="ParkwayAccess", PolicyName="p", PolicyDocument=json.dumps(allow))
    (instance,) = machines(server, 1)
    sts = boto3.client("sts", endpoint_url=server.url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="parkway")["Credentials"]
    session_ec2 = boto3.client(
        "ec2", endpoint_url=server.url, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    fault = server.faults.throttle("ec2:StopInstances", account_id=CUSTOMER)
    with pytest.raises(ClientError):
        session_ec2.stop_instances(InstanceIds=[instance])
    session_ec2.stop_instances(InstanceIds=[instance])
    assert fault.fired == 1
    assert [(e.account_id, e.changed) for e in server.faults.effects()] == [(CUSTOMER, True)]


# --------------------------------------------------------------------------- effect tracking


def test_effects_say_which_call_changed_which_machine(server: StandinServer) -> None:
    a, b = machines(server, 2)
    ec2(server).stop_instances(InstanceIds=[a])
    mark = server.faults.mark()
    ec2(server).stop_instances(InstanceIds=[a, b])  # a already stopped: no change
    ec2(server).start_instances(InstanceIds=[a])
    with pytest.raises(ClientError):
        ec2(server).stop_instances(InstanceIds=["i-0123456789abcdef0"])  # moto: no such instance
    later = [(e.action, e.instance_id, e.before, e.after, e.changed) for e in server.faults.effects(since=mark)]
    assert later == [
        ("stop", a, "stopped", "stopped", False),
        ("stop", b, "running", "stopped", True),
        ("start", a, "stopped", "running", True),
        ("stop", "i-0123456789abcdef0", None, None, False),
    ]
    assert server.faults.state_changes() == {a: 2, b: 1}
    assert server.faults.state_changes(since=mark) == {a: 1, b: 1}


def test_dry_run_probes_are_not_effects(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    with pytest.raises(ClientError) as excinfo:
        ec2(server).stop_instances(InstanceIds=[instance], DryRun=True)
    assert error_of(excinfo)[1] == "DryRunOperation"
    assert server.faults.effects() == []


def test_concurrent_calls_on_one_machine_change_it_once(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    barrier = threading.Barrier(4)
    clients = [ec2(server) for _ in range(4)]

    def stop(client: Any) -> None:
        barrier.wait(timeout=10)
        client.stop_instances(InstanceIds=[instance])

    threads = [threading.Thread(target=stop, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(server.faults.effects()) == 4
    assert server.faults.state_changes() == {instance: 1}


def test_reset_forgets_faults_and_effects(server: StandinServer) -> None:
    (instance,) = machines(server, 1)
    server.faults.throttle("ec2:StopInstances", times=None)
    server.faults.hook("ec2:StartInstances", lambda call: None)
    ec2(server).start_instances(InstanceIds=[instance])
    server.reset()
    assert server.faults.faults() == [] and server.faults.effects() == []


# --------------------------------------------------------------------------- over HTTP


def test_faults_over_http(server: StandinServer) -> None:
    ids = machines(server, 2)
    status, fault = http(server, "POST", "/_standin/faults", {"kind": "throttle", "target": "ec2:StopInstances", "times": 1})
    assert status == 201 and fault["kind"] == "throttle" and fault["fired"] == 0
    status, fault2 = http(server, "POST", "/_standin/faults", {"kind": "fail_ids", "target": "ec2:StopInstances", "ids": [ids[1]]})
    assert status == 201 and fault2["times"] is None and fault2["code"] == "IncorrectInstanceState"
    with pytest.raises(ClientError) as excinfo:
        ec2(server).stop_instances(InstanceIds=ids)
    assert error_of(excinfo)[1] == "RequestLimitExceeded"
    with pytest.raises(ClientError) as excinfo:
        ec2(server).stop_instances(InstanceIds=ids)
    assert error_of(excinfo)[1] == "IncorrectInstanceState"
    status, listed = http(server, "GET", "/_standin/faults")
    assert [(f["kind"], f["fired"]) for f in listed] == [("throttle", 1), ("fail_ids", 1)]
    assert http(server, "DELETE", f"/_standin/faults/{fault2['id']}")[0] == 200
    ec2(server).stop_instances(InstanceIds=ids)
    status, effects = http(server, "GET", "/_standin/effects")
    assert status == 200 and [(e["instance_id"], e["changed"]) for e in effects] == [(ids[0], True), (ids[1], True)]
    assert http(server, "GET", f"/_standin/effects?since={effects[-1]['seq']}")[1] == []
    assert http(server, "DELETE", "/_standin/effects")[0] == 200
    assert http(server, "GET", "/_standin/effects")[1] == []
    assert http(server, "DELETE", "/_standin/faults")[0] == 200
    assert http(server, "GET", "/_standin/faults")[1] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "hook", "target": "ec2:StopInstances"}, "in-process"),
        ({"kind": "explode", "target": "ec2:StopInstances"}, "unknown fault kind"),
        ({"kind": "throttle", "target": "StopInstances"}, "target must look like"),
        ({"kind": "throttle", "target": "ec2:StopInstances", "times": 0}, "times must be"),
        ({"kind": "lose_response", "target": "ec2:StopInstances", "how": "404"}, "how must be"),
        ({"kind": "fail_ids", "target": "ec2:StopInstances", "ids": []}, "at least one"),
        ({"kind": "delay", "target": "ec2:StopInstances", "sleep": 3}, "unknown fields: sleep"),
    ],
)
def test_bad_faults_are_refused_over_http(server: StandinServer, body: dict[str, Any], message: str) -> None:
    status, answer = http(server, "POST", "/_standin/faults", body)
    assert status == 400 and message in answer["error"]
    assert http(server, "GET", "/_standin/faults")[1] == []
