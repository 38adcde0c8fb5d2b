"""The one module that builds AWS clients for customer accounts.

* Our own identity comes from boto3's standard chain (the servers' instance role
  in production, `AWS_ACCESS_KEY_ID`… on a laptop); boto3's `AWS_ENDPOINT_URL`
  is honoured, so a local stand-in can replace AWS.
* A role credential becomes an `AccountSession` holding botocore's refreshable
  assume-role credentials, cached per process per credential, so any number of
  calls cost one AssumeRole until the session nears expiry. Clients are the
  process's, one per service and region, shared by every account: each call
  is signed with its own account's credentials (`client()`). The AssumeRole
  answer itself is kept, encrypted, in the shared cache
  (tenants.credential_cache): other processes and machines, and recycled
  workers, reuse it, so the fleet makes one AssumeRole per account per session.
* Every botocore failure is turned into `AwsError`: a human message, the AWS
  code, and a `permanent` flag (permanent errors flag the account; transient
  ones are retried on the next tick). Failures to *get in* (AssumeRole) are
  worded apart from refusals of later calls (a missing permission); a refusal
  under a cached session re-asks STS first, since a deleted role's sessions
  are refused like missing permissions (docs/connections.md).
* Legacy keys past the deadline (tenants.sunset) are refused here, the one
  place every path builds its session.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.loaders
import botocore.parsers
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from dateutil.tz import tzutc
from django.conf import settings

from portal.logs import redact
from tenants.credential_cache import SharedCredentialCache
from tenants.sunset import legacy_keys_paused, paused_message

if TYPE_CHECKING:
    from tenants.models import CloudAccount, CloudCredential

logger = logging.getLogger(__name__)

# Where STS is called when nothing else says which region: the deployment's
# partition decides (IAM and STS are separate per partition).
PARTITION_DEFAULT_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
    }
)
INVALID_KEY_CODES = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "UnrecognizedClientException", "InvalidAccessKeyId"}
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# Not an AWS code: tenants.aws refuses legacy keys past the deadline (tenants.sunset).
LEGACY_PAUSED = "LegacyKeysPaused"
# The External ID of the claim check: never any tenant's (theirs start with "pkw-").
PROBE_EXTERNAL_ID_PREFIX = "parkway-external-id-check-"


# What a botocore call raises: AWS's answer (ClientError) or no usable answer
# (BotoCoreError). Other modules catch these through this module only.
AWS_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)


def error_fields(exc: Exception) -> tuple[str, str, int]:
    """(code, message, HTTP status) of AWS's answer; ("", "", 0) when AWS did not answer."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code", "Unknown"), aws_message(exc), int(status)
    return "", "", 0


def aws_message(exc: ClientError) -> str:
    """AWS's error message, with any access key ID it echoes masked: the message goes
    to pages, the database and the logs, so it is cleaned here, at the source."""
    return redact(exc.response.get("Error", {}).get("Message", "") or "")


def answered(exc: Exception) -> bool:
    """AWS answered with an error (as opposed to no answer at all)."""
    return isinstance(exc, ClientError)


