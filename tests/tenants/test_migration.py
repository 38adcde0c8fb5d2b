"""account_migrate_to_role: legacy keys → IAM role, through the stand-in (which
checks trust policies, External IDs and EC2 permissions the way AWS does).

The promise under test: success keeps every piece of configuration (same rows,
same primary keys, same links); any failure leaves the account, its legacy
credential and its configuration exactly as they were, still parking with the
old keys.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, connections, models
from django.test.utils import override_settings
from django.utils import timezone

from tenants import aws, demo, migration, services
from tenants.migration import Outcome, account_check_role, account_migrate_to_role, accounts_migrate_to_role
from tenants.models import AuditEvent, CloudAccount, CloudCredential, Tenant
from tests.conftest import ACME_ACCOUNT, OUR_ACCOUNT, throttle_verification

pytestmark = pytest.mark.django_db

DESCRIBE_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}


# --------------------------------------------------------------------------- helpers (shared by the other migration tests)


def connect_legacy(
    tenant: Tenant, account_id: str, *, role: str | None = "trusted", regions: list[str] | None = None, name: str = ""
) -> tuple[CloudAccount, str, str]:
    """A legacy customer as they exist today: IAM user keys in moto and in Parkway,
    and (unless role=None) the role our template would create.

    role: "trusted" (right External ID), "wrong_external_id", "describe_only".
    """
    key_id, secret = demo.seed_legacy_user(account_id)
    if role is not None:
        demo.seed_role(
            account_id,
            role_name="ParkwayAccess",
            trusted_account_id=OUR_ACCOUNT,
            external_id="someone-elses-id" if role == "wrong_external_id" else tenant.external_id,
            policy=DESCRIBE_ONLY if role == "describe_only" else None,
        )
    with override_settings(PARKWAY_ALLOW_LEGACY_USERS=True):
        account = services.account_connect_legacy(
            tenant=tenant, account_id=account_id, access_key_id=key_id, secret_access_key=secret,
            name=name or f"{tenant.slug} production", regions=regions or ["us-east-1"], actor="cli",
        )
    # Connected for years: parked, and so claimed for its tenant (migration 0003 claims such accounts).
    CloudAccount.objects.filter(pk=account.pk).update(status=CloudAccount.Status.CONNECTED, claimed_at=timezone.now())
    account.refresh_from_db()
    return account, key_id, secret


def assert_legacy_keys_still_park(account: CloudAccount, key_id: str, secret: str) -> None:
    account = CloudAccount.objects.select_related("tenant").get(pk=account.pk)
    credential = account.active_credential()
    assert credential.kind == CloudCredential.Kind.LEGACY_USER and credential.retired_at is None
    assert credential.secret_access_key == secret
    session = aws.session_for(account)
    assert session.get_credentials().access_key == key_id
    # The stand-in rejects unknown or deleted keys and checks the user's EC2 permissions.
    assert aws.client(session, "sts").get_caller_identity()["Account"] == account.account_id
    aws.client(session, "ec2", "us-east-1").describe_instances()


def account_state(account: CloudAccount) -> dict[str, Any]:
    """Everything a failed migration must not change (last_error aside: it carries the reason)."""
    row = CloudAccount.objects.values().get(pk=account.pk)
    row.pop("last_error")
    return {
        "account": row,
        "credentials": list(CloudCredential.objects.filter(account=account).order_by("pk").values()),
        "secrets": [c.secret_access_key for c in CloudCredential.objects.filter(account=account).order_by("pk")],
        "configuration": configuration_snapshot(account),
    }


def configuration_models() -> list[type[models.Model]]:
    """Models hanging off CloudAccount, directly or through one another (resources →
    overrides, runs → actions…), except the credentials and the audit log."""
    found: list[type[models.Model]] = []
    queue: list[type[models.Model]] = [CloudAccount]
    while queue:
        parent = queue.pop(0)
        for relation in parent._meta.related_objects:
            model = relation.related_model
            if model in (CloudAccount, CloudCredential, AuditEvent) or model in found:
                continue
            if relation.many_to_many:
                continue
            found.append(model)
            queue.append(model)
    return found


def configuration_snapshot(account: CloudAccount) -> dict[str, list[dict[str, Any]]]:
    return {model._meta.label: list(model._default_manager.order_by("pk").values()) for model in configuration_models()}


_counter = iter(range(10**6))


def autofill(model: type[models.Model], made: dict[type[models.Model], models.Model], account: CloudAccount) -> models.Model:
    """One row of any model, linked to `account` (directly or through rows made before).

    Written against field types, not field names, so that models other engineers
    add to accounts are covered by the generic test without editing it."""
    if model in made:
        return made[model]
    values: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if f.auto_created or isinstance(f, models.AutoField):
            continue
        if f.is_relation:
            target = f.related_model
            if target is CloudAccount:
                values[f.name] = account
            elif target is Tenant:
                values[f.name] = account.tenant
            elif target is get_user_model() and f.null:
                continue
            elif f.null and target not in made and target not in configuration_models():
                continue
            else:
                values[f.name] = autofill(target, made, account)
            continue
        if f.has_default() or f.null or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            continue
        n = next(_counter)
        if f.choices:
            values[f.name] = f.choices[0][0]
        elif isinstance(f, models.DateTimeField):
            values[f.name] = timezone.now()
        elif isinstance(f, models.DateField):
            values[f.name] = dt.date(2025, 1, 1)
        elif isinstance(f, models.TimeField):
            values[f.name] = dt.time(8, 0)
        elif isinstance(f, models.DurationField):
            values[f.name] = dt.timedelta(minutes=5)
        elif isinstance(f, models.BooleanField):
            values[f.name] = False
        elif isinstance(f, models.DecimalField):
            values[f.name] = Decimal("1")
        elif isinstance(f, (models.IntegerField, models.FloatField)):
            values[f.name] = 1
        elif isinstance(f, models.UUIDField):
            values[f.name] = uuid.uuid4()
        elif isinstance(f, models.JSONField):
            values[f.name] = {}
        elif isinstance(f, models.EmailField):
            values[f.name] = f"row{n}@example.test"
        elif isinstance(f, (models.CharField, models.TextField)):
            values[f.name] = f"r{n}"[: f.max_length or 50]
        else:
            pytest.fail(f"autofill does not know {type(f).__name__} ({model._meta.label}.{f.name})")
    made[model] = model._default_manager.create(**values)
    return made[model]


def assert_secret_nowhere(secret: str, *texts: object) -> None:
    for text in texts:
        assert secret not in str(text)


@pytest.fixture
def legacy(acme, standin):
    return connect_legacy(acme, ACME_ACCOUNT)


# --------------------------------------------------------------------------- success


def test_migration_switches_to_the_conventional_role_and_retires_the_keys(legacy, acme, staff, standin, caplog):
    account, key_id, secret = legacy
    legacy_credential = account.active_credential()

    result = account_migrate_to_role(account=account, actor=staff)

    assert result.outcome is Outcome.MIGRATED, result.message
    arn = f"arn:aws:iam::{ACME_ACCOUNT}:role/ParkwayAccess"
    assert result.role_arn == arn == account.conventional_role_arn
    account.refresh_from_db()
    active = account.active_credential()
    assert active.kind == CloudCredential.Kind.ROLE and active.role_arn == arn and active.verified_at is not None
    assert (account.status, account.last_error) == (CloudAccount.Status.CONNECTED, "")
    legacy_credential.refresh_from_db()
    assert legacy_credential.retired_at is not None and legacy_credential.secret_access_key == ""
    # Only the masked key ID stays, for history: the whole one is nowhere (issue 9).
    assert legacy_credential.access_key_id == legacy_credential.masked_key_id == f"{key_id[:4]}…{key_id[-4:]}"
    assert not CloudCredential.objects.filter(access_key_id=key_id).exists()
    assert not any(key_id in str(e.details) for e in AuditEvent.objects.all())
    assert key_id not in caplog.text
    assert result.before == f"legacy keys {legacy_credential.masked_key_id}" and result.after == f"role {arn}"

    event = AuditEvent.objects.get(action="account.migrated_to_role")
    assert (event.account, event.tenant, event.actor) == (account, acme, staff)
    assert event.details["before"] == {
        "method": "legacy_user", "credential_id": legacy_credential.pk, "credential": f"legacy keys {legacy_credential.masked_key_id}",
    }
    assert event.details["after"] == {"method": "role", "credential_id": active.pk, "role_arn": arn}
    # The customer deletes the key: we must not hold the permission to.
    for text in (result.message, result.next_steps, event.details["next_steps"]):
        assert "Delete the IAM user's access key" in text and legacy_credential.masked_key_id in text
    assert_secret_nowhere(secret, result, result.message, event.details, caplog.text)
    assert key_id not in str(event.details) and key_id not in result.message


def test_after_migration_parking_goes_through_assume_role(legacy, standin):
    account, key_id, _ = legacy
    assert account_migrate_to_role(account=account, actor="cli").outcome is Outcome.MIGRATED
    standin.reset_calls()
    account = CloudAccount.objects.select_related("tenant").get(pk=account.pk)
    session = aws.session_for(account)
    aws.client(session, "ec2", "us-east-1").describe_instances()
    assert standin.calls()["sts:AssumeRole"] == 1
    assert session.get_credentials().access_key.startswith("ASIA")


def test_migration_to_a_custom_role_arn(acme, standin):
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT, role=None)
    arn = demo.seed_role(ACME_ACCOUNT, role_name="CustomParkway", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    result = account_migrate_to_role(account=account, role_arn=f"  {arn} ", actor="cli")
    assert result.outcome is Outcome.MIGRATED, result.message
    assert account.active_credential().role_arn == arn


def test_migration_is_idempotent_and_a_second_run_calls_no_aws(legacy, standin):
    account, _, _ = legacy
    first = account_migrate_to_role(account=account, actor="cli")
    standin.reset_calls()
    second = account_migrate_to_role(account=account, actor="cli")
    assert (first.outcome, second.outcome) == (Outcome.MIGRATED, Outcome.ALREADY_ON_ROLE)
    assert "Already on the IAM role" in second.message and second.ok and second.on_role
    assert sum(standin.calls().values()) == 0
    assert AuditEvent.objects.filter(action="account.migrated_to_role").count() == 1
    assert account.credentials.count() == 2


def test_migration_keeps_every_row_hanging_off_the_account(legacy, acme, globex, standin):
    """Generic: every model with a ForeignKey to CloudAccount (and the models hanging
    off those) keeps its rows, primary keys, links and values."""
    account, _, _ = legacy
    other, _, _ = connect_legacy(globex, "222222222222")
    made: dict = {}
    for model in configuration_models():
        autofill(model, made, account)
    for model in configuration_models():
        autofill(model, {}, other)
    links = {
        (relation.related_model._meta.label, relation.field.name): list(
            relation.related_model._default_manager.filter(**{relation.field.name: account}).values_list("pk", flat=True)
        )
        for relation in CloudAccount._meta.related_objects
        if relation.related_model not in (CloudCredential, AuditEvent)
    }
    before = configuration_snapshot(account)
    assert all(before.values()), before  # every configuration model got rows

    assert account_migrate_to_role(account=account, actor="cli").outcome is Outcome.MIGRATED

    assert configuration_snapshot(account) == before
    for (label, field_name), pks in links.items():
        model = next(r.related_model for r in CloudAccount._meta.related_objects if r.related_model._meta.label == label)
        assert pks and list(model._default_manager.filter(**{field_name: account}).values_list("pk", flat=True)) == pks
    assert CloudAccount.objects.filter(pk=account.pk).values_list("name", "regions", "tenant").get() == (
        account.name, account.regions, acme.pk,
    )


def test_migration_keeps_schedules_resources_overrides_and_parking_history(legacy, acme, standin):
    scheduling = pytest.importorskip("scheduling.models")
    needed = ("Schedule", "Resource", "Override", "ParkingRun", "ParkingAction")
    if not all(hasattr(scheduling, name) for name in needed):
        pytest.skip("the parking models are not in scheduling.models yet")
    account, _, _ = legacy
    now = timezone.now()
    schedule = scheduling.Schedule.objects.create(tenant=acme, name="office-hours", timezone="Europe/Berlin")
    scheduling.Period.objects.create(schedule=schedule, begintime=dt.time(8), endtime=dt.time(18), weekdays="mon-fri")
    resource = scheduling.Resource.objects.create(
        account=account, region="us-east-1", resource_id="i-0123456789abcdef0", name="web-1",
        tags={"Schedule": "office-hours"}, state="running", schedule=schedule, first_seen_at=now, last_seen_at=now,
    )
    override = scheduling.Override.objects.create(
        resource=resource, state="running", until=now + dt.timedelta(hours=4), reason="demo", created_by_label="alice",
    )
    run = scheduling.ParkingRun.objects.create(account=account, tick_at=now, started_at=now, status="succeeded", planned=1, succeeded=1)
    action = scheduling.ParkingAction.objects.create(run=run, resource=resource, action="stop", reason="period ended", outcome="succeeded")

    assert account_migrate_to_role(account=account, actor="cli").outcome is Outcome.MIGRATED

    resource.refresh_from_db(), override.refresh_from_db(), run.refresh_from_db(), action.refresh_from_db()
    assert (resource.account_id, resource.schedule_id) == (account.pk, schedule.pk)
    assert override.resource_id == resource.pk and override.until > now
    assert run.account_id == account.pk and (action.run_id, action.resource_id) == (run.pk, resource.pk)
    assert list(account.resources.values_list("pk", flat=True)) == [resource.pk]
    assert list(account.parking_runs.values_list("pk", flat=True)) == [run.pk]
    assert schedule.periods.count() == 1


# --------------------------------------------------------------------------- failures


def _no_role(acme, monkeypatch, settings, standin):
    return connect_legacy(acme, ACME_ACCOUNT, role=None), {}


def _wrong_external_id(acme, monkeypatch, settings, standin):
    return connect_legacy(acme, ACME_ACCOUNT, role="wrong_external_id"), {}


def _missing_permission(acme, monkeypatch, settings, standin):
    return connect_legacy(acme, ACME_ACCOUNT, role="describe_only"), {}


def _wrong_account(acme, monkeypatch, settings, standin):
    demo.seed_role("999999999999", role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    return connect_legacy(acme, ACME_ACCOUNT), {"role_arn": "arn:aws:iam::999999999999:role/ParkwayAccess"}


def _partition_mismatch(acme, monkeypatch, settings, standin):
    return connect_legacy(acme, ACME_ACCOUNT), {"role_arn": f"arn:aws-us-gov:iam::{ACME_ACCOUNT}:role/ParkwayAccess"}


def _malformed_arn(acme, monkeypatch, settings, standin):
    return connect_legacy(acme, ACME_ACCOUNT), {"role_arn": "ParkwayAccess"}


def _throttled(acme, monkeypatch, settings, standin):
    throttle_verification(standin, settings)
    return connect_legacy(acme, ACME_ACCOUNT), {}


def _fail_insert(mp, table: str, marker: str, error: str) -> None:
    """The database refuses the INSERT into `table` whose values carry `marker`
    (a fault of the database, not of our code: installed as a Django execute wrapper)."""

    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(f'INSERT INTO "{table.upper()}"'.upper()) and marker in map(str, params or ()):
            raise DatabaseError(error)
        return execute(sql, params, many, context)

    wrapper = connections["default"]  # this thread's connection itself, not the proxy
    mp.setattr(wrapper, "execute_wrappers", [*wrapper.execute_wrappers, refuse])


def _audit_fails_in_the_switch(acme, monkeypatch, settings, standin):
    _fail_insert(monkeypatch, "tenants_auditevent", "account.migrated_to_role", "disk full")
    return connect_legacy(acme, ACME_ACCOUNT), {}


def _credential_save_fails_in_the_switch(acme, monkeypatch, settings, standin):
    _fail_insert(monkeypatch, "tenants_cloudcredential", CloudCredential.Kind.ROLE, "connection lost")
    return connect_legacy(acme, ACME_ACCOUNT), {}


FAILURES = {
    "role missing": (_no_role, "AccessDenied", "does not exist"),
    "External ID wrong": (_wrong_external_id, "AccessDenied", "External ID"),
    "permission missing": (_missing_permission, "UnauthorizedOperation", "ec2:StopInstances"),
    "wrong account": (_wrong_account, "account_mismatch", "belongs to AWS account 999999999999"),
    "partition mismatch": (_partition_mismatch, "partition_mismatch", "cannot be assumed across partitions"),
    "malformed ARN": (_malformed_arn, "invalid_role_arn", "Enter an IAM role ARN"),
    "throttled": (_throttled, "Throttling", "throttling"),
    "audit write fails in the switch": (_audit_fails_in_the_switch, "DatabaseError", "database error"),
    "credential save fails in the switch": (_credential_save_fails_in_the_switch, "DatabaseError", "database error"),
}


@pytest.mark.parametrize("case", FAILURES.keys())
def test_a_failed_migration_changes_nothing_and_the_old_keys_still_park(case, acme, standin, settings, caplog):
    setup, code, reason = FAILURES[case]
    with pytest.MonkeyPatch.context() as mp:  # undone before the old keys are tried with the real code
        (account, key_id, secret), kwargs = setup(acme, mp, settings, standin)
        before = account_state(account)
        result = account_migrate_to_role(account=account, actor="cli", **kwargs)
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 5

    assert result.outcome is Outcome.FAILED and not result.ok, result.message
    assert result.code == code
    assert reason.lower() in result.message.lower()
    assert "Nothing was changed" in result.message and "still works with its legacy keys" in result.message
    assert account_state(account) == before
    account.refresh_from_db()
    assert account.last_error.startswith("Migration to IAM role failed:") and reason.lower() in account.last_error.lower()
    event = AuditEvent.objects.get(action="account.migration_failed")
    assert event.account == account and event.details["code"] == code
    assert not AuditEvent.objects.filter(action="account.migrated_to_role").exists()
    assert_legacy_keys_still_park(account, key_id, secret)
    assert_secret_nowhere(secret, result, event.details, caplog.text)


def test_throttling_is_reported_as_transient(acme, standin, monkeypatch, settings):
    (account, _, _), _ = _throttled(acme, monkeypatch, settings, standin)
    result = account_migrate_to_role(account=account, actor="cli")
    assert result.outcome is Outcome.FAILED and not result.permanent
    assert AuditEvent.objects.get(action="account.migration_failed").details["permanent"] is False


def test_a_failed_attempt_can_be_retried_once_the_customer_fixes_the_role(acme, standin):
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT, role=None)
    assert account_migrate_to_role(account=account, actor="cli").outcome is Outcome.FAILED
    demo.seed_role(ACME_ACCOUNT, role_name="ParkwayAccess", trusted_account_id=OUR_ACCOUNT, external_id=acme.external_id)
    result = account_migrate_to_role(account=account, actor="cli")
    assert result.outcome is Outcome.MIGRATED
    account.refresh_from_db()
    assert account.last_error == ""


# --------------------------------------------------------------------------- pre-check and bulk


def test_check_role_verifies_without_changing_or_recording_anything(legacy, standin):
    account, key_id, secret = legacy
    before = account_state(account)
    events = AuditEvent.objects.count()
    result = account_check_role(account=account)
    assert result.outcome is Outcome.READY and result.ok and not result.on_role
    assert ("sts:AssumeRole", True) in result.checks and ("ec2:StartInstances", True) in result.checks
    assert account_state(account) == before and AuditEvent.objects.count() == events
    assert standin.calls()["sts:AssumeRole"] == 1


def test_bulk_dry_run_changes_nothing_even_on_failure(acme, globex, standin):
    good, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    bad, _, _ = connect_legacy(globex, "222222222222", role=None)
    before = [account_state(good), account_state(bad)]
    events = AuditEvent.objects.count()
    results = accounts_migrate_to_role(accounts=[good, bad], actor="cli", dry_run=True, concurrency=2)
    assert {r.account.pk: r.outcome for r in results} == {good.pk: Outcome.READY, bad.pk: Outcome.FAILED}
    assert [account_state(good), account_state(bad)] == before
    bad.refresh_from_db()
    assert bad.last_error == "" and AuditEvent.objects.count() == events


def test_bulk_migrates_in_parallel_threads_and_writes_in_the_caller(acme, globex, standin):
    # Runs inside the test's transaction: it only works because the worker
    # threads never touch the database.
    a, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    b, _, _ = connect_legacy(globex, "222222222222")
    c, _, _ = connect_legacy(globex, "333333333333", role="wrong_external_id")
    seen = []
    results = accounts_migrate_to_role(accounts=[a, b, c], actor="cli", concurrency=3, on_result=seen.append)
    assert seen == results
    assert {r.account.pk: r.outcome for r in results} == {a.pk: Outcome.MIGRATED, b.pk: Outcome.MIGRATED, c.pk: Outcome.FAILED}
    assert set(CloudAccount.objects.on_role().values_list("pk", flat=True)) == {a.pk, b.pk}


def test_bulk_stop_finishes_the_account_in_flight_and_starts_nothing_new(acme, globex, standin):
    a, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    b, _, _ = connect_legacy(globex, "222222222222")
    stop = threading.Event()
    # What the command's SIGINT handler does, while the first role is being assumed.
    standin.faults.hook("sts:AssumeRole", lambda call: stop.set(), when="before", times=1)
    results = accounts_migrate_to_role(accounts=[a, b], actor="cli", concurrency=1, stop=stop)
    assert [r.outcome for r in results] == [Outcome.MIGRATED, Outcome.NOT_ATTEMPTED]
    assert "Run again" in results[1].message
    assert b.active_credential().is_legacy
    rerun = accounts_migrate_to_role(accounts=[a, b], actor="cli", concurrency=1)
    assert sorted(r.outcome for r in rerun) == [Outcome.ALREADY_ON_ROLE, Outcome.MIGRATED]


def test_migration_progress_counts_in_one_query(acme, globex, standin, django_assert_num_queries):
    a, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    connect_legacy(globex, "222222222222")
    connect_legacy(globex, "333333333333")
    services.account_connect_role(tenant=acme, account_id="444444444444", regions=["us-east-1"], actor="cli")
    account_migrate_to_role(account=a, actor="cli")
    with django_assert_num_queries(1):
        progress = migration.migration_progress()
    assert (progress.on_legacy, progress.on_role, progress.migrated) == (2, 2, 1)
    assert progress.percent_migrated == 33


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_migrations_of_one_account_migrate_it_once(acme, standin, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no row locks (it serializes whole-database writers instead)")
    account, _, _ = connect_legacy(acme, ACME_ACCOUNT)
    both_verified = threading.Barrier(2, timeout=30)
    # Both verifications end with the StartInstances permission probe: hold each
    # answer until both arrived, so that both then race for the switch.
    standin.faults.hook("ec2:StartInstances", lambda call: both_verified.wait(), when="after", times=2)
    results: list = []
    errors: list = []

    def migrate() -> None:
        try:
            mine = CloudAccount.objects.select_related("tenant").get(pk=account.pk)
            results.append(account_migrate_to_role(account=mine, actor="cli"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(r.outcome for r in results) == [Outcome.ALREADY_ON_ROLE, Outcome.MIGRATED]
    assert CloudCredential.objects.filter(account=account, retired_at__isnull=True).count() == 1
    assert CloudCredential.objects.filter(account=account, kind="role").count() == 1
    assert AuditEvent.objects.filter(action="account.migrated_to_role").count() == 1
    assert not AuditEvent.objects.filter(action="account.migration_failed").exists()
