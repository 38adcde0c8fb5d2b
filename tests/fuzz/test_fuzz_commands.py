"""Every management command of the project, with hostile arguments: it
succeeds, or stops with CommandError (or SystemExit) and a message; never
another exception, never a traceback.

Commands are listed from the apps' management/commands folders, their options
from their own parsers, so a command added later is fuzzed too. AWS is the
local stand-in; every call runs in a savepoint that is rolled back, and in a
temporary directory, so relative paths land there.
"""

from __future__ import annotations

import io
import json
import pkgutil
import sys
from argparse import Action
from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat
from hypothesis import given
from hypothesis import strategies as st

from tenants.models import Tenant
from tests.conftest import ACME_ACCOUNT, GLOBEX_ACCOUNT
from tests.fuzz.hostile import CORE_VALUES, HOSTILE, HOSTILE_VALUES, fuzz_settings

pytestmark = pytest.mark.django_db

APPS = ("tenants", "scheduling")


def project_commands() -> list[tuple[str, str]]:
    commands = []
    for app in APPS:
        folder = Path(__file__).resolve().parents[2] / app / "management" / "commands"
        commands += [(app, module.name) for module in pkgutil.iter_modules([str(folder)]) if not module.name.startswith("_")]
    return sorted(commands)


COMMANDS = project_commands()
# Seeding the demo creates ~20 machines in the stand-in per run: a few runs say enough.
EXAMPLES = {"seed_demo": 4}


def test_every_command_is_fuzzed():
    assert {name for _, name in COMMANDS} >= {
        "migrate_to_roles", "rotate_encryption_keys", "seed_demo", "export_schedules", "import_schedules",
        "run_parking", "setup_schedules", "sync_inventory",
    }


def options_of(app: str, name: str) -> list[Action]:
    parser = load_command_class(app, name).create_parser("manage.py", name)
    # Django's own options (--settings, --pythonpath, --traceback…) are not ours to fuzz.
    django_dests = {"version", "verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color", "skip_checks", "help"}
    return [action for action in parser._actions if action.dest not in django_dests]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Paths a hostile operator might give: good and bad files, folders, NUL bytes."""
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "plain").write_text("")
    samples = {
        "schedules.json": json.dumps([{"name": "fuzz", "timezone": "UTC", "periods": [{"begintime": "09:00", "endtime": "17:00"}]}]),
        "nul.json": json.dumps([{"name": "fu\u0000zz", "periods": []}]),
        "deep.json": "[" * 50_000 + "]" * 50_000,
        "latin1.json": "[{\"name\": \"caf\xe9\"}]",
        "empty.json": "",
        "cli.json": json.dumps({"Schedules": [{"Name": "x", "Periods": ["p"]}], "Periods": [{"Name": "p", "Begintime": "9:00"}]}),
    }
    for name, text in samples.items():
        (tmp_path / name).write_bytes(text.encode("latin-1" if name == "latin1.json" else "utf-8"))
    names = [*samples, "folder.json", "plain/under.csv", "missing.json", "report.csv", "report.json", "new/dir/report.csv", "-"]
    return {name: str(tmp_path / name) if name != "-" else "-" for name in names} | {"nul-name": str(tmp_path / "a\x00.csv")}


def value_strategy(action: Action, files: dict[str, str]) -> st.SearchStrategy[str]:
    dest = action.dest
    if dest in ("file", "report"):
        return st.sampled_from(sorted(files.values()))  # never a path outside the temporary folder
    special = {
        "tenant": ["acme", "globex", "nobody"],
        "account": [ACME_ACCOUNT, GLOBEX_ACCOUNT, "111111111112", "999999999999"],
        "at": ["2026-11-24T20:00:00+00:00", "2026-11-24T20:00:00", "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00", "2026-13-45T99:99:99Z"],
        "role_arn_template": ["arn:{partition}:iam::{account_id}:role/ParkwayAccess", "arn:{partition}:iam::{account_id:>100000000000}:role/X", "{tenant.__init__.__globals__}", "{", "}"],
        "role_name": ["ParkwayAccess", "Custom", "bad name!", "x" * 65],
        "concurrency": ["1", "4", "0", "-1", "65", "99999999999999999999"],
        "staff_username": ["admin", "", "a" * 200, "ad\x00min", "ad min"],
        "staff_password": ["pw", "", "p\x00w"],
    }.get(dest, [])
    options = [st.sampled_from(HOSTILE_VALUES), HOSTILE]
    if special:
        options.insert(0, st.sampled_from(special))
    return st.one_of(options)


def argv_strategy(actions: list[Action], files: dict[str, str]) -> st.SearchStrategy[list[str]]:
    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        argv: list[str] = []
        for action in actions:
            if action.option_strings:
                if not draw(st.booleans()):
                    continue
                flag = draw(st.sampled_from(action.option_strings))
                if action.nargs == 0:
                    argv.append(flag)
                    continue
                count = draw(st.integers(1, 3)) if action.nargs in ("+", "*") else 1
                argv += [flag, *(draw(value_strategy(action, files)) for _ in range(count))]
            elif draw(st.integers(0, 9)):  # a positional, usually present
                argv.append(draw(value_strategy(action, files)))
        if draw(st.integers(0, 9)) == 0:
            argv.append(draw(st.sampled_from(HOSTILE_VALUES)))  # a stray extra argument
        return argv

    return build()


def run_hostile(name: str, argv: list[str], stdin: bytes) -> None:
    """The command may succeed or refuse with a message; anything else fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with transaction.atomic():
        real_stdin = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        try:
            call_command(name, *argv, stdout=out, stderr=err)
        except CommandError as exc:
            assert str(exc).strip(), f"{name} {argv!r}: CommandError without a message"
        except SystemExit as exc:
            assert exc.code not in (None, 0) and err.getvalue().strip(), f"{name} {argv!r}: exit without a message"
        finally:
            sys.stdin = real_stdin
            transaction.set_rollback(True)


