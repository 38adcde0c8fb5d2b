"""AWS stand-in: moto's server plus the IAM checks moto does not make.

Tests, the demo and benchmarks talk to this instead of AWS.  On top of moto it
enforces what Parkway's confused-deputy protections rely on:

* AssumeRole only for existing roles whose trust policy allows the caller, with
  ``sts:ExternalId`` conditions -> otherwise 403 AccessDenied, the same error for a
  missing role; RoleSessionName/ExternalId/DurationSeconds validated like AWS;
* unknown AKIA/ASIA keys (never issued, deleted with DeleteAccessKey, inactive,
  wrong session token) -> InvalidClientTokenId, or AuthFailure on EC2; expired
  sessions -> ExpiredToken, or RequestExpired on EC2;
* EC2 calls by assumed-role sessions and IAM users must be allowed by their
  policies -> otherwise 403 UnauthorizedOperation, checked before moto's DryRun;
  RDS and Auto Scaling calls likewise -> 403 AccessDenied;
* call counters per ``service:Action``: ``GET``/``DELETE /_standin/calls``;
* programmable faults (throttling, lost responses, failing instance IDs, delays,
  hooks) and a record of what each Stop/StartInstances changed:
  ``StandinServer.faults`` in-process, ``/_standin/faults`` and
  ``/_standin/effects`` over HTTP (see ``faults.py``).

Keys that do not look like AWS keys ("testing") keep moto's default behaviour:
the root of account 123456789012, or of the account named by the
``x-moto-account-id`` header; no permission checks for them.

Not modelled (documented limits):

* signatures are not verified (key ids and session tokens are, secrets are not);
* identity policies ignore ``Resource`` and conditions other than String* on
  aws:RequestedRegion / aws:PrincipalAccount / aws:PrincipalArn (so the
  ``aws:TagKeys`` condition on CreateOrUpdateTags is not enforced); only EC2,
  RDS and Auto Scaling actions are permission-checked (IAM/STS calls, including the caller-side permission to
  call sts:AssumeRole, are not); no SCPs, resource policies or root-user rules;
* trust policies: only ``AWS`` principals match; conditions we cannot evaluate
  fail closed (Allow does not apply, Deny does);
* moto's GetSessionToken/GetFederationToken return a fixed example AKIA key, which
  the stand-in rejects as unknown.

All servers/apps in one process share moto's global backends.

Run it: ``python -m portal.aws_standin --port 5000``; in tests use ``StandinServer``.
"""

from .faults import Call, Effect, Fault, FaultLayer, instance_states
from .identity import Caller, CallerKind, resolve_caller
from .middleware import StandinMiddleware
from .server import StandinServer, account_client, main, make_app

__all__ = [
    "Call",
    "Caller",
    "CallerKind",
    "Effect",
    "Fault",
    "FaultLayer",
    "StandinMiddleware",
    "StandinServer",
    "account_client",
    "instance_states",
    "main",
    "make_app",
    "resolve_caller",
]
