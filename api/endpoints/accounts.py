"""Accounts: list, read, connect by role, test, switch from legacy keys to a
role, rename / change regions, disconnect; and what a customer needs to create
our role. The same forms and services as tenants.views.

No answer holds a secret: legacy keys appear as `auth: "legacy_user"`, never
as a key ID. The External ID is returned to the tenant's members, as the
self-service pages show it to them (it is not a secret from its own tenant).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Router, Schema, Status

from api.auth import principal_of
from api.endpoints.common import ERRORS, ID, checked
from api.errors import ApiError
from portal.throttle import throttle_hit
from scheduling.overview import AccountOverview, accounts_overview
from tenants import aws
from tenants.forms import AccountSettingsForm, ConnectRoleForm, SwitchToRoleForm
from tenants.migration import Outcome, account_migrate_to_role
from tenants.models import CloudAccount, CloudCredential
from tenants.onboarding import permission_policy, quick_create_url, trust_policy
from tenants.permissions import ADMINISTER
from tenants.services import account_connect_role, account_disconnect, account_update
from tenants.verification import VerifyResult, account_verify

router = Router(tags=["accounts"])


class ProblemOut(Schema):
    what: str
    fix: str


class AccountOut(Schema):
    id: int
    account_id: str = Field(..., description="The 12-digit AWS account ID.")
    name: str
    partition: str
    regions: list[str]
    status: str = Field(..., description="pending | connected | error | disabled")
    auth: str | None = Field(..., description="role | legacy_user (IAM-user keys: switch to a role) | null")
    verified: bool = Field(..., description="A connection test has passed: Parkway works in this account.")
    unverified_expires_at: dt.datetime | None
    paused_by_legacy_deadline: bool
    last_verified_at: dt.datetime | None
    last_error: str
    created_at: dt.datetime
    machines: int
    scheduled: int
    states: dict[str, int]
    last_tick_at: dt.datetime | None
    last_tick_status: str
    problems: list[ProblemOut]


class CredentialOut(Schema):
    kind: str = Field(..., description="role | legacy_user")
    role_arn: str = Field(..., description="The role's ARN; empty for legacy keys (their key IDs are never returned).")
    created_at: dt.datetime
    verified_at: dt.datetime | None
    retired_at: dt.datetime | None


class AccountDetailOut(AccountOut):
    credentials: list[CredentialOut]


class ConnectIn(Schema):
    account_id: str = Field(..., max_length=20, description="12 digits; dashes and spaces are ignored.")
    role_arn: str = Field("", max_length=2048, description="Empty: the role our template creates.")
    name: str = Field("", max_length=200)
    regions: list[str] = Field(..., min_length=1, max_length=40)


class AccountUpdateIn(Schema):
    name: str | None = Field(None, max_length=200)
    regions: list[str] | None = Field(None, min_length=1, max_length=40)


class SwitchIn(Schema):
    role_arn: str = Field("", max_length=2048, description="Empty: the role our template creates.")


class ConnectionTestOut(Schema):
    ok: bool
    code: str
    message: str
    inventory: str = Field("", description="After a passing test: what the next tick will do with the machines found.")


class ConnectOut(Schema):
    account: AccountOut
    test: ConnectionTestOut


class SwitchOut(Schema):
    outcome: str = Field(..., description="migrated | already_on_role")
    message: str
    role_arn: str
    next_steps: str
    account: AccountOut


class RoleSetupOut(Schema):
    our_account_id: str
    external_id: str = Field(..., description="Your organisation's External ID, which your role's trust policy requires.")
    role_name: str
    partition: str
    quick_create_url: str
    trust_policy: dict
    permission_policy: dict


def account_json(overview: AccountOverview) -> dict:
    account = overview.account
    return {
        "id": account.pk, "account_id": account.account_id, "name": account.name, "partition": account.partition,
        "regions": list(account.regions), "status": account.status, "auth": getattr(account, "auth_kind", None),
        "verified": account.claimed_at is not None, "unverified_expires_at": account.unverified_expires_at,
        "paused_by_legacy_deadline": account.paused_by_legacy_deadline,
        "last_verified_at": account.last_verified_at, "last_error": account.last_error, "created_at": account.created_at,
        "machines": overview.machines, "scheduled": overview.scheduled, "states": dict(overview.states),
        "last_tick_at": overview.last_tick_at, "last_tick_status": overview.last_tick_status,
        "problems": [{"what": p.what, "fix": p.fix} for p in overview.problems],
    }


def _overview(request: HttpRequest, account_pk: int) -> AccountOverview:
    """One of the tenant's connected accounts, from the overview selector; 404 otherwise."""
    tenant = principal_of(request).tenant
    found = next(
        (o for o in accounts_overview(tenant=tenant) if o.account.pk == account_pk and o.account.disconnected_at is None),
        None,
    )
    if found is None:
        raise ApiError(404, "No such account.")
    return found


