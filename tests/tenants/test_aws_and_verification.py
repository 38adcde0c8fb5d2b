"""AWS access and credential_verify, through the stand-in (which checks trust
policies and External IDs the way AWS does)."""

import pytest
from botocore.exceptions import ClientError

from scheduling import parking
from tenants import aws, demo, services
from tenants.models import AuditEvent, CloudAccount
from tenants.onboarding import KIND_ACTIONS
from tenants.verification import account_verify, credential_verify
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT, throttle_verification

pytestmark = pytest.mark.django_db

DESCRIBE_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}


@pytest.fixture
def role_account(acme, standin):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    return services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1", "eu-west-1"], actor="cli")


def test_assume_role_is_made_once_for_any_number_of_clients(role_account, standin):
    standin.reset_calls()
    for region in ("us-east-1", "eu-west-1"):
        for _ in range(3):
            ec2 = aws.client(aws.session_for(role_account), "ec2", region)
            ec2.describe_instances()
    calls = standin.calls()
    assert calls["sts:AssumeRole"] == 1
    assert calls["ec2:DescribeInstances"] == 6


def test_the_cached_session_acts_in_the_customer_account_with_our_session_name(role_account, acme):
    session = aws.session_for(role_account)
    identity = aws.client(session, "sts").get_caller_identity()
    assert identity["Account"] == ACME_ACCOUNT
    assert identity["Arn"].endswith(f"assumed-role/ParkwayAccess/{acme.role_session_name}")
    assert len(acme.role_session_name) <= 64


