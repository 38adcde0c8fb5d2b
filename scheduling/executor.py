"""Carrying out start/stop decisions against EC2, in batches.

One StopInstances and one StartInstances call per (account, region) for up to
`BATCH_LIMIT` machines. One unknown or wrong-state ID fails a whole EC2 call
and leaves the others as they were, so a failed batch is bisected until the
bad IDs are isolated and the rest are applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


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
    # Worth retrying at the next tick as usual (throttling, network): no
    # per-machine backoff. Permanent per-machine failures back off.
    transient: bool = False
    # AWS never answered (the request may or may not have acted): only AWS's
    # state, read by the next tick, can say what happened.
    unknown: bool = False


class Interrupted(Exception):
    """`before_call` refused to let the next call go out (e.g. the lease was
    lost); `outcomes` holds what AWS had already answered."""

    def __init__(self, outcomes: dict[str, Outcome], cause: Exception) -> None:
        super().__init__(str(cause))
        self.outcomes = outcomes
        self.cause = cause


@dataclass
class _Run:
    ec2: Any
    action: str
    before_call: Callable[[], None] | None
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def execute(
    ec2: Any, action: str, instance_ids: Sequence[str], *, before_call: Callable[[], None] | None = None
) -> dict[str, Outcome]:
    """Stop or start `instance_ids`; an Outcome per ID. Raises AccountFailure,
    or Interrupted when `before_call` (run before every AWS call) raises."""
    run = _Run(ec2=ec2, action=action, before_call=before_call)
    for start in range(0, len(instance_ids), BATCH_LIMIT):
        _run_batch(run, list(instance_ids[start : start + BATCH_LIMIT]))
    return run.outcomes


def _run_batch(run: _Run, ids: list[str]) -> None:
    method, result_key = OPERATIONS[run.action]
    outcomes = run.outcomes
    if run.before_call is not None:
        try:
            run.before_call()
        except Exception as exc:
            raise Interrupted(dict(outcomes), exc) from exc
    try:
        response = getattr(run.ec2, method)(InstanceIds=ids)
    except aws.AWS_ERRORS as exc:
        if not aws.answered(exc):
            # No answer after botocore's retries (timeouts, dropped connections):
            # the call may have acted. Never guess, never bisect.
            error = aws.translate_error(exc)
            for instance_id in ids:
                outcomes[instance_id] = Outcome(False, code=error.code, message=error.message, transient=True, unknown=True)
            return
        code, message, status = aws.error_fields(exc)
        if code in ACCOUNT_LEVEL_CODES:
            raise AccountFailure(aws.translate_error(exc)) from exc
        if code in aws.THROTTLING_CODES:
            # botocore's retry mode already backed off; leave the batch for next tick.
            for instance_id in ids:
                outcomes[instance_id] = Outcome(
                    False, code=code, message="AWS throttled the call; retried next tick.", transient=True
                )
            return
        if status >= 500:
            # AWS's own failure, after botocore's retries: it may have acted
            # before failing, so, as with no answer at all, only AWS's state
            # (read by the next tick) says what happened. No bisection, no backoff.
            for instance_id in ids:
                outcomes[instance_id] = Outcome(
                    False, code=code, message=message or "AWS failed to answer", transient=True, unknown=True
                )
            return
        if len(ids) == 1:
            outcomes[ids[0]] = Outcome(False, code=code, message=message)
            return
        middle = len(ids) // 2
        _run_batch(run, ids[:middle])
        _run_batch(run, ids[middle:])
        return
    for item in response.get(result_key, []):
        outcomes[item["InstanceId"]] = Outcome(True, new_state=item.get("CurrentState", {}).get("Name", ""))
    for instance_id in ids:
        # An ID EC2 accepted without listing it: treat as done, the next describe tells.
        outcomes.setdefault(instance_id, Outcome(True))
