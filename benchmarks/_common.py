"""Helpers shared by the benchmarks: a throw-away Django database, the AWS
stand-in in-process, where the wall time goes, and what we ran on.

Usage, in this order (nothing may touch boto3 or Django models before):

    from _common import bootstrap_django, start_standin
    db = bootstrap_django()          # settings, temporary database, migrations
    server = start_standin()         # moto + IAM checks; boto3 env pointed at it
    ...
    server.stop(); db.close()

Databases: without DATABASE_URL, a temporary SQLite file (deleted at the end).
With a non-SQLite DATABASE_URL (PostgreSQL), Django's test-database machinery
creates `test_<name>_bench_<pid>` next to it and drops it at the end: neither the
named database nor a test run's `test_<name>` is touched. A SQLite DATABASE_URL is ignored (a temporary
file is used) so that a developer's db.sqlite3 is never touched.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUR_ACCOUNT = "123456789012"  # moto's default account = Parkway's own identity


# --------------------------------------------------------------------------- Django


@dataclass
class Database:
    description: str
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self._cleanup:
            try:
                self._cleanup.pop()()
            except Exception as exc:  # a benchmark's teardown must not hide its output
                print(f"(cleanup failed: {exc})", file=sys.stderr)


def bootstrap_django(*, settings_module: str = "tests.settings") -> Database:
    """Configure Django for a benchmark run and migrate a throw-away database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    # Parkway's identity on the stand-in: the account that customers' roles trust.
    os.environ["PARKWAY_AWS_ACCOUNT_ID"] = OUR_ACCOUNT
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "false")

    url = os.environ.get("DATABASE_URL", "")
    external = bool(url) and not url.startswith("sqlite")
    tmpdir = None
    if not external:
        tmpdir = tempfile.mkdtemp(prefix="parkway-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmpdir}/bench.sqlite3"

    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    db = Database(description="")
    if tmpdir is not None:
        db._cleanup.append(lambda: shutil.rmtree(tmpdir, ignore_errors=True))
        db._cleanup.append(connection.close)
        call_command("migrate", verbosity=0, interactive=False)
        db.description = f"SQLite {connection.Database.sqlite_version} (temporary file {tmpdir}/bench.sqlite3)"
    else:
        old_name = connection.settings_dict["NAME"]
        # Our own name: never clobber test_<name> of a test run going on next to us.
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{old_name}_bench_{os.getpid()}"
        test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        db._cleanup.append(lambda: connection.creation.destroy_test_db(old_name, verbosity=0))
        version = ""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                version = cursor.fetchone()[0]
        db.description = f"{connection.vendor} {version} (throw-away database {test_name}, dropped at the end)"
    return db


# --------------------------------------------------------------------------- AWS stand-in


def start_standin() -> Any:
    """StandinServer on a free port, with boto3's environment pointed at it.

    Must run before any boto3 client is built (boto3 reads the env then).
    """
    from portal.aws_standin import StandinServer

    server = StandinServer(port=0).start()
    os.environ["AWS_ENDPOINT_URL"] = server.url
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(var, None)
    # A developer's ~/.aws must not change retries, endpoints or credentials.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return server


# --------------------------------------------------------------------------- wall-time split


class Split:
    """Exclusive wall time per section, for the main thread.

    Sections nest (an AssumeRole fetched lazily inside an EC2 call, a client
    created inside it): time goes to the innermost open section only, so the
    buckets add up to at most the wall time. Install with `measuring()`:

    * ``aws``     botocore API calls (serialise, sign, HTTP to the stand-in, parse)
    * ``clients`` botocore client creation (service model and endpoint rules loading)
    * ``db``      time inside database cursor execute (Django's execute_wrapper)
    * ``gc``      the cyclic garbage collector's pauses (gc.callbacks); a full
                  collection walks the whole heap, moto's objects included

    Separately, ``server`` is the stand-in's own time handling the requests (in
    its threads; the caller is blocked meanwhile, so it is part of ``aws``).
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.server = 0.0
        self.full_collections = 0
        self._stack: list[list[Any]] = []
        self._thread = threading.get_ident()
        self._on = False
        self._server_lock = threading.Lock()

    def reset(self) -> None:
        self.totals.clear()
        self.server = 0.0
        self.full_collections = 0

    def _enter(self, name: str) -> None:
        now = time.perf_counter()
        if self._stack:
            top = self._stack[-1]
            self.totals[top[0]] += now - top[1]
        self._stack.append([name, now])

    def _exit(self) -> None:
        now = time.perf_counter()
        top = self._stack.pop()
        self.totals[top[0]] += now - top[1]
        if self._stack:
            self._stack[-1][1] = now

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        if not self._on or threading.get_ident() != self._thread:
            yield
            return
        self._enter(name)
        try:
            yield
        finally:
            self._exit()

    def _gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        if not self._on or threading.get_ident() != self._thread:
            return  # a collection in a server thread: part of "server"
        if phase == "start":
            self._enter("gc")
            if info.get("generation") == 2:
                self.full_collections += 1
        elif self._stack and self._stack[-1][0] == "gc":
            self._exit()

    @contextmanager
    def measuring(self, server: Any = None) -> Iterator[None]:
        import botocore.client
        import botocore.session
        from django.db import connection

        split = self
        original_call = botocore.client.BaseClient._make_api_call
        original_create = botocore.session.Session.create_client

        def _make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
            with split.section("aws"):
                return original_call(client, operation_name, api_params)

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            with split.section("clients"):
                return original_create(session, *args, **kwargs)

        def db_wrapper(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
            with split.section("db"):
                return execute(sql, params, many, context)

        httpd = getattr(server, "_server", None)  # werkzeug server inside StandinServer
        inner_app = getattr(httpd, "app", None)

        def timed_app(environ: Any, start_response: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner_app(environ, start_response)
            finally:
                with split._server_lock:
                    split.server += time.perf_counter() - t0

        botocore.client.BaseClient._make_api_call = _make_api_call
        botocore.session.Session.create_client = create_client
        if inner_app is not None:
            httpd.app = timed_app
        self._on = True
        self._thread = threading.get_ident()
        gc.callbacks.append(self._gc_callback)
        try:
            with ExitStack() as stack:
                stack.enter_context(connection.execute_wrapper(db_wrapper))
                yield
        finally:
            self._on = False
            gc.callbacks.remove(self._gc_callback)
            botocore.client.BaseClient._make_api_call = original_call
            botocore.session.Session.create_client = original_create
            if inner_app is not None:
                httpd.app = inner_app


# --------------------------------------------------------------------------- reporting


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_lines(database: Database) -> list[str]:
    return [
        f"python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}, "
        f"{os.cpu_count()} CPUs",
        "django {}, boto3 {}, botocore {}, moto {}, werkzeug {}".format(
            *(_version(d) for d in ("django", "boto3", "botocore", "moto", "werkzeug"))
        ),
        f"database: {database.description}",
        "AWS: in-process stand-in (moto server + IAM checks) on 127.0.0.1, same process, same GIL",
    ]


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