def baseline(name: str, action: Action, files: dict[str, str]) -> list[str]:
    """The other arguments of a sensible call, so that the one under test is reached."""
    if name == "migrate_to_roles":
        return [] if action.dest in ("all_legacy", "tenant", "account") else ["--all-legacy", "--dry-run"]
    if name == "import_schedules" and action.option_strings:
        return [files["schedules.json"]]
    if name == "export_schedules" and action.option_strings:
        return [files["report.json"]]
    return []


STDIN = st.sampled_from([b"[]", b"\x00", b"[" * 5000, b"\xff\xfe", b"", json.dumps([{"name": "stdin"}]).encode()])


@pytest.mark.parametrize(("app", "name"), COMMANDS, ids=[name for _, name in COMMANDS])
def test_every_command_refuses_hostile_arguments_with_a_message(app, name, fuzz_world, files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    actions = options_of(app, name)
    if name == "seed_demo":
        # It refuses to run beside existing demo tenants (acme, globex): let it reach its arguments.
        Tenant.objects.filter(slug__in=["acme", "globex"]).update(slug=Concat("slug", Value("-before-the-demo")))

    # Each argument with each core value (each file, for file arguments), the
    # others as an operator would give them; then random combinations.
    for action in actions:
        base = baseline(name, action, files)
        if action.nargs == 0:
            run_hostile(name, [*base, action.option_strings[0]], b"[]")
            continue
        values = sorted(files.values()) if action.dest in ("file", "report") else list(CORE_VALUES)
        for value in values:
            run_hostile(name, [*base, *action.option_strings[:1], value], b"[]")

    @fuzz_settings(examples=EXAMPLES.get(name, 25))
    @given(argv=argv_strategy(actions, files), stdin=STDIN)
    def random_arguments(argv: list[str], stdin: bytes) -> None:
        run_hostile(name, argv, stdin)

    random_arguments()
