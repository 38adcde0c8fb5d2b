"""Serving with DEBUG off: whitenoise, the SQLite check, the deploy/ files."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

import portal.settings
from portal import checks

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- static files


@pytest.fixture
def collected(settings, tmp_path) -> Path:
    """`collectstatic` with the production storage into a fresh STATIC_ROOT."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = portal.settings.STORAGES
    settings.DEBUG = False
    call_command("collectstatic", interactive=False, verbosity=0)
    return settings.STATIC_ROOT


@pytest.mark.django_db
def test_pages_link_hashed_static_files_that_whitenoise_serves_for_a_year(collected):
    client = Client()  # a new handler: whitenoise indexes STATIC_ROOT as it starts
    html = client.get("/accounts/login/").content.decode()
    links = re.findall(r'href="(/static/[^"]+\.css)"', html)
    assert links, html
    hashed = [link for link in links if re.search(r"\.[0-9a-f]{12}\.css$", link)]
    assert hashed == links  # every stylesheet by its hashed name

    response = client.get(hashed[0], HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert response.status_code == 200
    assert "max-age=315360000" in response["Cache-Control"] and "immutable" in response["Cache-Control"]
    assert response["Content-Encoding"] == "gzip"
    assert response["Content-Type"].startswith("text/css")
    b"".join(response.streaming_content)

    # The unhashed name still answers, but may change: a short cache only.
    plain = re.sub(r"\.[0-9a-f]{12}\.css$", ".css", hashed[0])
    response = client.get(plain)
    assert response.status_code == 200 and "immutable" not in response["Cache-Control"]
    b"".join(response.streaming_content)
    assert client.get("/static/parkway/no-such-file.css").status_code == 404


def test_without_collectstatic_the_test_settings_link_plain_names(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert re.findall(r'href="/static/parkway/[a-z-]+\.css"', html)


# --------------------------------------------------------------------------- SQLite outside DEBUG


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize(
    "debug, allowed, engine, fires",
    [
        (False, False, "portal.sqlite_backend", True),
        (False, True, "portal.sqlite_backend", False),
        (True, False, "portal.sqlite_backend", False),
        (False, False, "django.db.backends.postgresql", False),
    ],
)
def test_sqlite_outside_debug_is_an_error_unless_allowed(settings, debug, allowed, engine, fires):
    settings.DEBUG = debug
    settings.PARKWAY_ALLOW_SQLITE = allowed
    settings.DATABASES = {"default": {"ENGINE": engine, "NAME": "parkway"}}
    ids = [message.id for message in checks.check_database_engine()]
    assert ids == (["portal.E001"] if fires else [])


# --------------------------------------------------------------------------- deploy/ and Procfile


def env_names(path: Path) -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", path.read_text(), flags=re.MULTILINE))


def test_the_production_env_template_names_only_documented_variables():
    production = env_names(ROOT / "deploy" / "parkway.env.example")
    documented = env_names(ROOT / ".env.example")
    assert production - documented == set()
    assert {"DATABASE_URL", "CACHE_URL", "REDIS_URL", "SECRET_KEY", "PARKWAY_METRICS_TOKEN", "ALLOWED_HOSTS"} <= production
    # Every variable settings.py reads is documented.
    read = set(re.findall(r'env\.\w+\("([A-Z][A-Z0-9_]+)"', (ROOT / "portal" / "settings.py").read_text()))
    assert read - documented == set()


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read(ROOT / "deploy" / name)
    return parser


def test_systemd_units_run_web_worker_and_the_one_shot_upgrade():
    web, worker, upgrade = unit("parkway-web.service"), unit("parkway-worker.service"), unit("parkway-migrate.service")
    assert "gunicorn" in web["Service"]["ExecStart"] and "deploy/gunicorn.conf.py" in web["Service"]["ExecStart"]
    assert "qcluster" in worker["Service"]["ExecStart"]
    # qcluster can hang on shutdown: a bounded stop, then SIGKILL for the whole group.
    assert worker["Service"]["KillMode"] == "mixed" and int(worker["Service"]["TimeoutStopSec"]) > 0
    assert upgrade["Service"]["Type"] == "oneshot"
    assert "migrate" in (ROOT / "deploy" / "parkway-migrate.service").read_text()
    assert "setup_schedules" in (ROOT / "deploy" / "parkway-migrate.service").read_text()
    for parser in (web, worker, upgrade):
        assert parser["Service"]["EnvironmentFile"] == "/etc/parkway/parkway.env"


def test_procfile_has_web_worker_and_release():
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#"))
    assert set(lines) == {"web", "worker", "release"}
    assert "gunicorn" in lines["web"] and "qcluster" in lines["worker"] and "migrate" in lines["release"]


def test_gunicorn_configuration_loads(monkeypatch):
    from gunicorn.config import Config

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("PORT", "5123")
    monkeypatch.delenv("PARKWAY_BIND", raising=False)
    config = Config()
    namespace: dict = {"__file__": str(ROOT / "deploy" / "gunicorn.conf.py")}
    exec(compile((ROOT / "deploy" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    for key, value in namespace.items():
        if key in config.settings:
            config.set(key, value)
    assert config.workers == 3
    assert config.bind == ["0.0.0.0:5123"]
    assert config.worker_class_str == "gthread"
