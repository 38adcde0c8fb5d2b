"""Schedule services (save from spec, export, import) and the commands on top of them."""

import datetime as dt
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.models import Schedule
from scheduling.services import schedule_save, schedule_save_from_spec, schedules_export, schedules_import
from tests.scheduling.test_periods_properties import specs
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
# Schedules in the Instance Scheduler fixtures that Parkway must refuse
# (resizing, SSM maintenance window, hibernation).
UNCONVERTIBLE = {"scale-up-down", "patch-tuesday-servers", "dev-desktops"}


def spec(name: str, *, weekdays: str = "mon-fri", begin: str = "09:00", end: str = "17:00", **extra: Any) -> dict:
    return {
        "name": name,
        "description": "",
        "timezone": "Europe/Berlin",
        "enforced": False,
        "retain_running": False,
        "stop_new_instances": True,
        "override_status": None,
        "periods": [{"begintime": begin, "endtime": end, "weekdays": weekdays, "monthdays": None, "months": None}],
        **extra,
    }


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def instance_scheduler_export(*, drop: set[str] = UNCONVERTIBLE) -> dict:
    """Combined describe-schedules + describe-periods output, minus ``drop``."""
    schedules = fixture("scheduler_cli_describe_schedules.json")["Schedules"]
    periods = fixture("scheduler_cli_describe_periods.json")["Periods"]
    return {"Schedules": [s for s in schedules if s["Name"] not in drop], "Periods": periods}


def periods_of(name: str, tenant=None) -> list[tuple]:
    schedule = Schedule.objects.get(name=name, tenant=tenant)
    return list(schedule.periods.values_list("begintime", "endtime", "weekdays", "monthdays", "months"))


# ---------------------------------------------------------------- schedule_save_from_spec


def test_save_from_spec_creates_then_updates_by_name_keeping_the_primary_key(acme, staff):
    created, outcome = schedule_save_from_spec(spec=spec("office"), tenant=acme, actor=staff)
    assert outcome == "created"

    changed = spec("office", weekdays="mon-thu", description="four-day week", enforced=True)
    changed["periods"].append(
        {"begintime": None, "endtime": None, "weekdays": "sat", "monthdays": "1-7", "months": None}
    )
    updated, outcome = schedule_save_from_spec(spec=changed, tenant=acme, actor="cli")

    assert outcome == "updated"
    assert updated.pk == created.pk
    assert Schedule.objects.count() == 1
    stored = Schedule.objects.get(pk=created.pk)
    assert (stored.description, stored.enforced, stored.tenant) == ("four-day week", True, acme)
    assert periods_of("office", acme) == [
        (dt.time(9), dt.time(17), "mon-thu", "", ""),
        (None, None, "sat", "1-7", ""),
    ]
    events = list(AuditEvent.objects.order_by("pk").values_list("action", "actor_label", "tenant", "details"))
    assert events == [
        ("schedule.created", "staff", acme.pk, {"schedule_id": created.pk, "name": "office", "periods": 1}),
        ("schedule.updated", "cli", acme.pk, {"schedule_id": created.pk, "name": "office", "periods": 2}),
    ]


def test_save_from_spec_keeps_names_apart_per_owner(acme, globex):
    owners = [acme, globex, None]
    pks = {schedule_save_from_spec(spec=spec("nights"), tenant=t, actor="cli")[0].pk for t in owners}
    assert len(pks) == 3
    assert schedule_save_from_spec(spec=spec("nights"), tenant=None, actor="cli")[1] == "updated"


@pytest.mark.parametrize(
    ("bad_spec", "message"),
    [
        (spec("office", weekdays="fry"), "periods[0].weekdays: 'fry'"),
        (spec("office", timezone="Mars/Olympus_Mons"), "timezone: 'Mars/Olympus_Mons'"),
        (spec("x" * 101), "at most 100 characters"),
        (spec("office", override_status="paused"), "override_status"),
        ({"periods": []}, "non-empty name"),
    ],
)
def test_save_from_spec_refuses_an_invalid_spec_and_writes_nothing(acme, bad_spec, message):
    with pytest.raises(ValidationError) as caught:
        schedule_save_from_spec(spec=bad_spec, tenant=acme, actor="cli")
    assert message in " ".join(caught.value.messages)
    assert not Schedule.objects.exists()
    assert not AuditEvent.objects.exists()


