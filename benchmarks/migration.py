"""How fast does a bulk migration to IAM roles go, and what does it cost in AWS calls?
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/migration.py [--accounts N] [--concurrency 1 4 8]

N legacy accounts (default 200, a few minutes on 2 cores; `--accounts 1000` is
the full-size run), each with the role our template creates, on the AWS stand-in (moto + trust-policy / External ID / permission checks) served
by `portal.aws_standin.StandinServer` in a child process, so that the server
and the client do not share one GIL. For each concurrency the accounts are put
back on legacy keys and migrated with `tenants.migration.accounts_migrate_to_role`
(what `manage.py migrate_to_roles` runs), then a bare boto3 loop makes the same
AWS calls for the same accounts with the same number of threads: the difference
is Parkway's own overhead (sessions, database, audit). Django runs with
`tests.settings` on a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUR_ACCOUNT = "123456789012"  # the stand-in's default account plays Parkway's own
FIRST_ACCOUNT = 700_000_000_000
ROLE_NAME = "ParkwayAccess"
# What verifying one role costs at least: AssumeRole with the External ID, the
# caller's identity (the account must match), and one probe per action the
# role may need for each kind (tenants.onboarding.KIND_ACTIONS: EC2, RDS, Auto
# Scaling), so the connection page can say what Parkway may do.
def _minimum_calls() -> dict[str, int]:
    from tenants.onboarding import KIND_ACTIONS

    probes = {action: 1 for levels in KIND_ACTIONS.values() for actions in levels.values() for action in actions}
    return {"sts:AssumeRole": 1, "sts:GetCallerIdentity": 1} | probes


def serve_standin(conn: Any) -> None:
    """Child process: the stand-in on a free port until the parent closes the pipe."""
    from portal.aws_standin import StandinServer

    server = StandinServer(port=0).start()
    conn.send(server.url)
    try:
        conn.recv()
    except EOFError:
        pass
    server.stop()


def standin_calls(url: str) -> Counter[str]:
    with urllib.request.urlopen(f"{url}/_standin/calls", timeout=10) as response:
        return Counter(json.load(response))


def reset_standin_calls(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_standin/calls", method="DELETE"), timeout=10).close()


def setup_django(db_path: Path, endpoint: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"sqlite:///{db_path}",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        LOG_LEVEL="ERROR",
    )
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(var, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int) -> list[Any]:
    """Tenants and accounts in the database, their roles on the stand-in."""
    from django.utils import timezone

    from tenants import demo
    from tenants.models import CloudAccount, Tenant

    tenants = Tenant.objects.bulk_create([Tenant(name=f"Bench {i}", slug=f"bench-{i}") for i in range(n)])
    # Legacy customers of long standing: connected and claimed (so their roles are
    # not probed for the External ID condition, which only a first claim does).
    now = timezone.now()
    accounts = CloudAccount.objects.bulk_create(
        [
            CloudAccount(
                tenant=t, account_id=str(FIRST_ACCOUNT + i), name=f"bench {i}", regions=["us-east-1"],
                status="connected", claimed_at=now,
            )
            for i, t in enumerate(tenants)
        ]
    )

    def seed_role(pair: tuple[Any, Any]) -> None:
        account, tenant = pair
        demo.seed_role(account.account_id, role_name=ROLE_NAME, trusted_account_id=OUR_ACCOUNT, external_id=tenant.external_id)
        # moto builds an account's EC2 backend on its first EC2 call (~1 s): build
        # it now, or whichever side runs first pays for it inside its timing.
        demo.account_client("ec2", account.account_id).describe_instances()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(seed_role, zip(accounts, tenants)))
    return accounts


def put_back_on_legacy_keys() -> None:
    """Every account back on (made-up) IAM-user keys: the migration never uses them."""
    from tenants.models import CloudAccount, CloudCredential

    CloudCredential.objects.all().delete()
    CloudCredential.objects.bulk_create(
        [
            CloudCredential(
                account_id=pk, kind="legacy_user", access_key_id=f"AKIA{i:016d}",
                secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            for i, pk in enumerate(CloudAccount.objects.order_by("pk").values_list("pk", flat=True))
        ]
    )


def migrate_with_parkway(concurrency: int) -> tuple[float, float, Counter[str]]:
    """Wall time, time spent in the database switch (main thread), outcomes."""
    from tenants import aws, migration
    from tenants.migration import steps as migration_steps  # _switch is looked up there
    from tenants.models import CloudAccount

    aws.clear_session_cache()
    accounts = list(CloudAccount.objects.select_related("tenant").order_by("pk"))
    in_switch = 0.0
    real_switch = migration_steps._switch

    def timed_switch(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_switch
        t = time.perf_counter()
        try:
            return real_switch(*args, **kwargs)
        finally:
            in_switch += time.perf_counter() - t

    migration_steps._switch = timed_switch
    try:
        t0 = time.perf_counter()
        results = migration.accounts_migrate_to_role(accounts=accounts, actor="benchmark", concurrency=concurrency)
        elapsed = time.perf_counter() - t0
    finally:
        migration_steps._switch = real_switch
    return elapsed, in_switch, Counter(r.outcome.value for r in results)


def bare_boto3_loop(concurrency: int) -> tuple[float, int]:
    """The same calls with plain boto3: one session per thread, nothing stored."""
    import threading

    import boto3
    from botocore.exceptions import ClientError

    from tenants.models import CloudAccount

    targets = list(CloudAccount.objects.order_by("pk").values_list("account_id", "tenant__external_id", "tenant__slug"))
    local = threading.local()

    def one(target: tuple[str, str, str]) -> bool:
        account_id, external_id, slug = target
        if not hasattr(local, "session"):
            local.session = boto3.session.Session()
            local.sts = local.session.client("sts", region_name="us-east-1")
        role = local.sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE_NAME}", RoleSessionName=f"parkway-{slug}",
            ExternalId=external_id, DurationSeconds=3600,
        )["Credentials"]
        keys = dict(
            aws_access_key_id=role["AccessKeyId"], aws_secret_access_key=role["SecretAccessKey"],
            aws_session_token=role["SessionToken"], region_name="us-east-1",
        )
        ok = local.session.client("sts", **keys).get_caller_identity()["Account"] == account_id
        ec2 = local.session.client("ec2", **keys)
        ec2.describe_instances(MaxResults=5)
        for call in (ec2.stop_instances, ec2.start_instances):
            try:
                call(InstanceIds=["i-0000000000000000f"], DryRun=True)
            except ClientError as exc:
                ok = ok and exc.response["Error"]["Code"] == "DryRunOperation"
        return ok

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        ok = sum(pool.map(one, targets))
    return time.perf_counter() - t0, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 200 keeps the default run to ~2.5 minutes on 2 cores (the stand-in serves ~10
    # accounts/s at best); --accounts 1000 is the full-size run (~12 minutes).
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    n = args.accounts

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve_standin, args=(child,), daemon=True)
    server.start()
    url = parent.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="parkway-bench-") as tmp:
            setup_django(Path(tmp) / "bench.sqlite3", url)
            print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), stand-in {url} (separate process), SQLite")
            t0 = time.perf_counter()
            seed(n)
            print(f"Seeded {n:,} accounts and roles in {time.perf_counter() - t0:.1f} s")

            rows = []
            calls_per_account: Counter[str] = Counter()
            for concurrency in args.concurrency:
                put_back_on_legacy_keys()
                reset_standin_calls(url)
                elapsed, in_switch, outcomes = migrate_with_parkway(concurrency)
                calls = standin_calls(url)
                if concurrency == args.concurrency[0]:
                    calls_per_account = calls
                reset_standin_calls(url)
                bare, bare_ok = bare_boto3_loop(concurrency)
                rows.append((concurrency, elapsed, in_switch, outcomes, bare, bare_ok, sum(calls.values())))

            minimum = _minimum_calls()
            print(f"\nAWS calls per account (migration at concurrency {args.concurrency[0]}), against the minimum")
            for action in sorted(set(calls_per_account) | set(minimum)):
                print(f"  {action:<24} {calls_per_account[action] / n:6.2f}   minimum {minimum.get(action, 0)}")
            print(f"  {'total':<24} {sum(calls_per_account.values()) / n:6.2f}   minimum {sum(minimum.values())}")

            print(f"\nWall time for {n:,} accounts (switch = database transaction per account, in the main thread)")
            print(f"  {'threads':>7}  {'parkway':>9}  {'acct/s':>7}  {'switch':>9}  {'bare boto3':>10}  {'acct/s':>7}  {'ratio':>6}  outcomes")
            for concurrency, elapsed, in_switch, outcomes, bare, bare_ok, total_calls in rows:
                summary = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
                print(
                    f"  {concurrency:>7}  {elapsed:>8.1f}s  {n / elapsed:>7.1f}  {in_switch * 1e3 / n:>6.1f} ms"
                    f"  {bare:>9.1f}s  {n / bare:>7.1f}  {elapsed / bare:>5.2f}x"
                    f"  {summary}; bare ok {bare_ok}; {total_calls / n:.1f} calls/account"
                )
    finally:
        parent.close()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
