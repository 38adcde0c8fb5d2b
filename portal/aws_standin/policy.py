"""A deliberately small IAM policy evaluator.

Just enough of IAM's rules to test Parkway's confused-deputy protections and
the "least privilege" EC2 policies we ask customers to install:

* statements: ``Effect`` Allow/Deny, ``Action``/``NotAction`` (case-insensitive,
  ``*`` and ``?`` wildcards), ``Principal``/``NotPrincipal`` (``"*"``, ``{"AWS": ...}``
  with an account id, ``arn:...:root``, or an exact user/role/assumed-role ARN);
* explicit Deny beats Allow; no matching Allow means implicit deny;
* ``Condition`` with the String* operators (StringEquals, StringNotEquals,
  StringLike, StringNotLike, their IgnoreCase forms and ``...IfExists``) on the
  keys the caller puts in the context (``sts:ExternalId``, ``aws:PrincipalArn``...).

``Resource`` is ignored (every statement is treated as ``"Resource": "*"``).
Conditions the evaluator does not understand (other operators, other keys) get
the value of ``unknown_condition`` that the caller picks per effect, so trust
policies can fail closed while identity policies stay simple (see middleware).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

Statement = Mapping[str, Any]


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit-deny"
    EXPLICIT_DENY = "explicit-deny"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as far as a trust policy is concerned."""

    account_id: str
    # Every ARN a trust policy may name to mean this caller: the user ARN, or for
    # a role session both the role ARN and the assumed-role session ARN.
    arns: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class UnknownConditionPolicy:
    """What an unsupported condition evaluates to, per statement effect."""

    allow: bool
    deny: bool


# Trust policies guard the door between tenants: an Allow we cannot fully
# understand must not open it, a Deny we cannot understand must still close it.
FAIL_CLOSED = UnknownConditionPolicy(allow=False, deny=True)
# Identity policies of customer roles often carry tag/resource conditions we do not
# model; we ignore them (Allow applies, conditional Deny does not) - documented limit.
IGNORE_UNKNOWN = UnknownConditionPolicy(allow=True, deny=False)


def parse_policy(document: str | Mapping[str, Any] | None) -> list[Statement]:
    """Statements of a policy document; unreadable documents grant nothing."""
    if document is None:
        return []
    if isinstance(document, str):
        parsed: Any = None
        # moto normally stores the JSON as sent, but documents can arrive URL-encoded.
        for candidate in (document, unquote(document)):
            try:
                parsed = json.loads(candidate)
                break
            except ValueError:
                continue
    else:
        parsed = document
    if not isinstance(parsed, Mapping):
        return []
    statements = parsed.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return [s for s in statements if isinstance(s, Mapping)]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=1024)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = True) -> bool:
    return _wildcard_regex(str(pattern), ignore_case).fullmatch(value) is not None


def action_matches(statement: Statement, action: str) -> bool:
    if "NotAction" in statement:
        return not any(wildcard_match(p, action) for p in as_list(statement["NotAction"]))
    return any(wildcard_match(p, action) for p in as_list(statement.get("Action")))


def _principal_entry_matches(raw_entry: Any, principal: Principal) -> bool:
    entry = str(raw_entry)
    if entry == "*":
        return True
    if re.fullmatch(r"\d{12}", entry):
        return entry == principal.account_id
    root = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):root", entry)
    if root:
        # An account principal delegates to the whole account (any user/role in it).
        return root.group(1) == principal.account_id
    return entry in principal.arns


def _principal_block_matches(block: Any, principal: Principal) -> bool:
    if block == "*":
        return True
    if not isinstance(block, Mapping):
        return False
    # Only "AWS" principals can be our callers; Service/Federated/CanonicalUser never match.
    return any(_principal_entry_matches(e, principal) for e in as_list(block.get("AWS")))


def principal_matches(statement: Statement, principal: Principal | None) -> bool:
    """Identity policies have no Principal element: they always apply (principal=None)."""
    if principal is None:
        return True
    if "NotPrincipal" in statement:
        return not _principal_block_matches(statement["NotPrincipal"], principal)
    return _principal_block_matches(statement.get("Principal"), principal)


_STRING_OPERATORS = {
    # base operator -> (negated, wildcard, ignore_case)
    "StringEquals": (False, False, False),
    "StringNotEquals": (True, False, False),
    "StringEqualsIgnoreCase": (False, False, True),
    "StringNotEqualsIgnoreCase": (True, False, True),
    "StringLike": (False, True, False),
    "StringNotLike": (True, True, False),
}


def _condition_block_holds(
    operator: str, key: str, expected: Any, context: Mapping[str, str | None]
) -> bool | None:
    """True/False, or None when we cannot evaluate this operator/key."""
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if base not in _STRING_OPERATORS or key.lower() not in context:
        return None
    negated, wildcard, ignore_case = _STRING_OPERATORS[base]
    actual = context[key.lower()]
    if actual is None:
        # IAM: a missing key fails positive operators and satisfies negated ones.
        return if_exists or negated
    if wildcard:
        hit = any(wildcard_match(v, actual, ignore_case=False) for v in as_list(expected))
    elif ignore_case:
        hit = any(str(v).lower() == actual.lower() for v in as_list(expected))
    else:
        hit = any(str(v) == actual for v in as_list(expected))
    return not hit if negated else hit


def conditions_hold(statement: Statement, context: Mapping[str, str | None], unknown: bool) -> bool:
    """All condition blocks must hold (AND); ``context`` keys are lower-case."""
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, Mapping):
        return unknown
    for operator, checks in conditions.items():
        if not isinstance(checks, Mapping):
            return unknown
        for key, expected in checks.items():
            result = _condition_block_holds(str(operator), str(key), expected, context)
            if result is None:
                result = unknown
            if not result:
                return False
    return True


def evaluate(
    statements: Iterable[Statement],
    action: str,
    *,
    context: Mapping[str, str | None],
    principal: Principal | None = None,
    unknown_conditions: UnknownConditionPolicy = FAIL_CLOSED,
) -> Decision:
    allowed = False
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            continue
        if not (action_matches(statement, action) and principal_matches(statement, principal)):
            continue
        unknown = unknown_conditions.deny if effect == "Deny" else unknown_conditions.allow
        if not conditions_hold(statement, context, unknown):
            continue
        if effect == "Deny":
            return Decision.EXPLICIT_DENY  # an explicit Deny always wins
        allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
