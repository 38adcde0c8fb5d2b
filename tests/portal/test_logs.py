"""Log lines: the ids of the work they are about, JSON on servers, and never a secret.

The handler under test is the one portal/settings.py LOGGING configured (its
filters and formatter); its stream is swapped for a buffer and every logger is
turned up to DEBUG, botocore included, as an operator chasing a problem would.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_q.tasks import async_task

from portal.logs import JsonFormatter, RedactingFilter, TextFormatter, log_context, redact
from scheduling import parking
from scheduling.models import ParkingRun
from tenants.migration import account_migrate_to_role
from tenants.models import CloudAccount, Membership
from tenants.verification import account_verify
from tests.conftest import ACME_ACCOUNT
from tests.scheduling.test_parking import TUESDAY_EVENING, connect, office_hours
from tests.tenants.test_migration import connect_legacy

pytestmark = pytest.mark.django_db


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler writes, with every logger at DEBUG."""
    root = logging.getLogger()
    (handler,) = [h for h in root.handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]
    stream = io.StringIO()
    previous_stream = handler.setStream(stream)
    loggers = [root] + [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    levels = {lg: lg.level for lg in loggers}
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for lg, level in levels.items():
            lg.setLevel(level)
        handler.setStream(previous_stream)


@pytest.fixture
def json_console(console: io.StringIO) -> Iterator[io.StringIO]:
    (handler,) = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]
    previous = handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        yield console
    finally:
        handler.setFormatter(previous)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


# --------------------------------------------------------------------------- no secret in any line


def test_no_secret_reaches_a_log_line_through_connect_verify_fail_and_migrate(console, acme, standin, settings):
    settings.PARKWAY_AWS_MAX_ATTEMPTS = 1
    account, key_id, secret = connect_legacy(acme, ACME_ACCOUNT)
    assert account_verify(account=account, actor="cli").ok
    # AWS refuses a call and echoes the caller's access key ID in its message.
    standin.faults.reject(
        "ec2:DescribeInstances", code="InvalidParameterValue", times=None,
        message="Request signed with access key {access_key_id} is not valid for this operation",
    )
    result = parking.park_account(account_id=account.pk)  # its inventory is refused
    assert result.status == "failed"
    # At the source too: what pages and the database show is masked.
    account.refresh_from_db()
    assert key_id not in account.last_error and f"{key_id[:4]}…{key_id[-4:]}" in account.last_error
    assert key_id not in ParkingRun.objects.get(account=account).error
    standin.faults.clear()
    assert account_migrate_to_role(account=account, actor="cli").ok

    text = console.getvalue()
    assert "DescribeInstances" in text  # botocore's DEBUG lines were captured
    assert secret not in text
    assert key_id not in text
    assert f"{key_id[:4]}…{key_id[-4:]}" in text  # the masked form is all that is left


def test_redact_masks_key_ids_and_replaces_secret_shaped_strings():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    token = "FwoGZXIvYXdzE" + "A" * 200 + "b="
    text = redact(f"key AKIAIOSFODNN7EXAMPLE secret={secret} token {token} temp ASIAIOSFODNN7EXAMPLE")
    assert text == "key AKIA…MPLE secret=[redacted] token [redacted] temp ASIA…MPLE"
    # Not a secret: a hex digest, a role's unique id, an account ID, an already masked key.
    for harmless in ["da39a3ee5e6b4b0d3255bfef95601890afd80709", "AROAIOSFODNN7EXAMPLE", "111111111111", "AKIA…MPLE"]:
        assert redact(harmless) == harmless


def test_a_traceback_that_holds_a_key_is_redacted_in_both_formats(console):
    logger = logging.getLogger("tenants.aws")
    for formatter in (TextFormatter(), JsonFormatter()):
        (handler,) = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]
        previous = handler.formatter
        handler.setFormatter(formatter)
        try:
            try:
                raise RuntimeError("AWS said AKIAIOSFODNN7EXAMPLE with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            except RuntimeError:
                logger.exception("call failed for %s", "AKIAIOSFODNN7EXAMPLE")
        finally:
            handler.setFormatter(previous)
    text = console.getvalue()
    assert text.count("RuntimeError: AWS said AKIA") == 2 and "call failed for AKIA…MPLE" in text
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "EXAMPLEKEY" not in text


# --------------------------------------------------------------------------- the ids on every line


def test_json_lines_of_a_parking_task_carry_tenant_account_run_and_task(json_console, acme, standin, monkeypatch):
    from django_q.conf import Conf

    office_hours(acme)
    account, _ = connect(acme, ACME_ACCOUNT, per_region=1, regions=["us-east-1"])
    json_console.truncate(0)
    json_console.seek(0)
    monkeypatch.setattr(Conf, "SYNC", True)
    task_id = async_task("scheduling.tasks.park_account", account.pk, TUESDAY_EVENING.isoformat())
    run = ParkingRun.objects.get(account=account)
    lines = json_lines(json_console)
    in_task = [line for line in lines if line.get("task") == task_id]
    assert in_task and all(line["tenant"] == "acme" and line["account"] == ACME_ACCOUNT for line in in_task if line["logger"].startswith("botocore"))
    stops = [line for line in in_task if "StopInstances" in line["message"]]
    assert stops and all(line["run"] == str(run.pk) for line in stops)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    # After the task, nothing of it sticks to the caller's lines.
    logging.getLogger("tests").warning("after")
    (after,) = [line for line in json_lines(json_console) if line["message"] == "after"]
    assert not {"task", "tenant", "account", "run"} & set(after)


def test_a_self_service_request_logs_its_tenant(console, client, acme, standin, settings):
    account, key_id, _ = connect_legacy(acme, ACME_ACCOUNT)
    user = get_user_model().objects.create_user("ann", password="pw")
    Membership.objects.create(user=user, tenant=acme, role=Membership.Role.ADMIN)
    client.force_login(user)
    console.truncate(0)
    console.seek(0)
    response = client.post(reverse("tenants:account_test", args=[account.pk]))
    assert response.status_code in (200, 302)
    lines = [line for line in console.getvalue().splitlines() if "Legacy IAM user keys" in line]
    assert lines and all(line.endswith("[tenant=acme]") and key_id not in line for line in lines)


def test_log_context_nests_and_ends_with_its_block(console):
    logger = logging.getLogger("tests")
    with log_context(tenant="acme"):
        with log_context(account="111111111111", run=7):
            logger.warning("inner")
        logger.warning("outer")
    logger.warning("none")
    lines = console.getvalue().splitlines()
    assert lines[-3].endswith("inner [tenant=acme account=111111111111 run=7]")
    assert lines[-2].endswith("outer [tenant=acme]")
    assert lines[-1].endswith("none")
    with pytest.raises(TypeError):
        with log_context(customer="x"):
            pass
    assert CloudAccount.objects.count() == 0


def test_an_error_logged_after_its_block_keeps_the_ids_where_it_was_raised(console):
    # run_parking's "Parking account … failed" and Django's "Internal Server Error" are
    # written after the error left the block that knew the ids.
    try:
        with log_context(tenant="acme", account="111111111111"):
            raise ValueError("boom")
    except ValueError:
        logging.getLogger("tests").exception("failed")
    assert "failed [tenant=acme account=111111111111]" in console.getvalue()
