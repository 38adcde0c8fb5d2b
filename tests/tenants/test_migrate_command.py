"""manage.py migrate_to_roles, through call_command and the AWS stand-in."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings

from tenants import demo, services
from tenants.models import AuditEvent, CloudAccount, CloudCredential
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT
from tests.tenants.test_migration import account_state, connect_legacy

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("migrate_to_roles", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue() + f"\n{exc}"
    return 0, out.getvalue()


@pytest.fixture
def fleet(acme, globex, standin):
    """acme: two legacy accounts ready to migrate and one already on a role;
    globex: one legacy account whose role does not exist yet."""
    a1, _, secret1 = connect_legacy(acme, ACME_ACCOUNT)
    a2, _, secret2 = connect_legacy(acme, "111111111112")
    demo.seed_role("111111111113", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    a3 = services.account_connect_role(tenant=acme, account_id="111111111113", regions=["us-east-1"], actor="cli")
    g1, _, secret3 = connect_legacy(globex, "222222222222", role=None)
    return {"a1": a1, "a2": a2, "a3": a3, "g1": g1, "secrets": [secret1, secret2, secret3]}


def kinds() -> dict[str, str]:
    return dict(CloudAccount.objects.with_auth_kind().values_list("account_id", "auth_kind"))


def test_all_legacy_migrates_every_legacy_account_and_exits_1_when_one_fails(fleet, tmp_path):
    code, out = run("--all-legacy", "--concurrency", "2", "--report", str(tmp_path / "r.csv"))
    assert code == 1
    assert kinds() == {ACME_ACCOUNT: "role", "111111111112": "role", "111111111113": "role", "222222222222": "legacy_user"}
    assert "111111111113" not in out  # on a role already: not selected by --all-legacy
    assert "[1/3]" in out and "[3/3]" in out  # plain lines when not on a terminal
    assert "migrated" in out and "Failed (each account still works with its legacy keys)" in out
    assert "delete the IAM user's access key" in out
    for secret in fleet["secrets"]:
        assert secret not in out


def test_a_rerun_continues_where_the_last_one_stopped(fleet, acme, globex):
    assert run("--all-legacy", "--concurrency", "2")[0] == 1
    demo.seed_role("222222222222", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=globex.external_id)
    code, out = run("--all-legacy")
    assert code == 0, out
    assert "Migrating 1 account(s)" in out
    assert set(kinds().values()) == {"role"}
    assert AuditEvent.objects.filter(action="account.migrated_to_role").count() == 3
    # Idempotent: a third run by tenant finds everything on roles and changes nothing.
    code, out = run("--tenant", "acme", "globex")
    assert code == 0 and out.count("already on a role") == 4 + 1  # four lines + the summary row
    assert AuditEvent.objects.filter(action="account.migrated_to_role").count() == 3
    assert run("--all-legacy") == (0, "No account selected: nothing to do.\n")


def test_select_by_tenant_or_account(fleet):
    code, out = run("--tenant", "acme", "--concurrency", "1")
    assert code == 0, out
    assert "already on a role" in out and "222222222222" not in out
    assert kinds()["222222222222"] == "legacy_user"
    code, out = run("--account", "222222222222")
    assert code == 1 and "does not exist" in out


def test_dry_run_verifies_and_changes_nothing(fleet, tmp_path):
    before = [account_state(a) for a in (fleet["a1"], fleet["a2"], fleet["g1"])]
    events = AuditEvent.objects.count()
    code, out = run("--tenant", "acme", "--dry-run", "--report", str(tmp_path / "dry.json"))
    assert code == 0, out
    assert "dry run: nothing will change" in out and "Summary (dry run: nothing was changed)" in out
    rows = json.loads((tmp_path / "dry.json").read_text())
    assert [(r["account"], r["outcome"]) for r in rows] == [
        (ACME_ACCOUNT, "ready"), ("111111111112", "ready"), ("111111111113", "already_on_role"),
    ]
    assert [account_state(a) for a in (fleet["a1"], fleet["a2"], fleet["g1"])] == before
    assert AuditEvent.objects.count() == events
    code, out = run("--account", "222222222222", "--dry-run")
    assert code == 1 and "does not exist" in out
    fleet["g1"].refresh_from_db()
    assert fleet["g1"].last_error == ""  # a dry run records nothing, not even failures


@pytest.mark.parametrize("extension", ["csv", "json"])
def test_report_lists_before_after_outcome_and_message_without_secrets(fleet, tmp_path, extension):
    path = tmp_path / f"report.{extension}"
    legacy_key = fleet["a1"].active_credential()
    masked = legacy_key.masked_key_id
    assert run("--all-legacy", "--report", str(path))[0] == 1
    text = path.read_text()
    if extension == "csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        rows = json.loads(text)
    assert list(rows[0]) == ["tenant", "account", "before", "after", "outcome", "message"]
    by_account = {r["account"]: r for r in rows}
    assert set(by_account) == {ACME_ACCOUNT, "111111111112", "222222222222"}
    ok = by_account[ACME_ACCOUNT]
    assert (ok["tenant"], ok["before"], ok["after"], ok["outcome"]) == (
        "acme", f"legacy keys {masked}", f"role arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess", "migrated",
    )
    assert "Delete the IAM user's access key" in ok["message"]
    bad = by_account["222222222222"]
    assert bad["outcome"] == "failed" and bad["before"] == bad["after"] and bad["before"].startswith("legacy keys AKIA…")
    for secret in fleet["secrets"]:
        assert secret not in text
    assert legacy_key.access_key_id not in text  # masked only


def test_role_name_and_role_arn_template(acme, globex, standin):
    a, _, _ = connect_legacy(acme, ACME_ACCOUNT, role=None)
    g, _, _ = connect_legacy(globex, "222222222222", role=None)
    for account, tenant in ((a, acme), (g, globex)):
        demo.seed_role(account.account_id, role_name="Custom", trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id)
    assert run("--account", ACME_ACCOUNT, "--role-name", "Custom")[0] == 0
    assert a.active_credential().role_arn == f"arn:aws:iam::{ACME_ACCOUNT}:role/Custom"
    assert run("--tenant", "globex", "--role-arn-template", "arn:{partition}:iam::{account_id}:role/Custom")[0] == 0
    assert g.active_credential().role_arn == "arn:aws:iam::222222222222:role/Custom"


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "exactly one of"),
        (("--all-legacy", "--tenant", "acme"), "exactly one of"),
        (("--tenant", "nope"), "nope"),
        (("--account", "12345"), "12-digit"),
        (("--account", "999999999999"), "Unknown account"),
        (("--all-legacy", "--role-name", "A", "--role-arn-template", "arn:{partition}:iam::{account_id}:role/A"), "not both"),
        (("--all-legacy", "--role-name", "bad name!"), "role name"),
        (("--all-legacy", "--role-arn-template", "arn:{part}:iam::{account_id}:role/A"), "placeholders"),
        # A format spec made str.format allocate 100 GB: MemoryError, a traceback.
        (("--all-legacy", "--role-arn-template", "arn:{partition}:iam::{account_id:>100000000000}:role/A"), "placeholder"),
        (("--all-legacy", "--role-arn-template", "arn:{partition}:iam::{account_id}:role/{tenant.__class__}"), "placeholder"),
        (("--all-legacy", "--role-arn-template", "arn:{partition}:iam::{account_id!r}:role/A"), "placeholder"),
        (("--all-legacy", "--role-arn-template", "arn:{partition}:iam::{0}:role/A"), "placeholder"),
        (("--all-legacy", "--role-arn-template", "arn:{partition}:iam::{account_id}:role/{"), "Bad --role-arn-template"),
        (("--all-legacy", "--role-arn-template", "arn:aws:iam::111111111111:role/A"), "needs {account_id}"),
        (("--all-legacy", "--role-arn-template", "{account_id}"), "does not make a role ARN"),
        (("--tenant", "ac\x00me"), "Not a tenant slug"),
        (("--account", "11111111111\x00"), "12-digit"),
        (("--account", "111111111111\n"), "12-digit"),
        (("--all-legacy", "--concurrency", "0"), "at least 1"),
        (("--all-legacy", "--concurrency", "100000000"), "at most"),
        (("--all-legacy", "--report", "out.txt"), ".csv or .json"),
    ],
)
def test_usage_errors_exit_2_and_change_nothing(acme, args, message):
    with override_settings(PARKWAY_ALLOW_LEGACY_USERS=True):
        services.account_connect_legacy(
            tenant=acme, account_id=ACME_ACCOUNT, access_key_id="AKIAABCDEFGHIJKLMNOP",
            secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", regions=["us-east-1"], actor="cli",
        )
    before = kinds()
    code, out = run(*args)
    assert code == 2 and message in out
    assert kinds() == before


@pytest.mark.parametrize("where", ["a directory", "under a file", "a NUL byte"])
def test_an_unwritable_report_is_a_usage_error_before_any_account_changes(fleet, tmp_path, where):
    # The report used to be written after migrating: a traceback, and exit 1 as if accounts had failed.
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "file").write_text("")
    path = {"a directory": tmp_path / "dir.csv", "under a file": tmp_path / "file" / "r.csv", "a NUL byte": tmp_path / "r\x00.csv"}[where]
    before, events = kinds(), AuditEvent.objects.count()
    code, out = run("--all-legacy", "--report", str(path))
    assert code == 2 and "Cannot write the report" in out
    assert kinds() == before and AuditEvent.objects.count() == events


def test_a_report_that_fails_after_the_run_exits_3_with_the_summary(fleet, tmp_path, standin):
    # The disk fills (here: the report's folder becomes a file) while the first account is verified.
    folder = tmp_path / "reports"

    def lose_the_folder(call):
        if folder.is_dir():
            folder.rmdir()
            folder.write_text("")

    standin.faults.hook("sts:AssumeRole", lose_the_folder, when="before", times=1)
    code, out = run("--tenant", "acme", "--concurrency", "1", "--report", str(folder / "r.csv"))
    assert code == 3, out
    assert "Summary" in out and "could not be written" in out
    assert kinds()[ACME_ACCOUNT] == "role" and kinds()["111111111112"] == "role"


def test_usage_error_exit_code_from_the_shell():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": "sqlite:///:memory:"}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate_to_roles", "--tenant", "a", "--all-legacy"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "exactly one of" in done.stderr


@pytest.fixture
def ctrl_c_interrupts():
    """Python's own SIGINT handler, whatever the test runner was started with
    (under nohup or some CI shells SIGINT is ignored, and a Ctrl-C would do nothing)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_keeps_finished_migrations_and_a_rerun_continues(fleet, standin, ctrl_c_interrupts):
    verified: list[str] = []  # the accounts whose role was assumed (verification starts with it)

    def press_ctrl_c_during_the_first(call):
        verified.append(call.params.get("RoleArn", "").split(":")[4])
        if len(verified) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # delivered to the command's handler in the main thread

    standin.faults.hook("sts:AssumeRole", press_ctrl_c_during_the_first, when="before", times=None)
    code, out = run("--all-legacy", "--concurrency", "1")
    assert code == 130, out
    assert "run the command again" in out
    assert verified == [ACME_ACCOUNT]  # the account in flight finished; nothing new started
    assert kinds()[ACME_ACCOUNT] == "role"
    assert kinds()["111111111112"] == "legacy_user" and "not attempted" in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    standin.faults.clear()
    code, out = run("--all-legacy", "--concurrency", "1")
    assert code == 1  # globex's role is still missing
    assert kinds()["111111111112"] == "role"
    assert CloudCredential.objects.filter(retired_at__isnull=True).count() == 4