# ---------------------------------------------------------------- export


def test_export_lists_only_the_owners_schedules_in_two_queries(acme, globex, django_assert_num_queries):
    for name in ("b-nights", "a-office"):
        schedule_save_from_spec(spec=spec(name), tenant=acme, actor="cli")
    schedule_save_from_spec(spec=spec("globex-only"), tenant=globex, actor="cli")
    schedule_save_from_spec(spec=spec("template"), tenant=None, actor="cli")
    with django_assert_num_queries(2):
        exported = schedules_export(tenant=acme)
    assert exported == [spec("a-office"), spec("b-nights")]
    assert [s["name"] for s in schedules_export(tenant=None)] == ["template"]

    for i in range(20):
        schedule_save_from_spec(spec=spec(f"more-{i}"), tenant=acme, actor="cli")
    with django_assert_num_queries(2):
        assert len(schedules_export(tenant=acme)) == 22


# ---------------------------------------------------------------- import


def test_import_creates_and_updates_by_name_in_one_go(acme):
    schedule_save_from_spec(spec=spec("office"), tenant=acme, actor="cli")
    office_pk = Schedule.objects.get().pk

    data = [spec("office", end="18:00"), spec("nights", begin="22:00", end="06:00")]
    report = schedules_import(data=data, tenant=acme, actor="cli")

    assert (report.created, report.updated, report.errors, report.dry_run) == (["nights"], ["office"], [], False)
    assert Schedule.objects.get(name="office").pk == office_pk
    assert periods_of("office", acme) == [(dt.time(9), dt.time(18), "mon-fri", "", "")]
    assert periods_of("nights", acme) == [(dt.time(22), dt.time(6), "mon-fri", "", "")]


def test_import_dry_run_reports_what_it_would_do_and_writes_nothing(acme):
    schedule_save_from_spec(spec=spec("office"), tenant=acme, actor="cli")
    before = schedules_export(tenant=acme)
    audit_count = AuditEvent.objects.count()

    data = [spec("office", end="18:00"), spec("nights")]
    report = schedules_import(data=data, tenant=acme, actor="cli", dry_run=True)

    assert (report.created, report.updated, report.errors, report.dry_run) == (["nights"], ["office"], [], True)
    assert schedules_export(tenant=acme) == before
    assert AuditEvent.objects.count() == audit_count


@pytest.mark.parametrize("dry_run", [False, True])
def test_import_with_bad_entries_writes_nothing_and_reports_each_one(acme, dry_run):
    schedule_save_from_spec(spec=spec("office"), tenant=acme, actor="cli")
    before = schedules_export(tenant=acme)
    data = [
        spec("office", end="18:00"),  # good, but must not be applied
        spec("new-good"),
        spec("bad-weekdays", weekdays="fry"),  # caught by the engine
        spec("bad-zone", timezone="Mars/Olympus_Mons"),  # caught by the loader
        spec("bad-flag", enforced="yes"),
        {"description": "no name"},
    ]

    report = schedules_import(data=data, tenant=acme, actor="cli", dry_run=dry_run)

    assert (report.created, report.updated) == ([], [])
    entries = {error.entry: error.message for error in report.errors}
    assert set(entries) == {"bad-weekdays", "bad-zone", "bad-flag", 5}
    assert "periods[0].weekdays: 'fry'" in entries["bad-weekdays"]
    assert "Mars/Olympus_Mons" in entries["bad-zone"]
    assert "enforced must be true or false" in entries["bad-flag"]
    assert schedules_export(tenant=acme) == before
    assert not Schedule.objects.filter(name="new-good").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        ({"name": "office", "periods": []}, "wrap the single schedule in [ ]"),
        ({"Error": "stack not found"}, "error response"),
    ],
)
def test_import_of_an_unreadable_file_reports_one_file_level_error(acme, data, message):
    report = schedules_import(data=data, tenant=acme, actor="cli")
    [error] = report.errors
    assert error.entry is None and message in error.message
    assert not Schedule.objects.exists()


