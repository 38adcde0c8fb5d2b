"""Self-service pages for customers (/app/): their AWS accounts, connecting one
by role, switching a legacy account to a role.

Every view goes through `tenant_member_required`: signed in, not staff, and
working in one tenant of the person's memberships. Objects are looked up
within that tenant only, so another tenant's ID is a 404, never data. Views
parse a form, call one audited service and report in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from portal.zones import format_when, organisation_zone
from portal.throttle import ThrottleResult, throttle_hit
from scheduling.overview import accounts_overview
from scheduling.savings import savings_report
from tenants import aws
from tenants.aws import LEGACY_PAUSED
from tenants.decorators import SESSION_TENANT_KEY, safe_next, tenant_member_required
from portal.untrusted import parse_id
from tenants.forms import AccountSettingsForm, ConnectRoleForm, SwitchToRoleForm, UserSettingsForm, add_service_errors
from tenants.migration import Outcome, account_migrate_to_role
from tenants.models import CloudAccount, CloudCredential, Tenant, UserSettings
from tenants.permissions import ADMINISTER
from tenants.onboarding import (
    cloudformation_template,
    permission_policy,
    policy_json,
    quick_create_url,
    terraform_module,
    TERRAFORM_STEPS,
    trust_policy,
)
from tenants.services import account_connect_role, account_update, user_settings_save
from tenants.services import account_disconnect as account_disconnect_service
from tenants.sunset import paused_message
from tenants.verification import VerifyResult, account_verify

TEMPLATE_FILENAME = "parkway-role.yaml"
# Terraform reads every .tf file of a directory; main.tf is the name a one-file module goes by.
TERRAFORM_FILENAME = "main.tf"



# --------------------------------------------------------------------------- access


def verify_throttle(request: HttpRequest) -> ThrottleResult:
    """Every connection test costs an AssumeRole in the customer's account: a few a minute per person."""
    return throttle_hit(scope="verify", key=request.user.pk, limit=settings.PARKWAY_VERIFY_PER_MINUTE)


def own_account_or_404(request: HttpRequest, account_pk: int) -> CloudAccount:
    return get_object_or_404(
        CloudAccount.objects.filter(tenant=request.tenant).connected().select_related("tenant").with_auth_kind(),
        pk=account_pk,
    )


# --------------------------------------------------------------------------- tenant choice