class AwsError(Exception):
    """An AWS failure with a message fit for a customer.

    `permanent` errors will fail again until someone changes something (a role,
    a policy, keys); transient ones (throttling, AWS hiccups) are worth retrying.
    """

    def __init__(self, message: str, *, code: str, permanent: bool, operation: str = "", staff_message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.operation = operation
        # The same failure told to Parkway's staff (admin, operators' commands),
        # when the customer's wording ("your External ID") would mislead them.
        self.staff_message = staff_message or message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _StaticProvider(CredentialProvider):
    """Hands a ready credentials object to a botocore session (public extension point)."""

    credentials: Any
    METHOD = "parkway"

    def load(self) -> Any:
        return self.credentials


# AWS calls made by the current thread, by operation, while counting_calls() is open.
_call_counter: ContextVar[Counter[str] | None] = ContextVar("parkway_aws_calls", default=None)


@contextmanager
def counting_calls() -> Iterator[Counter[str]]:
    """Count API calls (not retries) by operation, AssumeRole refreshes included."""
    counter: Counter[str] = Counter()
    token = _call_counter.set(counter)
    try:
        yield counter
    finally:
        _call_counter.reset(token)


def _count_call(model: Any, **kwargs: Any) -> None:
    counter = _call_counter.get()
    if counter is not None:
        counter[model.name] += 1


def _counted(client: Any) -> Any:
    client.meta.events.register("before-call", _count_call)
    return client


# Bounded waits: a parking lease must outlast the longest single AWS call
# (scheduling.checks compares them), or a slow call could act beside the
# worker that took the lease over.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20
RETRY_BACKOFF_CAP = 20  # botocore's standard/adaptive modes wait at most 20 s between attempts


def max_call_seconds() -> int:
    """The longest one API call can take, retries included."""
    attempts = max(1, settings.PARKWAY_AWS_MAX_ATTEMPTS)
    return attempts * (CONNECT_TIMEOUT + READ_TIMEOUT) + (attempts - 1) * RETRY_BACKOFF_CAP


def client_config(**overrides: Any) -> Config:
    options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT} | overrides
    return Config(
        # total_max_attempts counts every attempt; botocore's "max_attempts" would count retries (N + 1 in all).
        retries={"mode": settings.PARKWAY_AWS_RETRY_MODE, "total_max_attempts": max(1, settings.PARKWAY_AWS_MAX_ATTEMPTS)},
        user_agent_extra="parkway",
        **options,
    )


def default_region() -> str:
    return settings.PARKWAY_AWS_DEFAULT_REGION or PARTITION_DEFAULT_REGION.get(settings.PARKWAY_AWS_PARTITION, "us-east-1")


# Parsing EC2's service model takes a good fraction of a second; one loader
# shared by every session parses it once per process instead of once per session.
_loader = botocore.loaders.create_loader()

# What Parkway reads of a machine in a DescribeInstances answer
# (scheduling.kinds): its customers' clients parse these members of each
# instance and nothing else. botocore walks every member of the model for
# every instance (block devices, network interfaces, security groups…), which
# was a third of a busy task's CPU; skipping the members nobody reads leaves
# the XML's structure to ElementTree (C) alone.
EC2_INSTANCE_MEMBERS = ("InstanceId", "State", "Tags", "InstanceType", "LaunchTime")


class _CustomerLoader(botocore.loaders.Loader):
    """The loader of the clients that act in customers' accounts: EC2's model
    with its Instance shape (and the Reservation around it) reduced to what
    Parkway reads. Other shapes, services and loaders are untouched; the
    trimmed model is a copy (botocore's cached one is never modified)."""

    def __init__(self) -> None:
        super().__init__()
        self._trimmed: dict[int, Any] = {}  # by id of the model botocore loaded (and caches)

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        model = super().load_service_model(service_name, type_name, api_version)
        if service_name != "ec2" or type_name != "service-2":
            return model
        trimmed = self._trimmed.get(id(model))
        if trimmed is None:
            shapes = dict(model["shapes"])
            for name, keep in (("Instance", EC2_INSTANCE_MEMBERS), ("Reservation", ("Instances",))):
                shape = dict(shapes[name])
                shape["members"] = {k: v for k, v in shape["members"].items() if k in keep}
                shapes[name] = shape
            trimmed = self._trimmed[id(model)] = dict(model, shapes=shapes)
        return trimmed


_customer_loader = _CustomerLoader()
_UTC = tzutc()
_ZERO = dt.timedelta(0)


