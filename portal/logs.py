"""Log lines that say whose work they are about, and never carry a secret.

* `log_context(tenant=…, account=…, run=…, task=…)` — the ids of the work in
  progress, kept in a context variable by the code that knows them (the access
  decorator for a request, the parking service for an account, the worker for
  its task: `task_log_context_*`, connected to django-q2's signals). Business
  modules never pass them around: `LogContextFilter` copies them onto every
  record, so every line of that work carries them.
* `RedactingFilter` — the safety net behind the rule that no secret reaches a
  log line: a full access key ID is cut to its masked form (AKIA…WXYZ, as
  `tenants.validation.mask_key_id` shows it), a secret-access-key-shaped or
  session-token-shaped string is replaced. The sources mask what they log too;
  this catches what a library (botocore at DEBUG prints request headers) or an
  exception's message lets through.
* `JsonFormatter` (python-json-logger) for servers, `TextFormatter` for people;
  `portal/settings.py` LOGGING picks one with PARKWAY_LOG_FORMAT.

Both filters sit on the handlers, not on loggers: a handler's filters see every
record that reaches it, from any library's logger.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

LOG_FIELDS = ("tenant", "account", "run", "task")
EXCEPTION_IDS = "_parkway_log_ids"

_ids: ContextVar[Mapping[str, str]] = ContextVar("parkway_log_ids", default={})
# What was in force before the current django-q2 task started (sync mode runs tasks in the caller's thread).
_before_task: ContextVar[Mapping[str, str] | None] = ContextVar("parkway_log_ids_before_task", default=None)


def _clean(ids: Mapping[str, object]) -> dict[str, str]:
    unknown = set(ids) - set(LOG_FIELDS)
    if unknown:
        raise TypeError(f"log_context takes {', '.join(LOG_FIELDS)}, not {', '.join(sorted(unknown))}")
    return {key: str(value) for key, value in ids.items() if value is not None and value != ""}


def log_ids() -> dict[str, str]:
    """The ids of the work in progress (for Sentry's tags, and tests)."""
    return dict(_ids.get())


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Every line logged inside the block carries these ids (and the enclosing block's)."""
    token = _ids.set({**_ids.get(), **_clean(ids)})
    try:
        yield
    except BaseException as exc:
        # An error is often reported after it left the block (Django's "Internal Server
        # Error" line, Sentry's event): it keeps the ids of where it was raised.
        if not hasattr(exc, EXCEPTION_IDS):
            try:
                setattr(exc, EXCEPTION_IDS, dict(_ids.get()))
            except AttributeError:
                pass
        raise
    finally:
        _ids.reset(token)


def exception_log_ids(exc: BaseException | None) -> dict[str, str]:
    """The ids in force where `exc` was raised inside a `log_context` block."""
    return dict(getattr(exc, EXCEPTION_IDS, None) or {})


def log_context_add(**ids: object) -> None:
    """Add ids learnt inside a `log_context` block (a parking run, once created);
    they go when that block ends."""
    _ids.set({**_ids.get(), **_clean(ids)})


def task_log_context_start(sender: object = None, task: Mapping[str, Any] | None = None, **kwargs: object) -> None:
    """django-q2's pre_execute: a task's lines carry its id, and nothing of the previous task's."""
    _before_task.set(_ids.get())
    _ids.set(_clean({"task": (task or {}).get("id")}))


def task_log_context_end(sender: object = None, **kwargs: object) -> None:
    """django-q2's post_execute_in_worker: back to what the caller had (sync mode runs tasks inline)."""
    before = _before_task.get()
    _ids.set(before if before is not None else {})
    _before_task.set(None)


class LogContextFilter(logging.Filter):
    """Puts the current ids on the record (`record.tenant`, …), only those known."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = dict(_ids.get())
        if record.exc_info and record.exc_info[1] is not None:
            ids = {**exception_log_ids(record.exc_info[1]), **ids}
        for key, value in ids.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


# ----------------------------------------------------------------------------- redaction

MASK = "…"
# Long-term (AKIA) and temporary (ASIA) access key IDs: 20 upper-case letters and digits.
_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(AKIA|ASIA)[A-Z0-9]{12}([A-Z0-9]{4})(?![A-Za-z0-9])")
# A secret access key: 40 base64 characters, upper and lower case mixed (a hex digest, all
# lower case, is not one). A session token: a long base64 run.
_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9/+]{100,}={0,2}")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with full access key IDs masked and secret-shaped strings replaced."""
    if not text:
        return text
    text = _SESSION_TOKEN.sub(REDACTED, text)
    text = _KEY_ID.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
    return _SECRET_KEY.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record whose message, traceback or stack holds a secret-shaped string.

    The formatted traceback replaces the exception (`exc_text`, `exc_info` cleared),
    since formatters would format the exception again from `exc_info`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            cleaned = redact(text)
            if cleaned != text:
                record.exc_text, record.exc_info = cleaned, None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# ----------------------------------------------------------------------------- formats


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, the ids known, extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__(*args, **kwargs)


class TextFormatter(logging.Formatter):
    """For people (DEBUG, tests): the usual line, then the ids known in brackets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        super().__init__(*args, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in LOG_FIELDS if getattr(record, key, None) is not None)
        return f"{line} [{ids}]" if ids else line