@tenant_member_required(needs_tenant=False)
def choose_tenant(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        wanted = parse_id(request.POST.get("tenant"))
        tenant: Tenant | None = next((t for t in request.tenants if t.pk == wanted), None)
        if tenant is None:
            raise Http404("No such organisation among yours.")
        request.session[SESSION_TENANT_KEY] = tenant.pk
        messages.success(request, f"You are now working in {tenant.name}.")
        return HttpResponseRedirect(safe_next(request, reverse("tenants:overview")))
    return render(request, "selfservice/choose_tenant.html", {"next": safe_next(request, "")})


# --------------------------------------------------------------------------- overview


@tenant_member_required
def overview(request: HttpRequest) -> HttpResponse:
    every = accounts_overview(tenant=request.tenant)
    overviews = [o for o in every if o.account.disconnected_at is None]
    disconnected = [o.account for o in every if o.account.disconnected_at is not None]
    legacy = [o.account for o in overviews if o.account.auth_kind == CloudCredential.Kind.LEGACY_USER]
    return render(
        request,
        "selfservice/overview.html",
        {
            "overviews": overviews,
            "accounts": [o.account for o in overviews],
            "legacy_accounts": legacy,
            "deadline": settings.PARKWAY_LEGACY_DEADLINE,
            "disconnected": disconnected,
            "savings": savings_report(tenant=request.tenant),
        },
    )


# --------------------------------------------------------------------------- connect by role


def role_setup_context(tenant: Tenant) -> dict[str, Any]:
    """What a customer needs to create our role; shared by the connect and account pages."""
    return {
        "our_account_id": settings.PARKWAY_AWS_ACCOUNT_ID,
        "external_id": tenant.external_id,
        "role_name": settings.PARKWAY_ROLE_NAME,
        "partition": settings.PARKWAY_AWS_PARTITION,
        "quick_create_url": quick_create_url(tenant),
        "trust_policy": policy_json(trust_policy(tenant)),
        "permission_policy": policy_json(permission_policy()),
        "template_filename": TEMPLATE_FILENAME,
        "terraform_filename": TERRAFORM_FILENAME,
        "terraform_steps": TERRAFORM_STEPS,
    }


def report_verification(request: HttpRequest, account: CloudAccount, result: VerifyResult) -> None:
    if result.code == LEGACY_PAUSED:
        messages.warning(request, result.message)
    elif not result.ok:
        # The same words whether the account is unreachable or another
        # organisation's: AWS refuses both alike, and so do we.
        forgotten = account.unverified_expires_at
        messages.error(
            request,
            f"Parkway could not work in account {account.account_id}: {result.message} "
            "When it is fixed in AWS, press “Test again”."
            + (f" Until a test passes, the account is not connected; Parkway forgets this registration on "
               f"{format_when(forgotten)}." if forgotten else ""),
        )
    elif account.auth_kind == CloudCredential.Kind.LEGACY_USER:
        messages.warning(request, result.message)
    else:
        messages.success(request, result.message)
    if result.ok:
        from scheduling.inventory import account_refresh_and_preview

        try:
            messages.info(request, account_refresh_and_preview(account=account))
        except aws.AwsError as exc:
            messages.warning(request, f"The machines could not be listed yet ({exc.message}); the next tick lists them.")


def register_and_test(request: HttpRequest, form: ConnectRoleForm) -> HttpResponse | None:
    """Register the account by role and test it at once; None when the service refused (errors on `form`)."""
    data = form.cleaned_data
    account = (
        CloudAccount.objects.filter(tenant=request.tenant, account_id=data["account_id"]).connected().with_auth_kind().first()
    )
    if account is not None:
        # Typically a second try after a failed first test: the account is
        # already theirs, so test it again rather than answer "already connected".
        messages.info(request, f"Account {account.account_id} was already registered here, so Parkway tested it again.")
    else:
        reconnecting = CloudAccount.objects.filter(
            tenant=request.tenant, account_id=data["account_id"], disconnected_at__isnull=False
        ).exists()
        try:
            account = account_connect_role(
                tenant=request.tenant,
                account_id=data["account_id"],
                role_arn=data["role_arn"] or None,
                name=data["name"],
                regions=data["regions"],
                actor=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return None
        account.auth_kind = CloudCredential.Kind.ROLE
        if reconnecting:
            messages.info(
                request,
                f"Account {account.account_id} is connected again: its machines keep their schedules and snoozes.",
            )
    report_verification(request, account, account_verify(account=account, actor=request.user))
    return redirect("tenants:account", account_pk=account.pk)


@tenant_member_required(capability=ADMINISTER)
def connect(request: HttpRequest) -> HttpResponse:
    """Step 1 on the page (create the role); steps 2 and 3 in one POST: register, then test."""
    status = 200
    if request.method != "POST":
        # "Connect again" from the overview names the account; the form checks it like any input.
        form = ConnectRoleForm(initial={"account_id": request.GET.get("account_id", "")[:20]})
    else:
        form = ConnectRoleForm(request.POST)
        status = 400
        if form.is_valid():
            throttle = verify_throttle(request)
            if not throttle.allowed:
                messages.error(request, throttle.message)
                status = 429
            elif (done := register_and_test(request, form)) is not None:
                return done
    context = {"form": form, **role_setup_context(request.tenant)}
    return render(request, "selfservice/connect.html", context, status=status)


def attachment(body: str, *, filename: str, content_type: str) -> HttpResponse:
    """A text file the browser saves under `filename`."""
    return HttpResponse(body, content_type=content_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@tenant_member_required
@require_safe
def template_download(request: HttpRequest) -> HttpResponse:
    return attachment(
        cloudformation_template(request.tenant), filename=TEMPLATE_FILENAME, content_type="application/x-yaml; charset=utf-8"
    )


@tenant_member_required
@require_safe
def terraform_download(request: HttpRequest) -> HttpResponse:
    """The same role as a one-file Terraform module; like the template, any member may read it."""
    return attachment(terraform_module(request.tenant), filename=TERRAFORM_FILENAME, content_type="text/plain; charset=utf-8")


# --------------------------------------------------------------------------- one account


@dataclass(frozen=True)
class CredentialRow:
    """What the page may show of a credential: never a secret, never a whole key ID."""

    kind: str
    label: str
    role_arn: str
    masked_key_id: str
    created_at: Any
    verified_at: Any
    retired_at: Any

    @classmethod
    def of(cls, credential: CloudCredential) -> CredentialRow:
        return cls(
            kind=credential.kind,
            label=credential.get_kind_display(),
            role_arn=credential.role_arn,
            masked_key_id=credential.masked_key_id,
            created_at=credential.created_at,
            verified_at=credential.verified_at,
            retired_at=credential.retired_at,
        )


def render_account(
    request: HttpRequest,
    account: CloudAccount,
    *,
    settings_form: AccountSettingsForm | None = None,
    switch_form: SwitchToRoleForm | None = None,
    switch_failed: bool = False,
    status: int = 200,
) -> HttpResponse:
    credentials = [CredentialRow.of(c) for c in account.credentials.order_by("-created_at", "-pk")]
    active = next((c for c in credentials if c.retired_at is None), None)
    is_legacy = account.auth_kind == CloudCredential.Kind.LEGACY_USER
    context = {
        "account": account,
        "active": active,
        "is_legacy": is_legacy,
        "retired_legacy": [c for c in credentials if c.retired_at and c.kind == CloudCredential.Kind.LEGACY_USER],
        "history": credentials,
        "deadline": settings.PARKWAY_LEGACY_DEADLINE,
        "paused_message": paused_message() if account.paused_by_legacy_deadline else "",
        "conventional_role_arn": account.conventional_role_arn,
        "health": account.health,
        # The switch form shows why the switch failed: the status says where, not the same words again.
        "switch_failed": switch_failed,
        "settings_form": settings_form or AccountSettingsForm(initial={"name": account.name, "regions": account.regions}),
        "switch_form": switch_form or SwitchToRoleForm(account_id=account.account_id),
        **role_setup_context(request.tenant),
    }
    return render(request, "selfservice/account.html", context, status=status)


@tenant_member_required
def account_detail(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The account's facts; POST saves its name and regions."""
    account = own_account_or_404(request, account_pk)
    if request.method != "POST":
        return render_account(request, account)
    form = AccountSettingsForm(request.POST)
    if form.is_valid():
        initial = {"name": account.name, "regions": list(account.regions)}
        account.name, account.regions = form.cleaned_data["name"].strip(), form.cleaned_data["regions"]
        changed = [field for field, before in initial.items() if getattr(account, field) != before]
        try:
            account_update(account=account, changed=changed, initial=initial, actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Saved." if changed else "Nothing to save: no change.")
            return redirect("tenants:account", account_pk=account.pk)
        account.name, account.regions = initial["name"], initial["regions"]
    return render_account(request, account, settings_form=form, status=400)


@tenant_member_required(capability=ADMINISTER)
def account_test(request: HttpRequest, account_pk: int) -> HttpResponse:
    account = own_account_or_404(request, account_pk)
    if request.method == "POST":
        throttle = verify_throttle(request)
        if not throttle.allowed:
            messages.error(request, throttle.message)
        else:
            report_verification(request, account, account_verify(account=account, actor=request.user))
    return redirect("tenants:account", account_pk=account.pk)


@tenant_member_required(capability=ADMINISTER)
def account_switch(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The guided switch from legacy keys: the role is verified before anything changes."""
    account = own_account_or_404(request, account_pk)
    if request.method != "POST":
        return redirect(reverse("tenants:account", kwargs={"account_pk": account.pk}) + "#switch")
    form = SwitchToRoleForm(request.POST, account_id=account.account_id)
    if not form.is_valid():
        return render_account(request, account, switch_form=form, status=400)
    throttle = verify_throttle(request)
    if not throttle.allowed:
        form.add_error(None, throttle.message)
        return render_account(request, account, switch_form=form, status=429)
    result = account_migrate_to_role(account=account, role_arn=form.cleaned_data["role_arn"] or None, actor=request.user)
    if result.outcome is Outcome.MIGRATED:
        messages.success(
            request,
            f"Switched: Parkway now reaches account {account.account_id} through the IAM role {result.role_arn}, "
            "and has destroyed its copy of the old secret key. Your schedules and settings are unchanged.",
        )
        if result.next_steps:
            messages.warning(request, f"One step is left, and only you can do it: {result.next_steps}")
    elif result.outcome is Outcome.ALREADY_ON_ROLE:
        messages.info(request, result.message)
    else:
        # Shown once, under the ARN they typed (kept in the form), not as a message as well.
        form.add_error(
            "role_arn",
            f"The switch did not happen: {result.reason or result.message} "
            "Check the role in AWS (step 1 above), then switch again.",
        )
        return render_account(request, account, switch_form=form, switch_failed=True, status=400)
    return redirect("tenants:account", account_pk=account.pk)


@login_required
def user_settings(request: HttpRequest) -> HttpResponse:
    """A person's own preferences: the zone every time is shown in (customers and staff)."""
    current = UserSettings.objects.filter(user=request.user).values_list("timezone", flat=True).first() or ""
    default_zone = organisation_zone(request).key
    form = UserSettingsForm(request.POST or None, initial={"timezone": current}, default_zone=default_zone)
    if request.method == "POST" and form.is_valid():
        try:
            user_settings_save(user=request.user, timezone=form.cleaned_data["timezone"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            zone = form.cleaned_data["timezone"] or default_zone
            messages.success(request, f"Saved: times are shown in {zone}.")
            return HttpResponseRedirect(safe_next(request, reverse("tenants:settings")))
    status = 400 if form.errors else 200
    base = "admin/base_site.html" if request.user.is_staff else "selfservice/base.html"
    return render(request, "selfservice/user_settings.html", {"form": form, "base": base}, status=status)


@tenant_member_required(capability=ADMINISTER)
def account_disconnect(request: HttpRequest, account_pk: int) -> HttpResponse:
    """A confirmation page saying what stops; disconnecting keeps the configuration for a reconnection."""
    account = own_account_or_404(request, account_pk)
    if request.method == "POST":
        account_disconnect_service(account=account, actor=request.user)
        messages.success(
            request,
            f"Account {account} is disconnected: Parkway no longer parks its machines or calls AWS in it. "
            "Connect the same account again to bring back its machines' schedules and snoozes.",
        )
        return redirect("tenants:overview")
    from scheduling.models import Override  # scheduling builds on tenants, not the reverse

    machines = account.resources.filter(gone_at__isnull=True)
    context = {
        "account": account,
        "machines": machines.count(),
        "scheduled": machines.exclude(schedule__isnull=True, schedule_tag="").count(),
        "snoozed": machines.filter(overrides__in=Override.objects.active(at=timezone.now())).distinct().count(),
    }
    return render(request, "selfservice/account_disconnect.html", context)
