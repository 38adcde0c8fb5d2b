"""Carrying out start/stop decisions against EC2, in batches.

One StopInstances and one StartInstances call per (account, region) for up to
`BATCH_LIMIT` machines. One unknown or wrong-state ID fails a whole EC2 call
and leaves the others as they were, so a failed batch is bisected until the
bad IDs are isolated and the rest are applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tenants import aws

# EC2 documents "up to 1000 instance IDs" per request for its instance actions
# (and recommends smaller batches); moto enforces no limit, so we must.
BATCH_LIMIT = 1000

OPERATIONS = {"stop": ("stop_instances", "StoppingInstances"), "start": ("start_instances", "StartingInstances")}
# Errors that stop the whole account, not one machine: bisecting cannot help.
ACCOUNT_LEVEL_CODES = aws.DENIED_CODES | aws.INVALID_KEY_CODES | aws.EXPIRED_CODES


class AccountFailure(Exception):
    """The account as a whole refused (access, credentials): stop parking it."""

    def __init__(self, error: aws.AwsError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Outcome:
    ok: bool
    new_state: str = ""
    code: str = ""
    message: str = ""


def execute(ec2: Any, action: str, instance_ids: Sequence[str]) -> dict[str, Outcome]:
    """Stop or start `instance_ids`; an Outcome per ID. Raises AccountFailure."""
    outcomes: dict[str, Outcome] = {}
    for start in range(0, len(instance_ids), BATCH_LIMIT):
        _run_batch(ec2, action, list(instance_ids[start : start + BATCH_LIMIT]), outcomes)
    return outcomes


def _run_batch(ec2: Any, action: str, ids: list[str], outcomes: dict[str, Outcome]) -> None:
    method, result_key = OPERATIONS[action]
    try:
        response = getattr(ec2, method)(InstanceIds=ids)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in ACCOUNT_LEVEL_CODES:
            raise AccountFailure(aws.translate_error(exc)) from exc
        if code in aws.THROTTLING_CODES:
            # botocore's retry mode already backed off; leave the batch for next tick.
            for instance_id in ids:
                outcomes[instance_id] = Outcome(False, code=code, message="AWS throttled the call; retried next tick.")
            return
        if len(ids) == 1:
            outcomes[ids[0]] = Outcome(False, code=code, message=message)
            return
        middle = len(ids) // 2
        _run_batch(ec2, action, ids[:middle], outcomes)
        _run_batch(ec2, action, ids[middle:], outcomes)
        return
    except BotoCoreError as exc:
        error = aws.translate_error(exc)
        for instance_id in ids:
            outcomes[instance_id] = Outcome(False, code=error.code, message=error.message)
        return
    for item in response.get(result_key, []):
        outcomes[item["InstanceId"]] = Outcome(True, new_state=item.get("CurrentState", {}).get("Name", ""))
    for instance_id in ids:
        # An ID EC2 accepted without listing it: treat as done, the next describe tells.
        outcomes.setdefault(instance_id, Outcome(True))