def fast_timestamp(value: Any) -> dt.datetime:
    """botocore's timestamp parser, fast for what AWS's XML answers hold.

    botocore hands every timestamp to dateutil, which took 9-17 % of a
    worker's CPU describing instances (each has a LaunchTime, each volume an
    AttachTime). ISO 8601 — "2026-01-05T08:00:00.000Z", with or without a
    fraction, "Z" or an offset — goes to `datetime.fromisoformat` instead
    (Python 3.11 reads every ISO form AWS sends, fractions beyond microseconds
    truncated as dateutil does), UTC with dateutil's own `tzutc` like botocore's;
    anything else (epoch numbers, RFC 822 dates) to botocore's own parser.
    tests/tenants/test_fast_timestamps.py holds it to botocore's answers."""
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and value[10] in "T ":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return botocore.utils.parse_timestamp(value)
        if parsed.tzinfo is not None and parsed.utcoffset() == _ZERO:
            return parsed.replace(tzinfo=_UTC)
        return parsed
    return botocore.utils.parse_timestamp(value)


# One parser factory for every session, set to the fast timestamp parser
# (botocore's documented hook: ResponseParserFactory.set_parser_defaults).
_parser_factory = botocore.parsers.ResponseParserFactory()
_parser_factory.set_parser_defaults(timestamp_parser=fast_timestamp)


def _botocore_session() -> botocore.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    core.register_component("response_parser_factory", _parser_factory)
    return core


# Our own identity, and one STS client for every AssumeRole, per process: a
# botocore client costs tens of milliseconds to build (a class with a method per
# operation), and churning them made a tick's garbage collections dominate.
_source: botocore.session.Session | None = None
_sts: Any = None
_source_lock = threading.RLock()


def _source_session() -> botocore.session.Session:
    global _source
    with _source_lock:
        if _source is None:
            _source = _botocore_session()
        return _source


def _sts_client() -> Any:
    global _sts
    with _source_lock:
        if _sts is None:
            _sts = _counted(_source_session().create_client("sts", region_name=default_region(), config=client_config()))
        return _sts


@dataclass(frozen=True)
class _RoleSession:
    """What it takes to assume a cached session's role again."""

    key: tuple
    role_arn: str
    external_id: str
    session_name: str


class AccountSession:
    """One customer account's way in: its credentials (botocore's refreshable
    assume-role credentials for a role, static keys otherwise) and, for a role,
    what it takes to assume it again. It holds no client: every account's calls
    go through the process's clients for their service and region (`client()`),
    signed with the account's credentials, so a session weighs a few kilobytes
    and a worker's memory does not grow with the accounts it serves."""

    __slots__ = ("credentials", "role")

    def __init__(self, credentials: Any, role: _RoleSession | None = None) -> None:
        self.credentials = credentials
        self.role = role

    def get_credentials(self) -> Any:
        return self.credentials


def _assume_role_session(role: _RoleSession) -> AccountSession:
    source_credentials = _source_session().get_credentials()
    if source_credentials is None:
        raise AwsError(
            "Parkway has no AWS credentials of its own to assume customer roles with "
            "(configure the server's instance role or AWS_ACCESS_KEY_ID).",
            code="NoCredentials",
            permanent=True,
        )

    def create_sts_client(service_name: str, **kwargs: Any) -> Any:
        # The fetcher hands over frozen copies of our keys; the shared client
        # signs with the same (refreshable) credentials.
        return _sts_client()

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=create_sts_client,
        source_credentials=source_credentials,
        role_arn=role.role_arn,
        extra_args={
            "ExternalId": role.external_id,
            "RoleSessionName": role.session_name,
            "DurationSeconds": settings.PARKWAY_ASSUME_ROLE_SECONDS,
        },
        # Shared by every worker process and machine; botocore asks it before STS.
        cache=SharedCredentialCache(),
    )

    def fetch_credentials() -> dict[str, Any]:
        # Raised from inside any API call that needs fresh credentials: name the
        # role here, where it is known, rather than in every caller.
        try:
            return fetcher.fetch_credentials()
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, role_arn=role.role_arn) from exc

    credentials = DeferredRefreshableCredentials(refresh_using=fetch_credentials, method="assume-role")
    return AccountSession(credentials, role)