def own_account(request: HttpRequest, account_pk: int) -> CloudAccount:
    return get_object_or_404(
        CloudAccount.objects.filter(tenant=principal_of(request).tenant).connected().select_related("tenant").with_auth_kind(),
        pk=account_pk,
    )


def _verify_throttle(request: HttpRequest) -> None:
    """The pages' limit on connection tests (each costs an AssumeRole), per person, shared with them."""
    user = principal_of(request).user
    hit = throttle_hit(scope="verify", key=user.pk, limit=settings.PARKWAY_VERIFY_PER_MINUTE)
    if not hit.allowed:
        raise ApiError(429, hit.message, headers={"Retry-After": str(hit.retry_after)})


def _test(account: CloudAccount, request: HttpRequest) -> dict:
    result: VerifyResult = account_verify(account=account, actor=principal_of(request).user)
    inventory = ""
    if result.ok:
        from scheduling.inventory import account_refresh_and_preview

        try:
            inventory = account_refresh_and_preview(account=account)
        except aws.AwsError as exc:
            inventory = f"The machines could not be listed yet ({exc.message}); the next tick lists them."
    return {"ok": result.ok, "code": result.code, "message": result.message, "inventory": inventory}


@router.get("/accounts", response={200: list[AccountOut], **ERRORS}, summary="List the connected accounts")
def list_accounts(request: HttpRequest) -> list[dict]:
    overviews = accounts_overview(tenant=principal_of(request).tenant)
    return [account_json(o) for o in overviews if o.account.disconnected_at is None]


@router.get("/accounts/{account_pk}", response={200: AccountDetailOut, **ERRORS}, summary="Read an account")
def read_account(request: HttpRequest, account_pk: int = Path(..., **ID)) -> dict:
    overview = _overview(request, account_pk)
    credentials = overview.account.credentials.order_by("-created_at", "-pk")
    return account_json(overview) | {"credentials": [
        {"kind": c.kind, "role_arn": c.role_arn if c.kind == CloudCredential.Kind.ROLE else "",
         "created_at": c.created_at, "verified_at": c.verified_at, "retired_at": c.retired_at}
        for c in credentials
    ]}


@router.get("/connect", response={200: RoleSetupOut, **ERRORS}, summary="What your role needs (our account, your External ID)")
def role_setup(request: HttpRequest) -> dict:
    tenant = principal_of(request).tenant
    return {
        "our_account_id": settings.PARKWAY_AWS_ACCOUNT_ID, "external_id": tenant.external_id,
        "role_name": settings.PARKWAY_ROLE_NAME, "partition": settings.PARKWAY_AWS_PARTITION,
        "quick_create_url": quick_create_url(tenant), "trust_policy": trust_policy(tenant),
        "permission_policy": permission_policy(),
    }


@router.post("/accounts", response={201: ConnectOut, 200: ConnectOut, **ERRORS},
             summary="Connect an account by IAM role, then test it")
