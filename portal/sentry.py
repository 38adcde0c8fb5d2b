"""Error reports to Sentry (sentry-sdk, Django integration), on only when SENTRY_DSN is set.

Nothing personal and no secret leaves: `send_default_pii` is left off (no
cookies, user or client address), sentry-sdk's event scrubber drops the values of keys
named like secrets anywhere in an event (frame locals, request bodies, extras),
and `event_scrub` runs `portal.logs.redact` over every remaining string, so an
access key ID in an exception's message arrives masked like in the logs.
Each event is tagged with the tenant, account, run and task it happened in.
"""

from __future__ import annotations

from typing import Any

from portal.logs import exception_log_ids, log_ids, redact

# Names whose values never leave, on top of sentry-sdk's list (password, secret,
# token, session, authorization, cookie…). The scrubber compares whole names.
SECRET_NAMES = [
    "secret_access_key",
    "aws_secret_access_key",
    "access_key_id",
    "aws_access_key_id",
    "aws_session_token",
    "sessiontoken",
    "session_token",
    "secretaccesskey",
    "accesskeyid",
    "external_id",
    "externalid",
    "parkway_encryption_keys",
    "encryption_keys",
    "secret_key",
    "token_hash",
    "otp_token",
    "new_password1",
    "new_password2",
    "old_password",
    "email_password",
    "email_host_password",
    "dsn",
]


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def event_scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """before_send: every string redacted; the ids of the work in progress as tags."""
    event = _clean(event)
    exc_info = (hint or {}).get("exc_info") or (None, None, None)
    tags = event.setdefault("tags", {})
    if isinstance(tags, dict):
        for key, value in {**exception_log_ids(exc_info[1]), **log_ids()}.items():
            tags.setdefault(key, value)
    return event


def breadcrumb_scrub(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return _clean(crumb)


def sentry_init(*, dsn: str, environment: str = "", release: str = "", traces_sample_rate: float = 0.0, **options: Any) -> bool:
    """Start reporting to `dsn`; nothing at all (not even the SDK's import) without one."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration()],
        # send_default_pii stays at its default, off (sentry-sdk 2.x warns when it is passed).
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + SECRET_NAMES, recursive=True),
        before_send=event_scrub,
        before_send_transaction=event_scrub,
        before_breadcrumb=breadcrumb_scrub,
        environment=environment or None,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        **options,
    )
    return True