# Assumed-role sessions of this process, least recently used first, at most
# PARKWAY_SESSION_CACHE_SIZE. A session is a few kilobytes (its credentials and
# their fetcher); an evicted one costs a read of the shared credential cache
# (tenants.credential_cache) on its account's next call, not an AssumeRole.
_cache: OrderedDict[tuple, AccountSession] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_get(key: tuple) -> AccountSession | None:
    session = _cache.get(key)
    if session is not None:
        _cache.move_to_end(key)
    return session


def _cache_put(key: tuple, session: AccountSession) -> None:
    _cache[key] = session
    _cache.move_to_end(key)
    while len(_cache) > max(1, settings.PARKWAY_SESSION_CACHE_SIZE):
        _cache.popitem(last=False)


def _forget_session(key: tuple) -> None:
    with _cache_lock:
        _cache.pop(key, None)


def clear_session_cache() -> None:
    """Forget this process's sessions, clients and our own identity (tests
    change the environment; a new worker process starts like this). The shared
    cache of assumed-role credentials is not this process's to forget."""
    global _source, _sts, _shared_session
    with _cache_lock:
        _cache.clear()
    with _shared_lock:
        _shared_clients.clear()
        _shared_session = None
    with _source_lock:
        _source = _sts = None


def _legacy_keys(credential: CloudCredential) -> Credentials:
    account = credential.account
    if legacy_keys_paused():
        # The one gate of the sunset: parking, inventory, verification, "Test
        # connection"... all build their sessions here. Not `permanent`: the
        # account did not fail and is not flagged; it waits for a role.
        raise AwsError(paused_message(), code=LEGACY_PAUSED, permanent=False)
    # Flagged on every use: these keys never expire and work from anywhere.
    logger.warning(
        "Legacy IAM user keys %s used for account %s of tenant %s; migrate it to an IAM role.",
        credential.masked_key_id,
        account.account_id,
        account.tenant.slug,
    )
    if not credential.secret_access_key:
        raise AwsError("This credential was retired and its secret destroyed.", code="CredentialRetired", permanent=True)
    return Credentials(credential.access_key_id, credential.secret_access_key, method="parkway-legacy-keys")


