"""The Terraform module (tenants.onboarding.terraform_module): parsed with an
HCL parser and compared with the one source the CloudFormation template uses,
and with what the issue allows, written out here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

from tenants import onboarding
from tests.tenants.test_onboarding import EXACT_ACTIONS, _actions

pytestmark = pytest.mark.django_db

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="the terraform binary is not installed")


def parsed(text: str) -> dict:
    return hcl2.loads(
        text, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    )


def blocks(module: dict, kind: str) -> dict:
    """{"aws_iam_role.parkway": {...}} for resource/data blocks, {"role_arn": {...}} for outputs."""
    found = {}
    for entry in module.get(kind, []):
        for type_name, body in entry.items():
            if kind in ("resource", "data"):
                for name, attributes in body.items():
                    found[f"{type_name}.{name}"] = attributes
            else:
                found[type_name] = body
    return found


def test_the_module_holds_the_same_policies_as_the_one_source(acme):
    module = parsed(onboarding.terraform_module(acme))
    (local_values,) = module["locals"]
    assert local_values["trust_policy"] == onboarding.trust_policy(acme)
    assert local_values["permission_policy"] == onboarding.permission_policy()


def test_the_role_trusts_our_account_with_the_tenant_external_id_and_grants_only_parking(acme, settings):
    module = parsed(onboarding.terraform_module(acme))
    (local_values,) = module["locals"]
    (trust,) = local_values["trust_policy"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": acme.external_id}}
    statements = local_values["permission_policy"]["Statement"]
    assert {a for s in statements for a in _actions(s)} == EXACT_ACTIONS
    assert all(s["Effect"] == "Allow" for s in statements)

    resources = blocks(module, "resource")
    assert set(resources) == {"aws_iam_role.parkway", "aws_iam_role_policy.parkway"}
    role = resources["aws_iam_role.parkway"]
    assert role["name"] == settings.PARKWAY_ROLE_NAME
    assert role["assume_role_policy"] == "${jsonencode(local.trust_policy)}"
    assert role["max_session_duration"] >= 3600
    inline = resources["aws_iam_role_policy.parkway"]
    assert inline["role"] == "${aws_iam_role.parkway.id}"
    assert inline["policy"] == "${jsonencode(local.permission_policy)}"
    assert blocks(module, "output")["role_arn"]["value"] == "${aws_iam_role.parkway.arn}"


def test_the_module_carries_only_its_own_tenants_external_id(acme, globex):
    text = onboarding.terraform_module(acme)
    assert acme.external_id in text and globex.external_id not in text


def test_role_name_partition_and_region_follow_the_settings(acme, settings):
    settings.PARKWAY_ROLE_NAME = "AcmeParkway"
    settings.PARKWAY_AWS_PARTITION = "aws-us-gov"
    settings.PARKWAY_AWS_DEFAULT_REGION = "us-gov-west-1"
    module = parsed(onboarding.terraform_module(acme))
    (local_values,) = module["locals"]
    assert local_values["trust_policy"]["Statement"][0]["Principal"] == {"AWS": "arn:aws-us-gov:iam::123456789012:root"}
    scoped = [s["Resource"] for s in local_values["permission_policy"]["Statement"] if s["Resource"] != "*"]
    arns = [arn for resource in scoped for arn in ([resource] if isinstance(resource, str) else resource)]
    assert arns and all(arn.startswith("arn:aws-us-gov:") for arn in arns)
    assert blocks(module, "resource")["aws_iam_role.parkway"]["name"] == "AcmeParkway"
    (region,) = [v["region"] for v in module["variable"] if "region" in v]
    assert region["default"] == "us-gov-west-1"


def test_the_readme_in_the_file_gives_the_three_commands(acme):
    text = onboarding.terraform_module(acme)
    header = [line for line in text.splitlines() if line.startswith("#   terraform ")]
    assert [line.split()[1:3] for line in header] == [["terraform", "init"], ["terraform", "apply"], ["terraform", "output"]]


@needs_terraform
def test_terraform_itself_reads_the_file_as_already_formatted(acme, tmp_path: Path):
    (tmp_path / "main.tf").write_text(onboarding.terraform_module(acme))
    result = subprocess.run([TERRAFORM, "fmt", "-check", "-diff", "-no-color", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_terraform
def test_strings_that_look_like_hcl_templates_reach_terraform_unchanged(tmp_path: Path):
    # HCL strings are templates: "${" and "%{" must arrive as written, not be
    # evaluated; so must quotes, backslashes and control characters.
    value = {"a": 'x${y}%{z}"q"\\b\nl\tt\x01 é', "k:${": ["1", "%{ if }"]}
    (tmp_path / "main.tf").write_text(f"locals {{\n  v = {onboarding._hcl_value(value, 1)}\n}}\n")
    result = subprocess.run(
        [TERRAFORM, f"-chdir={tmp_path}", "console", "-no-color"],
        input="jsonencode(local.v)\n", capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(json.loads(result.stdout)) == value