def test_every_account_shares_one_client_per_region_and_each_call_acts_in_its_own_account(role_account, acme, globex):
    """Memory and CPU that do not grow with customers: one botocore client per
    (service, region) per process, each call signed with its own account's
    credentials, on any thread, through operations and paginators alike."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import GLOBEX_ACCOUNT

    demo.seed_role(GLOBEX_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=globex.external_id)
    other = services.account_connect_role(tenant=globex, account_id=GLOBEX_ACCOUNT, regions=["us-east-1"], actor="cli")
    demo.seed_instances(GLOBEX_ACCOUNT, "us-east-1", count=2)
    ours, theirs = aws.session_for(role_account), aws.session_for(other)
    first, second = aws.client(ours, "sts"), aws.client(theirs, "sts")
    assert first._client is second._client
    assert first.get_caller_identity()["Account"] == ACME_ACCOUNT
    assert second.get_caller_identity()["Account"] == GLOBEX_ACCOUNT

    def identity(session):
        return aws.client(session, "sts").get_caller_identity()["Account"]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(identity, [ours, theirs] * 10))
    assert answers == [ACME_ACCOUNT, GLOBEX_ACCOUNT] * 10

    def instances(session):
        pages = aws.client(session, "ec2", "us-east-1").get_paginator("describe_instances").paginate(
            PaginationConfig={"PageSize": 5}
        )
        return sum(len(r["Instances"]) for page in pages for r in page["Reservations"])

    assert (instances(ours), instances(theirs)) == (0, 2)
    assert list(aws._shared_clients) == [("sts", "us-east-1"), ("ec2", "us-east-1")]
    with pytest.raises(RuntimeError, match="outside an account"):
        first._client.get_caller_identity()  # the shared client alone acts for nobody


def test_assume_role_asks_for_an_hour_with_the_external_id(role_account, acme, monkeypatch):
    seen = {}
    original = aws.AssumeRoleCredentialFetcher.__init__

    def spy(self, *args, **kwargs):
        seen.update(kwargs["extra_args"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(aws.AssumeRoleCredentialFetcher, "__init__", spy)
    aws.clear_session_cache()
    aws.session_for(role_account).get_credentials().get_frozen_credentials()
    assert seen == {"ExternalId": acme.external_id, "RoleSessionName": "parkway-acme", "DurationSeconds": 3600}


def test_rotating_the_external_id_starts_a_new_session(role_account, acme, standin):
    aws.client(aws.session_for(role_account), "sts").get_caller_identity()
    services.tenant_rotate_external_id(tenant=acme, actor="cli")
    role_account.refresh_from_db()
    standin.reset_calls()
    result = account_verify(account=role_account, actor="cli")
    # The role still trusts the old External ID: the stand-in refuses, as AWS would.
    assert not result.ok and result.code == "AccessDenied"
    assert standin.calls()["sts:AssumeRole"] == 1


def test_verify_role_connected(role_account):
    result = account_verify(account=role_account, actor="cli")
    assert result.ok, result.message
    assert result.caller_account == ACME_ACCOUNT
    assert [name for name, ok in result.checks if ok] == [
        "sts:AssumeRole", "sts:ExternalId required", "ec2:DescribeInstances", "ec2:StopInstances", "ec2:StartInstances",
        *[a for service in ("rds", "autoscaling") for level in ("read", "park") for a in KIND_ACTIONS[service][level]],
    ]
    assert result.message == "Connected: Parkway can see and park the machines in this account."
    role_account.refresh_from_db()
    assert {service: entry["level"] for service, entry in role_account.kind_access.items()} == {
        "ec2": "park", "rds": "park", "autoscaling": "park",
    }
    assert role_account.status == CloudAccount.Status.CONNECTED and role_account.last_error == ""
    assert role_account.last_verified_at is not None
    assert role_account.active_credential().verified_at is not None
    assert AuditEvent.objects.filter(account=role_account, action="credential.verified").exists()


def test_verify_wrong_external_id(acme, standin):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id="someone-elses-id")
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "AccessDenied" and result.permanent
    assert "External ID" in result.message and "trust policy" in result.message
    account.refresh_from_db()
    assert account.status == CloudAccount.Status.ERROR and account.last_error == result.message
    event = AuditEvent.objects.get(account=account, action="credential.verify_failed")
    assert event.details["code"] == "AccessDenied"


def test_verify_role_trusting_another_vendor_is_refused(acme, standin):
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id="999999999999", external_id=acme.external_id)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "AccessDenied"


def test_verify_missing_role(acme, standin):
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "AccessDenied"
    assert "does not exist" in result.message and "arn:aws:iam::111111111111:role/ParkwayAccess" in result.message


def test_verify_missing_permission_names_it(acme, standin):
    demo.seed_role(
        ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT,
        external_id=acme.external_id, policy=DESCRIBE_ONLY,
    )
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "UnauthorizedOperation"
    assert "ec2:StopInstances" in result.message
    assert ("ec2:DescribeInstances", True) in result.checks and ("ec2:StopInstances", False) in result.checks


def test_verify_wrong_account(acme, standin):
    # The role ARN is right for account 1111…, but the account row says 2222…:
    # caught before AWS by validation; a credential bypassing it is caught by GetCallerIdentity.
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    account = services.account_connect_role(tenant=acme, account_id="222222222222", regions=["us-east-1"], actor="cli")
    credential = account.active_credential()
    credential.role_arn = f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess"
    result = credential_verify(credential=credential, actor="cli", record=False)
    assert not result.ok and result.code == "WrongAccount"
    assert "111111111111" in result.message and "222222222222" in result.message


def test_verify_legacy_keys_connected_but_flagged(acme, standin, settings):
    key_id, secret = demo.seed_legacy_user("222222222222")
    settings.PARKWAY_ALLOW_LEGACY_USERS = True
    account = services.account_connect_legacy(
        tenant=acme, account_id="222222222222", access_key_id=key_id, secret_access_key=secret,
        regions=["us-east-1"], actor="cli",
    )
    settings.PARKWAY_ALLOW_LEGACY_USERS = False
    result = account_verify(account=account, actor="cli")
    assert result.ok, result.message
    assert "legacy IAM user keys" in result.message and "switch" in result.message
    assert secret not in str(AuditEvent.objects.filter(account=account).values_list("details", flat=True))


def test_verify_invalid_or_deleted_keys(acme, standin, settings):
    key_id, secret = demo.seed_legacy_user("222222222222")
    settings.PARKWAY_ALLOW_LEGACY_USERS = True
    account = services.account_connect_legacy(
        tenant=acme, account_id="222222222222", access_key_id=key_id, secret_access_key=secret,
        regions=["us-east-1"], actor="cli",
    )
    demo.account_client("iam", "222222222222").delete_access_key(UserName="parkway", AccessKeyId=key_id)
    result = account_verify(account=account, actor="cli")
    assert not result.ok and result.code == "InvalidClientTokenId" and result.permanent
    assert "invalid, deactivated or deleted" in result.message


def test_verify_throttled_is_transient(role_account, settings, standin):
    throttle_verification(standin, settings)
    result = account_verify(account=role_account, actor="cli")
    assert not result.ok and result.code == "Throttling" and not result.permanent
    assert "try again" in result.message.lower()


def test_endpoint_url_is_honoured(standin):
    # Nothing in our code names the stand-in: boto3 reads AWS_ENDPOINT_URL itself.
    from boto3 import Session

    assert Session().client("sts", region_name="us-east-1").meta.endpoint_url == standin.url


# --------------------------------------------------------------------------- getting in vs acting (issue 9)


def delete_role(account_id: str = ACME_ACCOUNT) -> None:
    iam = demo.account_client("iam", account_id)
    iam.delete_role_policy(RoleName="ParkwayAccess", PolicyName="ParkwayParking")
    iam.delete_role(RoleName="ParkwayAccess")


def test_after_the_role_is_deleted_calls_on_a_cached_session_say_the_role_is_gone(role_account, standin):
    """AWS keeps the issued session valid, but answers its calls like a missing
    permission: the role is asked for again before blaming a permission."""
    session = aws.session_for(role_account)
    ec2 = aws.client(session, "ec2", "us-east-1")
    ec2.describe_instances()
    delete_role()
    with pytest.raises(aws.AwsError) as exc:
        ec2.describe_instances()
    error = exc.value
    assert error.operation == "AssumeRole" and error.code == "AccessDenied" and error.permanent
    assert "does not exist (it may have been deleted)" in error.message and "no longer" in error.message
    assert "lacks permission" not in error.message
    # The stale session is dropped: the next use assumes the role afresh (and is refused at once).
    assert aws.session_for(role_account) is not session


def test_a_tick_after_the_role_is_deleted_flags_the_account_with_the_role_gone(role_account, standin):
    assert account_verify(account=role_account, actor="cli").ok
    assert parking.park_account(account_id=role_account.pk).status == "succeeded"  # the session is now cached
    delete_role()
    result = parking.park_account(account_id=role_account.pk)
    assert result.status == "failed"
    assert f"could not assume the role arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess" in result.error
    assert "lacks permission" not in result.error
    role_account.refresh_from_db()
    assert role_account.status == CloudAccount.Status.ERROR and role_account.last_error == result.error


def test_a_refused_call_under_a_role_that_still_exists_names_the_missing_permission(acme, standin):
    start_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "*"}]}
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id, policy=start_only)
    account = services.account_connect_role(tenant=acme, account_id=ACME_ACCOUNT, regions=["us-east-1"], actor="cli")
    ec2 = aws.client(aws.session_for(account), "ec2", "us-east-1")
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances()
    error = aws.translate_error(exc.value)
    assert error.code == "UnauthorizedOperation" and error.operation == "DescribeInstances"
    assert "lacks permission ec2:DescribeInstances" in error.message and "assume" not in error.message


def test_assume_role_refusing_parkways_own_keys_is_not_blamed_on_the_customer(role_account, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLENOTAKEY00")
    aws.clear_session_cache()
    result = account_verify(account=role_account, actor="cli")
    assert not result.ok and not result.permanent
    assert "Parkway's own credentials" in result.message and "not yours" in result.message
    assert "Connect the account with an IAM role" not in result.message  # the wording for customers' keys


def test_machines_are_parsed_into_what_parkway_reads_and_read_the_same(role_account):
    """Customers' clients parse DescribeInstances into the members the tick
    reads (tenants.aws.EC2_INSTANCE_MEMBERS): what scheduling.kinds makes of a
    machine is the same as from botocore's whole answer."""
    from scheduling import kinds

    demo.seed_instances(ACME_ACCOUNT, "us-east-1", 3, tags={"Schedule": "office", "Name": "web"})
    whole = demo.account_client("ec2", ACME_ACCOUNT).describe_instances()
    ours = aws.client(aws.session_for(role_account), "ec2", "us-east-1").describe_instances()
    full = sorted((i for r in whole["Reservations"] for i in r["Instances"]), key=lambda i: i["InstanceId"])
    trimmed = sorted((i for r in ours["Reservations"] for i in r["Instances"]), key=lambda i: i["InstanceId"])
    assert len(full) == len(trimmed) == 3
    assert all(set(i) == set(aws.EC2_INSTANCE_MEMBERS) for i in trimmed)
    assert "BlockDeviceMappings" in full[0] and set(ours["Reservations"][0]) == {"Instances"}
    assert [kinds.seen(kinds.EC2, i) for i in trimmed] == [kinds.seen(kinds.EC2, i) for i in full]
    # The model botocore loaded (and caches) is not modified: only the copy is trimmed.
    import botocore.loaders

    untouched = botocore.loaders.Loader.load_service_model(aws._customer_loader, "ec2", "service-2")
    assert "BlockDeviceMappings" in untouched["shapes"]["Instance"]["members"]