def fresh_clients(credential: CloudCredential) -> AccountSession:
    """A session for one short check with credentials obtained now (one
    AssumeRole for a role): verification must prove the role works now, not
    reuse credentials from an hour ago. Its clients are `client(session, …)`."""
    if credential.kind == credential.Kind.LEGACY_USER:
        return AccountSession(_legacy_keys(credential))
    tenant = credential.account.tenant
    try:
        response = _sts_client().assume_role(
            RoleArn=credential.role_arn,
            RoleSessionName=tenant.role_session_name,
            ExternalId=tenant.external_id,
            DurationSeconds=900,  # the shortest AWS allows: these are used for seconds
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, role_arn=credential.role_arn) from exc
    keys = response["Credentials"]
    return AccountSession(
        Credentials(keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"], method="parkway-fresh-role")
    )


def role_accepts_any_external_id(credential: CloudCredential) -> bool:
    """Does the role let Parkway in with an External ID that is nobody's?

    Then it would let in whichever Parkway customer names it (the confused
    deputy), so assuming it proves nothing about who configured it: a claim
    needs a role that insists on the tenant's External ID. One AssumeRole.
    """
    try:
        _sts_client().assume_role(
            RoleArn=credential.role_arn,
            RoleSessionName=credential.account.tenant.role_session_name,
            ExternalId=f"{PROBE_EXTERNAL_ID_PREFIX}{secrets.token_hex(8)}",
            DurationSeconds=900,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in DENIED_CODES:
            return False
        raise translate_error(exc, role_arn=credential.role_arn) from exc
    except BotoCoreError as exc:
        raise translate_error(exc, role_arn=credential.role_arn) from exc
    return True


def session_for_credential(credential: CloudCredential) -> AccountSession:
    """The session that acts inside the credential's account; for a role,
    cached per process so any number of calls cost one AssumeRole an hour."""
    if credential.kind == credential.Kind.LEGACY_USER:
        return AccountSession(_legacy_keys(credential))
    tenant = credential.account.tenant
    key = (credential.pk, credential.role_arn, tenant.external_id, tenant.role_session_name)
    role = _RoleSession(
        key=key, role_arn=credential.role_arn, external_id=tenant.external_id, session_name=tenant.role_session_name
    )
    if credential.pk is None:
        return _assume_role_session(role)
    with _cache_lock:
        session = _cache_get(key)
        if session is None:
            session = _assume_role_session(role)
            _cache_put(key, session)
        return session


def session_for(account: CloudAccount) -> AccountSession:
    """The session of the account's active credential."""
    credential = account.active_credential()
    if credential is None:
        raise AwsError("This account has no active credential.", code="NoCredential", permanent=True)
    return session_for_credential(credential)


# --- One client per service and region, shared by every account ---------------
#
# A botocore client per account and region cost ~3 MB and tens of ms of CPU to
# build (its class, service model, endpoint rules, connection pool), so a
# worker's memory and a tick's CPU grew with the accounts served. The process
# keeps one client per (service, region) instead, whose credentials are those
# of the account the current call acts for (`_acting`, set around each call by
# `AccountClient`): the same connections, parsed models and endpoint rules serve
# every account, and each request is still signed with its own account's keys.
# A ContextVar is per thread, so threads (migrate_to_roles --concurrency) share
# the clients safely (botocore's clients are thread-safe).

_acting: ContextVar[AccountSession | None] = ContextVar("parkway_aws_acting", default=None)


class _ActingCredentials(Credentials):
    """The credentials of the account the current call acts for, handed to the
    shared clients' request signer (which asks for frozen credentials at every
    signature: botocore's refreshable credentials work the same way)."""

    def __init__(self) -> None:
        super().__init__("", "", method="parkway-acting-account")

    def _current(self) -> Any:
        session = _acting.get()
        if session is None:  # only AccountClient calls these clients
            raise RuntimeError("A shared AWS client was called outside an account's call.")
        return session.credentials

    def get_frozen_credentials(self) -> Any:
        return self._current().get_frozen_credentials()

    def get_deferred_property(self, property_name: str) -> Any:
        return lambda: None  # no account-ID endpoints: an endpoint is the same for every account


_ACTING_CREDENTIALS = _ActingCredentials()
_shared_clients: dict[tuple[str, str], Any] = {}
_shared_lock = threading.Lock()
_shared_session: botocore.session.Session | None = None


def _shared_client(service: str, region: str) -> Any:
    global _shared_session
    key = (service, region)
    made = _shared_clients.get(key)
    if made is not None:
        return made
    with _shared_lock:  # botocore sessions are not thread-safe when creating clients
        made = _shared_clients.get(key)
        if made is None:
            if _shared_session is None:
                _shared_session = _botocore_session()
                _shared_session.register_component("data_loader", _customer_loader)
                _shared_session.register_component(
                    "credential_provider", CredentialResolver([_StaticProvider(_ACTING_CREDENTIALS)])
                )
            # Pool as many connections as calls may run at once on one client.
            made = _counted(
                _shared_session.create_client(service, region_name=region, config=client_config(max_pool_connections=50))
            )
            made.meta.events.register("after-call", _recheck_role_on_denial)
            _shared_clients[key] = made
    return made


class AccountClient:
    """A service's client acting inside one account: the shared client, with
    the account's credentials for the length of each call (operations, and
    each page a paginator fetches). Everything else is the shared client's."""

    __slots__ = ("_client", "_session")

    def __init__(self, shared: Any, session: AccountSession) -> None:
        self._client = shared
        self._session = session

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "get_paginator":
            return lambda operation: _AccountPaginator(attribute(operation), self._session)
        if name in self._client.meta.method_to_api_mapping:
            return functools.partial(_acting_call, self._session, attribute)
        return attribute


def _acting_call(session: AccountSession, call: Any, *args: Any, **kwargs: Any) -> Any:
    token = _acting.set(session)
    try:
        return call(*args, **kwargs)
    finally:
        _acting.reset(token)


class _AccountPaginator:
    __slots__ = ("_paginator", "_session")

    def __init__(self, paginator: Any, session: AccountSession) -> None:
        self._paginator = paginator
        self._session = session

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        pages = iter(self._paginator.paginate(**kwargs))
        while True:
            token = _acting.set(self._session)
            try:
                page = next(pages)
            except StopIteration:
                return
            finally:
                _acting.reset(token)
            yield page


def client(session: AccountSession, service: str, region: str | None = None) -> AccountClient:
    """The client for (service, region) acting inside the session's account:
    the process's shared client, signing with the session's (refreshed) credentials."""
    return AccountClient(_shared_client(service, region or default_region()), session)


def _recheck_role_on_denial(http_response: Any = None, parsed: Any = None, **kwargs: Any) -> None:
    """A call refused under an assumed role: a permission is missing, or the role
    is gone. AWS keeps issued session credentials valid until they expire and
    answers a deleted role's sessions with the same refusal as a missing
    permission, so ask STS: if the role can no longer be assumed, that is the
    error to report (and the stale session is dropped); otherwise the original
    refusal stands and names the missing permission."""
    if http_response is None or http_response.status_code < 400 or not isinstance(parsed, dict):
        return
    if parsed.get("Error", {}).get("Code") not in DENIED_CODES:
        return
    session = _acting.get()
    role = session.role if session is not None else None
    if role is None:  # keys, not a role: nothing to re-assume
        return
    try:
        _sts_client().assume_role(
            RoleArn=role.role_arn, RoleSessionName=role.session_name, ExternalId=role.external_id, DurationSeconds=900
        )
    except ClientError as exc:
        error = translate_error(exc, role_arn=role.role_arn)
        if error.code in DENIED_CODES:
            _forget_session(role.key)
            raise error from None
    except BotoCoreError:
        pass  # STS unreachable: the original refusal is all we know



def translate_error(exc: Exception, *, role_arn: str = "", external_id_hint: bool = True) -> AwsError:
    """Map a botocore exception to an AwsError with a message a person can act on."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            "Parkway has no AWS credentials of its own (configure the server's instance role).",
            code="NoCredentials",
            permanent=True,
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        operation = exc.operation_name or ""
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if operation == "AssumeRole":
            # Getting in, not acting: never worded as a missing permission.
            return _assume_role_error(code, aws_message(exc), status, role_arn=role_arn)
        if code in THROTTLING_CODES:
            return AwsError(
                "AWS is throttling requests to this account right now. Try again in a few minutes.",
                code=code,
                permanent=False,
                operation=operation,
            )
        if code in INVALID_KEY_CODES:
            return AwsError(
                "AWS rejected the access keys: they are invalid, deactivated or deleted. "
                "Connect the account with an IAM role instead.",
                code=code,
                permanent=True,
                operation=operation,
            )
        if code in EXPIRED_CODES:
            return AwsError(
                "The AWS credentials have expired.", code=code, permanent=True, operation=operation
            )
        if code in DENIED_CODES:
            # A call after getting in was refused: a permission is missing. (A
            # deleted role answers the same; tenants.aws rechecks the role first.)
            action = _action_name(exc)
            return AwsError(
                f"The role or user lacks permission {action}. Update the stack with Parkway's latest template "
                "(or add the permission to its policy).",
                code=code,
                permanent=True,
                operation=operation,
            )
        message = aws_message(exc) or code
        return AwsError(
            f"AWS answered {code}: {message}", code=code, permanent=status < 500, operation=operation
        )
    if isinstance(exc, BotoCoreError):
        return AwsError(
            f"Could not reach AWS ({type(exc).__name__}). Try again later.",
            code=type(exc).__name__,
            permanent=False,
        )
    raise exc


def _assume_role_error(code: str, message: str, status: int, *, role_arn: str) -> AwsError:
    role = role_arn or "(unknown)"
    if code in DENIED_CODES:
        # AWS gives one answer for "no such role" and "the trust policy says no",
        # so that nobody learns which roles exist in someone else's account.
        return AwsError(
            f"Parkway could not assume the role {role}: the role does not exist (it may have been deleted), or its "
            f"trust policy does not (or no longer) trust Parkway's AWS account {settings.PARKWAY_AWS_ACCOUNT_ID or ''} "
            "with your External ID. Create the role with our CloudFormation template, or check that the "
            "trust policy's sts:ExternalId matches the External ID shown on your Parkway page.",
            code=code,
            permanent=True,
            operation="AssumeRole",
            staff_message=(
                f"Parkway could not assume the role {role}: the role does not exist (it may have been deleted), or its "
                f"trust policy does not (or no longer) trust Parkway's AWS account {settings.PARKWAY_AWS_ACCOUNT_ID or ''} "
                "with the tenant's External ID (on the tenant's admin page). The customer must create the role with "
                "Parkway's CloudFormation template, or set the trust policy's sts:ExternalId to that External ID."
            ),
        )
    if code in THROTTLING_CODES:
        return AwsError(
            "AWS is throttling requests to this account right now. Try again in a few minutes.",
            code=code,
            permanent=False,
            operation="AssumeRole",
        )
    if code in INVALID_KEY_CODES or code in EXPIRED_CODES:
        # These are *our* credentials (the caller of AssumeRole), not the customer's:
        # nothing they can fix, and no reason to flag their account.
        return AwsError(
            f"AWS refused Parkway's own credentials while assuming the role {role} ({code}). This is on Parkway's "
            "side, not yours; it is retried automatically.",
            code=code,
            permanent=False,
            operation="AssumeRole",
            staff_message=(
                f"AWS refused Parkway's own credentials (the servers' AWS identity) while assuming the role {role} "
                f"({code}): nothing the customer can fix. Check the servers' AWS credentials; it is retried automatically."
            ),
        )
    return AwsError(
        f"AWS refused to let Parkway assume the role {role}: {code}: {message or code}",
        code=code,
        permanent=status < 500,
        operation="AssumeRole",
    )


def _action_name(exc: ClientError) -> str:
    prefix = {"ec2": "ec2", "sts": "sts", "iam": "iam", "rds": "rds", "autoscaling": "autoscaling"}
    service = getattr(getattr(exc, "service_model", None), "service_name", None) or ""
    message = exc.response.get("Error", {}).get("Message", "")
    # AWS names the action in the message ("... not authorized to perform: ec2:StopInstances ...").
    marker = "perform: "
    if marker in message:
        return message.split(marker, 1)[1].split()[0].rstrip(".,;")
    return f"{prefix.get(service, service) or 'aws'}:{exc.operation_name}"


# --- Our own price list (pricing:GetProducts) --------------------------------------

# The Price List API answers from a few regions only; us-east-1 serves the aws partition.
PRICING_REGION = "us-east-1"


def pricing_client() -> Any:
    """A Price List API client under *our own* identity (the default chain),
    never a customer's: prices are public and no customer role allows it."""
    return _source_session().create_client("pricing", region_name=PRICING_REGION, config=client_config())


def pricing_products(client: Any, *, service_code: str, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every product of `service_code` matching `filters` (TERM_MATCH each), as
    AWS's price-list documents (one paginated GetProducts)."""
    terms = [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters.items()]
    try:
        pages = client.get_paginator("get_products").paginate(ServiceCode=service_code, Filters=terms, FormatVersion="aws_v1")
        for page in pages:
            for item in page.get("PriceList", []):
                yield json.loads(item) if isinstance(item, str) else item
    except AWS_ERRORS as exc:
        raise translate_error(exc) from exc
