"""Who is calling: map a request's access key to an identity in moto's backends.

moto itself only maps keys to *accounts* (``moto.iam.models.get_account_id_from``,
which scans every account's ``IAMBackend.access_keys``) and happily serves any key
it does not know.  We scan the same registry, but keep the whole ``AccessKey``:

* ``AccessKey.user_name`` set  -> an IAM user's long-term key (AKIA...);
* ``AccessKey.role_arn`` set   -> temporary credentials issued by STS AssumeRole
  (ASIA...); the matching ``moto.sts.models.AssumedRole`` (session name, session
  token, expiration, session policy) lives in ``sts_backends[acct][partition]``.

``DeleteAccessKey`` removes the key from ``IAMBackend.access_keys``, so a deleted
key is unknown afterwards, which is how revocation works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from .policy import Principal

if TYPE_CHECKING:
    from moto.iam.models import AccessKey, IAMBackend
    from moto.sts.models import AssumedRole

# Prefixes of real AWS long-term (AKIA) and temporary (ASIA) access key ids.
AWS_KEY_PREFIXES = ("AKIA", "ASIA")


class CallerKind(Enum):
    # A key moto does not know and that does not look like an AWS key ("testing"):
    # moto's default identity, treated as the account root (no permission checks).
    DEFAULT = "default"
    USER = "user"
    ASSUMED_ROLE = "assumed-role"


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    account_id: str
    arn: str  # as AWS prints it in error messages ("User: <arn> is not authorized...")
    partition: str = "aws"
    access_key_id: str | None = None
    user_name: str | None = None
    role_arn: str | None = None  # the IAM role behind an assumed-role session
    session_policy: str | None = None  # the Policy parameter of AssumeRole

    @property
    def principal(self) -> Principal:
        arns = {self.arn}
        if self.role_arn:
            arns.add(self.role_arn)  # trust policies name the role, not the session
        return Principal(account_id=self.account_id, arns=frozenset(arns))

    @property
    def principal_arn(self) -> str:
        """Value of the ``aws:PrincipalArn`` condition key."""
        return self.role_arn or self.arn


class CredentialError(Exception):
    """The request's credentials must be rejected (``reason``: invalid/expired)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def find_access_key(access_key_id: str) -> tuple[IAMBackend, AccessKey] | None:
    # list() snapshots: other server threads may create accounts while we scan.
    # Only already-created backends are visited, so the scan creates nothing.
    for _account_id, per_account in list(iam_backends.items()):
        for _partition, backend in list(per_account.items()):
            key = backend.access_keys.get(access_key_id)
            if key is not None:
                return backend, key
    return None


def find_assumed_role(access_key_id: str, account_id: str) -> AssumedRole | None:
    # moto files the session under the role's account; scan the rest as a fallback
    # (AssumeRoleWithSAML files it under the caller's account).
    preferred = [sts_backends[account_id]] if account_id in sts_backends else []
    for per_account in preferred + list(sts_backends.values()):
        for backend in list(per_account.values()):
            session = backend.get_assumed_role_from_access_key(access_key_id)
            if session is not None:
                return session
    return None


def default_account(header_account: str | None) -> str:
    # Same precedence as moto's BaseResponse.get_current_account().
    return os.environ.get("MOTO_ACCOUNT_ID") or header_account or DEFAULT_ACCOUNT_ID


def resolve_caller(
    access_key_id: str | None,
    *,
    session_token: str | None,
    header_account: str | None,
) -> Caller:
    """Identity behind ``access_key_id``; raises CredentialError to reject it."""
    found = find_access_key(access_key_id) if access_key_id else None
    if found is None:
        if access_key_id and access_key_id.startswith(AWS_KEY_PREFIXES):
            raise CredentialError("invalid")
        account = default_account(header_account)
        return Caller(CallerKind.DEFAULT, account, f"arn:aws:iam::{account}:root")

    backend, key = found
    if getattr(key, "status", "Active") != "Active":
        raise CredentialError("invalid")

    if key.role_arn:
        session = find_assumed_role(key.access_key_id, backend.account_id)
        if session is not None:
            # Temporary credentials are only valid together with their session token.
            if session_token != session.session_token:
                raise CredentialError("invalid")
            if session.expiration < utcnow():
                raise CredentialError("expired")
            arn, policy = session.arn, session.policy
        else:
            role_name = key.role_arn.rsplit("/", 1)[-1]
            arn, policy = (
                f"arn:{backend.partition}:sts::{backend.account_id}:assumed-role/{role_name}/unknown",
                None,
            )
        return Caller(
            CallerKind.ASSUMED_ROLE,
            backend.account_id,
            arn,
            partition=backend.partition,
            access_key_id=key.access_key_id,
            role_arn=key.role_arn,
            session_policy=policy,
        )

    if key.user_name is None or key.user_name not in backend.users:
        raise CredentialError("invalid")  # orphaned key: its user is gone
    user = backend.users[key.user_name]
    return Caller(
        CallerKind.USER,
        backend.account_id,
        user.arn,
        partition=backend.partition,
        access_key_id=key.access_key_id,
        user_name=user.name,
    )
