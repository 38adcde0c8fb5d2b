import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from tenants.validation import (
    mask_key_id,
    parse_role_arn,
    validate_access_key_id,
    validate_account_id,
    validate_external_id,
    validate_regions,
    validate_role_arn_for_account,
    validate_secret_access_key,
)


@pytest.mark.parametrize("value", ["", "12345678901", "1234567890123", "12345678901a", " 123456789012", "１２３４５６７８９０１２", None])
def test_bad_account_ids_are_rejected_with_the_format(value):
    with pytest.raises(ValidationError, match="exactly 12 digits"):
        validate_account_id(value)


def test_good_account_id_passes():
    validate_account_id("012345678901")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ParkwayAccess",
        "arn:aws:iam::12345678901:role/ParkwayAccess",  # 11 digits
        "arn:aws:iam::123456789012:user/ParkwayAccess",  # a user, not a role
        "arn:aws:iam::123456789012:role/",  # no name
        "arn:aws:iam::123456789012:role/bad name",
        "arn:aws:iam::123456789012:role/" + "x" * 65,
        "arn:aws:sts::123456789012:assumed-role/ParkwayAccess/s",
        "arn:aws:iam:us-east-1:123456789012:role/ParkwayAccess",  # IAM has no region
    ],
)
def test_bad_role_arns_explain_the_expected_form(value):
    with pytest.raises(ValidationError) as exc:
        parse_role_arn(value)
    assert exc.value.code == "invalid_role_arn"
    assert "arn:aws:iam::123456789012:role/ParkwayAccess" in exc.value.messages[0]


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_role_in_another_partition_is_rejected_with_the_reason(partition):
    with pytest.raises(ValidationError) as exc:
        parse_role_arn(f"arn:{partition}:iam::123456789012:role/ParkwayAccess")
    assert exc.value.code == "partition_mismatch"
    assert "cannot be assumed across partitions" in exc.value.messages[0]
    assert partition in exc.value.messages[0]


@override_settings(PARKWAY_AWS_PARTITION="aws-us-gov")
def test_a_govcloud_deployment_accepts_govcloud_roles_and_rejects_commercial_ones():
    assert parse_role_arn("arn:aws-us-gov:iam::123456789012:role/ParkwayAccess").partition == "aws-us-gov"
    with pytest.raises(ValidationError, match="serves 'aws-us-gov'"):
        parse_role_arn("arn:aws:iam::123456789012:role/ParkwayAccess")


def test_role_path_and_name_are_parsed():
    role = parse_role_arn("arn:aws:iam::123456789012:role/service/team/ParkwayAccess")
    assert (role.account_id, role.name) == ("123456789012", "ParkwayAccess")


def test_role_of_another_account_is_rejected_naming_both_accounts():
    with pytest.raises(ValidationError) as exc:
        validate_role_arn_for_account("arn:aws:iam::222222222222:role/ParkwayAccess", account_id="111111111111")
    assert exc.value.code == "account_mismatch"
    assert "222222222222" in exc.value.messages[0] and "111111111111" in exc.value.messages[0]


@pytest.mark.parametrize("value", ["", "AKIA", "ASIAABCDEFGHIJKLMNOP", "akiaabcdefghijklmnop", "AKIAABCDEFGHIJKLMNOPQ", "AKIA-BCDEFGHIJKLMNOP"])
def test_bad_access_key_ids(value):
    with pytest.raises(ValidationError, match="starts with AKIA"):
        validate_access_key_id(value)


def test_secret_access_key_errors_never_echo_the_value():
    secret = "not/a+valid=secret"
    with pytest.raises(ValidationError) as exc:
        validate_secret_access_key(secret)
    assert secret not in " ".join(exc.value.messages)


@pytest.mark.parametrize(
    "regions, message",
    [
        ([], "at least one region"),
        (["   "], "at least one region"),
        ("us-east-1", "list of region names"),
        ([1], "list of region names"),
        (["us-east-1", "mars-north-1"], "mars-north-1"),
        (["cn-north-1"], "cn-north-1"),  # a China region in the aws partition
    ],
)
def test_bad_regions(regions, message):
    with pytest.raises(ValidationError, match=message):
        validate_regions(regions, partition="aws")


def test_regions_are_checked_against_the_partition_and_deduplicated():
    assert validate_regions(["us-east-1", "eu-west-1", "us-east-1"], partition="aws") == ["us-east-1", "eu-west-1"]
    assert validate_regions(["cn-north-1"], partition="aws-cn") == ["cn-north-1"]
    assert validate_regions([" US-East-1", "us-east-1"], partition="aws") == ["us-east-1"]


@pytest.mark.parametrize("value", ["", "x", "has space", "semi;colon", "x" * 1225])
def test_bad_external_ids(value):
    with pytest.raises(ValidationError):
        validate_external_id(value)


def test_mask_key_id_shows_only_the_ends():
    assert mask_key_id("AKIAABCDEFGHIJKLWXYZ") == "AKIA…WXYZ"
    assert mask_key_id("") == ""