def connect_account(request: HttpRequest, payload: ConnectIn) -> Status:
    """Registers the account and tests the role at once, like the Connect page.
    An account already registered here is tested again (200), not refused."""
    principal = principal_of(request)
    principal.require(ADMINISTER)
    data = checked(ConnectRoleForm({**payload.dict(), "regions": ", ".join(payload.regions)}))
    _verify_throttle(request)
    account = (
        CloudAccount.objects.filter(tenant=principal.tenant, account_id=data["account_id"]).connected().with_auth_kind().first()
    )
    status = 200
    if account is None:
        account = account_connect_role(
            tenant=principal.tenant, account_id=data["account_id"], role_arn=data["role_arn"] or None,
            name=data["name"], regions=data["regions"], actor=principal.user,
        )
        status = 201
    test = _test(account, request)
    return Status(status, {"account": account_json(_overview(request, account.pk)), "test": test})


@router.patch("/accounts/{account_pk}", response={200: AccountOut, **ERRORS}, summary="Rename an account or change its regions")
def update_account(request: HttpRequest, payload: AccountUpdateIn, account_pk: int = Path(..., **ID)) -> dict:
    principal = principal_of(request)
    account = own_account(request, account_pk)
    principal.require(ADMINISTER)
    initial = {"name": account.name, "regions": list(account.regions)}
    wanted = {
        "name": initial["name"] if payload.name is None else payload.name,
        "regions": ", ".join(initial["regions"] if payload.regions is None else payload.regions),
    }
    data = checked(AccountSettingsForm(wanted))
    account.name, account.regions = data["name"].strip(), data["regions"]
    changed = [field for field, before in initial.items() if getattr(account, field) != before]
    account_update(account=account, changed=changed, initial=initial, actor=principal.user)
    return account_json(_overview(request, account.pk))


@router.post("/accounts/{account_pk}/test", response={200: ConnectionTestOut, **ERRORS}, summary="Test the connection")
def test_account(request: HttpRequest, account_pk: int = Path(..., **ID)) -> dict:
    account = own_account(request, account_pk)
    principal_of(request).require(ADMINISTER)
    _verify_throttle(request)
    return _test(account, request)


@router.post("/accounts/{account_pk}/switch", response={200: SwitchOut, **ERRORS},
             summary="Switch an account from IAM-user keys to a role")
def switch_account(request: HttpRequest, payload: SwitchIn, account_pk: int = Path(..., **ID)) -> dict:
    """The role is verified before anything changes; on success Parkway destroys
    its copy of the secret key. Refused (422, code `switch_failed`) otherwise."""
    principal = principal_of(request)
    account = own_account(request, account_pk)
    principal.require(ADMINISTER)
    data = checked(SwitchToRoleForm(payload.dict(), account_id=account.account_id))
    _verify_throttle(request)
    result = account_migrate_to_role(account=account, role_arn=data["role_arn"] or None, actor=principal.user)
    if result.outcome not in (Outcome.MIGRATED, Outcome.ALREADY_ON_ROLE):
        reason = result.reason or result.message
        raise ApiError(422, f"The switch did not happen: {reason}", code="switch_failed", fields={"role_arn": [reason]})
    return {"outcome": result.outcome.value, "message": result.message, "role_arn": result.role_arn,
            "next_steps": result.next_steps, "account": account_json(_overview(request, account.pk))}


@router.post("/accounts/{account_pk}/disconnect", response={200: AccountOut, **ERRORS}, summary="Disconnect an account")
def disconnect_account(request: HttpRequest, account_pk: int = Path(..., **ID)) -> dict:
    """Parkway stops working in the account; its machines keep their schedules
    and snoozes, and connecting it again brings them back."""
    principal = principal_of(request)
    account = own_account(request, account_pk)
    principal.require(ADMINISTER)
    account = account_disconnect(account=account, actor=principal.user)
    overview = next(o for o in accounts_overview(tenant=principal.tenant) if o.account.pk == account.pk)
    return account_json(overview)