def test_instance_scheduler_export_imports_end_to_end(acme):
    data = json.dumps(instance_scheduler_export()).encode("utf-16")  # as PowerShell writes it

    report = schedules_import(data=data, tenant=acme, actor="cli")

    assert report.ok, report.errors
    assert sorted(report.created) == [
        "berlin-office-hours", "dev-schedules-nights", "running", "seattle-office-hours",
        "shift-workers", "stopped", "uk-office-hours",
    ]
    uk = Schedule.objects.get(name="uk-office-hours")
    assert (uk.timezone, uk.enforced, uk.retain_running, uk.stop_new_instances) == ("Europe/London", True, True, False)
    assert periods_of("uk-office-hours", acme) == [
        (dt.time(9), dt.time(18), "mon-fri", "", ""),
        (None, None, "mon#1", "", "jan/3"),
    ]
    assert periods_of("shift-workers", acme) == [
        (dt.time(7, 30), dt.time(15, 30), "wed,mon,fri", "", ""),
        (dt.time(6), dt.time(22), "", "L,1-3", ""),
    ]
    assert Schedule.objects.get(name="shift-workers").timezone == "UTC"  # no zone: the stack default
    running = Schedule.objects.get(name="running")
    assert (running.override_status, running.periods.count()) == ("running", 0)


def test_instance_scheduler_export_with_unconvertible_schedules_writes_nothing(acme):
    report = schedules_import(data=instance_scheduler_export(drop=set()), tenant=acme, actor="cli")
    assert {error.entry for error in report.errors} == UNCONVERTIBLE
    assert not Schedule.objects.exists()


def test_export_then_import_round_trips_exactly(acme, globex):
    schedules_import(data=instance_scheduler_export(), tenant=acme, actor="cli")
    exported = schedules_export(tenant=acme)

    into_other_tenant = schedules_import(data=json.dumps(exported), tenant=globex, actor="cli")
    again_into_same = schedules_import(data=json.dumps(exported), tenant=acme, actor="cli")

    assert sorted(into_other_tenant.created) == sorted(s["name"] for s in exported)
    assert sorted(again_into_same.updated) == sorted(s["name"] for s in exported)
    assert schedules_export(tenant=globex) == exported
    assert schedules_export(tenant=acme) == exported


# ---------------------------------------------------------------- commands


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_export_command_writes_json_to_stdout_or_a_file(acme, tmp_path):
    schedule_save_from_spec(spec=spec("office"), tenant=acme, actor="cli")
    schedule_save_from_spec(spec=spec("template"), tenant=None, actor="cli")

    out, _ = run("export_schedules", "--tenant", "acme", "-")
    assert out == json.dumps([spec("office")], indent=2) + "\n"

    target = tmp_path / "global.json"
    out, _ = run("export_schedules", str(target))
    assert json.loads(target.read_text()) == [spec("template")]
    assert out.strip() == f"Exported 1 schedule(s) of global templates to {target}."


def test_import_command_prints_one_line_per_schedule(acme, tmp_path):
    schedule_save_from_spec(spec=spec("office"), tenant=acme, actor="cli")
    upload = tmp_path / "schedules.json"
    upload.write_text(json.dumps([spec("office", end="18:00"), spec("nights")]))

    out, _ = run("import_schedules", "--tenant", "acme", "--dry-run", str(upload))
    assert out.splitlines() == [
        "would create  nights",
        "would update  office",
        "Dry run: 1 created, 1 updated if imported; nothing was written.",
    ]
    assert not Schedule.objects.filter(name="nights").exists()

    out, _ = run("import_schedules", "--tenant", "acme", str(upload))
    assert out.splitlines() == ["created  nights", "updated  office", "Imported: 1 created, 1 updated."]
    assert Schedule.objects.filter(tenant=acme).count() == 2
    assert AuditEvent.objects.filter(actor_label="cli", action="schedule.created", details__name="nights").exists()


