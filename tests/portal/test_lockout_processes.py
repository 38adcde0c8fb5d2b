"""The sign-in lockout is shared between processes: django-axes counts failures in
the database, so failures spread over two web processes lock the account in both."""

from __future__ import annotations

import os
import selectors
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 3
TIMEOUT = 60  # seconds for each process's start and each answer


class SignInProcess:
    def __init__(self, env: dict[str, str], url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.portal.signin_process", url],
            cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)

    def read(self) -> str:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.selector.select(timeout=0.5):
                line = self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"the sign-in process exited ({self.process.poll()})")
                return line.strip()
        raise AssertionError("the sign-in process did not answer in time")

    def sign_in(self, username: str, password: str, ip: str) -> int:
        self.process.stdin.write(f"{username} {password} {ip}\n")
        self.process.stdin.flush()
        return int(self.read())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.process.stdin.close()


def database_url(tmp_path: Path) -> str:
    """The test database as a second process can open it: PostgreSQL's test database,
    or a file copy of SQLite's in-memory one (taken after the test's rows are committed)."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        return "postgres://{user}:{password}@{host}:{port}/{name}".format(
            user=settings.get("USER") or "", password=settings.get("PASSWORD") or "",
            host=settings.get("HOST") or "127.0.0.1", port=settings.get("PORT") or 5432, name=settings["NAME"],
        )
    path = tmp_path / "shared.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return f"sqlite:///{path}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_failures_in_two_processes_add_up_and_lock_in_both(staff, tmp_path, url_name):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(tmp_path),
        PARKWAY_LOGIN_FAILURE_LIMIT=str(LIMIT),
        # tests/settings.py put these in os.environ: both processes read the same.
        PARKWAY_ENCRYPTION_KEYS=os.environ["PARKWAY_ENCRYPTION_KEYS"],
        SECRET_KEY=os.environ["SECRET_KEY"],
    )
    url = reverse(url_name)
    first, second = SignInProcess(env, url), SignInProcess(env, url)
    try:
        assert first.read() == "ready" and second.read() == "ready"
        # LIMIT - 1 failures in the first process, from one address...
        for attempt in range(LIMIT - 1):
            assert first.sign_in("staff", f"wrong-{attempt}", "198.51.100.1") == 200
        # ...one more in the second, from another: the username's count reaches the limit there.
        assert second.sign_in("staff", "wrong-last", "198.51.100.2") == 429
        # Locked in both, even with the right password.
        assert second.sign_in("staff", "pw", "198.51.100.2") == 429
        assert first.sign_in("staff", "pw", "198.51.100.1") == 429
    finally:
        first.stop()
        second.stop()