def test_import_command_reads_instance_scheduler_output_from_stdin(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(instance_scheduler_export()).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    out, _ = run("import_schedules", "-")
    assert out.splitlines()[-1] == "Imported: 7 created, 0 updated."
    assert Schedule.objects.filter(tenant=None).count() == 7


def test_import_command_fails_on_bad_entries_listing_each_and_writing_nothing(acme, tmp_path):
    upload = tmp_path / "is.json"
    upload.write_text(json.dumps(instance_scheduler_export(drop=set())))
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match=r"^3 invalid entries; nothing was written\.$"):
        call_command("import_schedules", "--tenant", "acme", str(upload), stdout=out, stderr=err)

    lines = err.getvalue().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(f"invalid  {name}" for name in UNCONVERTIBLE)
    assert out.getvalue() == ""
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["--tenant", "initech"], "[]", "No tenant with slug 'initech'"),
        ([], None, "Cannot read .*missing.json: No such file or directory"),
        ([], "{oops", "Cannot import .*: the file is not valid JSON"),
        ([], '{"Foo": 1}', "Cannot import .*: unrecognised JSON object"),
    ],
)
def test_import_command_reports_unusable_input_clearly(tmp_path, args, content, message):
    upload = tmp_path / "missing.json"
    if content is not None:
        upload.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_schedules", *args, str(upload), stdout=io.StringIO(), stderr=io.StringIO())


def test_export_command_refuses_an_unknown_tenant():
    with pytest.raises(CommandError, match="No tenant with slug 'initech'"):
        call_command("export_schedules", "--tenant", "initech", "-", stdout=io.StringIO())


def test_override_status_is_accepted_in_any_case(acme):
    schedule, _ = schedule_save_from_spec(spec=spec("office", override_status="RUNNING"), tenant=acme, actor="cli")
    assert schedule.override_status == "running"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # PostgreSQL refuses NUL in text (a traceback); SQLite stored it silently.
        (json.dumps([spec("off\u0000ice")]), r"\[0\]\.name contains a NUL character"),
        (json.dumps([{**spec("office"), "description": "a\u0000b"}]), r"\[0\]\.description contains a NUL character"),
        (json.dumps({"Schedules": [{"Name": "x\u0000", "Periods": ["p"]}], "Periods": []}), "contains a NUL character"),
        (json.dumps([{"na\u0000me": "office"}]), "a key in .* contains a NUL character"),
        # json's decoder recursed once per level: RecursionError, a traceback.
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"Schedules": ' + "[" * 40 + "]" * 40 + "}", "nested too deeply"),
    ],
)
def test_import_command_refuses_nul_characters_and_deep_nesting_writing_nothing(tmp_path, content, message):
    upload = tmp_path / "hostile.json"
    upload.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_schedules", str(upload), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("command", ["import_schedules", "export_schedules"])
@pytest.mark.parametrize(("args", "message"), [(["--tenant", "ac\u0000me"], "No tenant with slug"), ([], "not a file name")])
def test_schedule_commands_refuse_nul_bytes_in_arguments(command, args, message):
    with pytest.raises(CommandError, match=message):
        call_command(command, *args, "sched\u0000ules.json", stdout=io.StringIO(), stderr=io.StringIO())


# ---------------------------------------------------- no periods; export → import round trip


def test_a_schedule_with_no_periods_and_no_override_is_refused_by_the_service(acme):
    with pytest.raises(ValidationError, match="at least one period, or an override"):
        schedule_save(spec=spec("office", periods=[]), tenant=acme, actor="cli")
    with pytest.raises(ValidationError, match="at least one period, or an override"):
        schedule_save_from_spec(spec=spec("office", periods=[]), tenant=acme, actor="cli")
    assert not Schedule.objects.exists()
    saved = schedule_save(spec=spec("always-on", periods=[], override_status="running"), tenant=acme, actor="cli")
    assert saved.override_status == "running" and not saved.periods.exists()


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=100).filter(
    lambda n: n.strip() == n and n
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    shape=specs,
    name=names,
    description=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_every_schedule_that_can_be_saved_exports_and_imports_unchanged(acme, globex, shape, name, description, flags):
    enforced, retain_running, stop_new_instances = flags
    full = {
        **shape, "name": name, "description": description, "enforced": enforced,
        "retain_running": retain_running, "stop_new_instances": stop_new_instances,
    }
    with transaction.atomic():
        try:
            schedule_save(spec=full, tenant=acme, actor="cli")
        except ValidationError:
            transaction.set_rollback(True)
            return  # not a schedule that can exist
        exported = schedules_export(tenant=acme)
        report = schedules_import(data=json.loads(json.dumps(exported)), tenant=globex, actor="cli")
        assert report.ok, report.errors
        assert schedules_export(tenant=globex) == exported
        transaction.set_rollback(True)
