"""Admin for customer-success staff: find a tenant, see who is still on legacy
keys, test connections, migrate accounts to roles and ask customers to.
Actions call services; secrets are never shown."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.admin import AccessLogAdmin as AxesAccessLogAdmin
from axes.models import AccessAttempt, AccessLog
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from portal.zones import format_when
from portal.admin_helpers import ParkwayModelAdmin, ReadOnlyAdmin
from tenants import members, services
from tenants.aws import LEGACY_PAUSED
from tenants.emails import tenant_email_migration_instructions
from tenants.forms import REGIONS_HELP, RegionsField
from tenants.migration import MigrationResult, Outcome, accounts_migrate_to_role
from tenants.models import AuditEvent, CloudAccount, CloudCredential, Membership, Tenant
from tenants.sunset import paused_message
from tenants.signin import signin_unlock
from tenants.validation import parkway_account_message, validate_customer_account_id, validate_role_arn_for_account
from tenants.verification import account_verify


def counted(count: int, noun: str) -> str:
    """ "1 account", "2 accounts" (admin messages are English only)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def legacy_badge() -> str:
    return format_html('<span class="pw-badge pw-badge-legacy" title="{}">legacy keys</span>', "IAM user access keys: migrate to a role")


def auth_method_html(kind: str | None) -> str:
    if kind == CloudCredential.Kind.LEGACY_USER:
        return legacy_badge()
    if kind == CloudCredential.Kind.ROLE:
        return mark_safe('<span class="pw-badge pw-badge-role">IAM role</span>')
    return mark_safe('<span class="pw-badge">none</span>')


class MembershipFormSet(forms.BaseInlineFormSet):
    """The admin's team edits keep the self-service rule: a tenant that has an
    admin keeps one (the services check it again under the team's lock)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        for form in self.forms:
            if form.instance.pk and "user" in form.changed_data:
                raise ValidationError("A membership's person cannot be changed: remove it and add the other person.")
        had_admin = Membership.objects.filter(tenant=self.instance, role=Membership.Role.ADMIN).exists()
        remaining = [
            f.cleaned_data.get("role") for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and (f.instance.pk or f.has_changed())
        ]
        if had_admin and Membership.Role.ADMIN not in remaining:
            raise ValidationError(
                "This would leave the tenant without an admin: make someone else an admin first, so that somebody "
                "can still manage members and accounts."
            )


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    raw_id_fields = ("user",)


class AccountInline(admin.TabularInline):
    model = CloudAccount
    extra = 0
    fields = ("account_id", "name", "status", "last_verified_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(ParkwayModelAdmin):
    list_display = ("name", "slug", "account_count", "legacy_count", "created_at")
    search_fields = ("name", "slug", "contact_emails", "accounts__account_id")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("external_id", "created_at")
    fields = ("name", "slug", "contact_emails", "timezone", "price_factor", "inventory_minutes", "external_id", "created_at")
    inlines = (AccountInline, MembershipInline)
    actions = ("rotate_external_id", "email_migration_instructions")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # Through the same services as the self-service team page: audited,
        # serialized per tenant, and the last admin kept.
        add, roles = [], []
        for member_form in formset.forms:
            data = member_form.cleaned_data
            if not data or data.get("DELETE"):
                continue
            if member_form.instance.pk is None:
                if member_form.has_changed():
                    add.append((data["user"], data["role"]))
            elif "role" in member_form.changed_data:
                roles.append((member_form.instance, data["role"]))
        remove = [f.instance for f in formset.deleted_forms if f.instance.pk is not None]
        # What the admin's change message (history) reads from a saved formset.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            formset.new_objects = members.team_update(
                tenant=form.instance, add=add, roles=roles, remove=remove, actor=request.user
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        formset.changed_objects = [(membership, ["role"]) for membership, _ in roles]
        formset.deleted_objects = remove

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        legacy = Q(accounts__credentials__retired_at__isnull=True, accounts__credentials__kind=CloudCredential.Kind.LEGACY_USER)
        return (
            super()
            .get_queryset(request)
            .annotate(n_accounts=Count("accounts", distinct=True), n_legacy=Count("accounts", filter=legacy, distinct=True))
        )

    @admin.display(description="accounts", ordering="n_accounts")
    def account_count(self, obj: Tenant) -> int:
        return obj.n_accounts

    @admin.display(description="on legacy keys", ordering="n_legacy")
    def legacy_count(self, obj: Tenant) -> str:
        return format_html("{} {}", obj.n_legacy, legacy_badge()) if obj.n_legacy else "0"

    @admin.action(description="Rotate External ID…", permissions=["change"])
    def rotate_external_id(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if request.POST.get("confirm") == "yes":
            for tenant in queryset:
                services.tenant_rotate_external_id(tenant=tenant, actor=request.user)
            self.message_user(
                request,
                f"Rotated the External ID of {queryset.count()} tenant(s). Their roles' trust policies must now be "
                "updated with the new External ID, or Parkway can no longer reach their accounts.",
                messages.WARNING,
            )
            return None
        return TemplateResponse(
            request,
            "admin/tenants/tenant/rotate_external_id.html",
            {
                **self.admin_site.each_context(request),
                "title": "Rotate External ID",
                "tenants": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Email migration instructions", permissions=["change"])
    def email_migration_instructions(self, request: HttpRequest, queryset: QuerySet) -> None:
        send_migration_instructions(self, request, {tenant: None for tenant in queryset})


def send_migration_instructions(
    model_admin: admin.ModelAdmin, request: HttpRequest, selection: dict[Tenant, list[CloudAccount] | None]
) -> None:
    """One message per tenant; tenants without contacts or legacy accounts are reported, not skipped silently."""
    sent = 0
    for tenant, accounts in selection.items():
        outcome = tenant_email_migration_instructions(tenant=tenant, accounts=accounts, actor=request.user)
        sent += outcome.sent
        if outcome.sent:
            level = messages.SUCCESS
        elif outcome.accounts:  # legacy accounts, but nobody to tell
            level = messages.ERROR
        else:
            level = messages.INFO
        model_admin.message_user(request, outcome.message, level)
    model_admin.message_user(request, f"Migration instructions sent to {sent} of {len(selection)} tenant(s).")


class AuthMethodFilter(admin.SimpleListFilter):
    title = "auth method"
    parameter_name = "auth"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("role", "IAM role"), ("legacy", "Legacy keys"), ("none", "No credential")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "role":
            return queryset.on_role()
        if self.value() == "legacy":
            return queryset.on_legacy_keys()
        if self.value() == "none":
            return queryset.exclude(credentials__retired_at__isnull=True)
        return queryset


class ClaimFilter(admin.SimpleListFilter):
    title = "verification"
    parameter_name = "claimed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Claimed (control proven)"), ("no", "Not verified yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(claimed_at__isnull=self.value() == "no")
        return queryset


class CloudAccountForm(forms.ModelForm):
    regions = RegionsField(help_text=REGIONS_HELP)
    role_arn = forms.CharField(
        label="Role ARN",
        required=False,
        help_text="Leave empty for the conventional role our CloudFormation template creates.",
    )

    class Meta:
        model = CloudAccount
        fields = ("tenant", "account_id", "name", "regions")

    def clean_account_id(self) -> str:
        account_id = self.cleaned_data["account_id"]
        validate_customer_account_id(account_id, staff=True)
        return account_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        account_id, tenant = data.get("account_id"), data.get("tenant")
        # The partition is not a form field, so the model's unique checks skip it.
        same_id = CloudAccount.objects.filter(partition=settings.PARKWAY_AWS_PARTITION, account_id=account_id)
        if account_id and tenant and same_id.filter(tenant=tenant).exists():
            self.add_error("account_id", f"This AWS account is already registered for {tenant}.")
        elif account_id and (owner := same_id.claimed().exclude(tenant=tenant).select_related("tenant").first()):
            # Staff see every tenant: say whose it is, rather than register a
            # registration that can never be claimed.
            self.add_error("account_id", f"This AWS account is already connected to Parkway by the tenant {owner.tenant}.")
        if account_id and data.get("role_arn"):
            try:
                validate_role_arn_for_account(data["role_arn"], account_id=account_id)
            except ValidationError as exc:
                self.add_error("role_arn", exc)
        return data


class CloudAccountChangeForm(forms.ModelForm):
    regions = RegionsField(help_text=REGIONS_HELP)

    class Meta:
        model = CloudAccount
        fields = ("name", "regions", "status")


class CredentialInline(admin.TabularInline):
    model = CloudCredential
    extra = 0
    fields = ("kind_badge", "role_arn", "masked_key_id", "created_at", "verified_at", "retired_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="kind")
    def kind_badge(self, obj: CloudCredential) -> str:
        return auth_method_html(obj.kind)

    @admin.display(description="access key ID")
    def masked_key_id(self, obj: CloudCredential) -> str:
        return obj.masked_key_id


@admin.register(CloudAccount)
class CloudAccountAdmin(ParkwayModelAdmin):
    list_display = ("account_id", "name", "tenant", "auth_method", "status_column", "last_verified_at", "short_error")
    list_filter = (AuthMethodFilter, ClaimFilter, "status", "partition")
    list_select_related = ("tenant",)
    search_fields = ("account_id", "name", "tenant__name", "tenant__slug")
    readonly_fields = (
        "tenant", "account_id", "partition", "parking_state", "claimed_at", "last_verified_at", "last_error",
        "kind_access_display", "last_parking_run", "created_at",
    )
    inlines = (CredentialInline,)
    actions = ("test_connection", "migrate_to_role", "email_migration_instructions")
    list_per_page = 100
    # A request verifies every selected role; larger batches belong to `manage.py migrate_to_roles`.
    max_migration_batch = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).with_auth_kind()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = CloudAccountChangeForm if obj else CloudAccountForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("tenant", "account_id", "name", "regions", "role_arn")
        return (
            "tenant", "account_id", "partition", "name", "regions", "status", "parking_state", "claimed_at",
            "last_verified_at", "last_error", "kind_access_display", "last_parking_run", "created_at",
        )

    @admin.display(description="what the role allows")
    def kind_access_display(self, obj: CloudAccount) -> str:
        return obj.kind_access_text or "not tested since RDS and Auto Scaling were added"

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: CloudAccount) -> str:
        if obj.is_parkway_account:
            return format_html('{} <span class="pw-badge pw-badge-legacy">Parkway\'s own account: never parked</span>', obj.status_label)
        if obj.paused_by_legacy_deadline or obj.disconnected_at is not None:
            return format_html('<span class="pw-badge pw-badge-legacy">{}</span>', obj.status_label)
        if obj.claimed_at is None:
            return format_html("{} <span class=\"pw-badge\">not verified</span>", obj.status_label)
        return obj.status_label

    @admin.display(description="parking")
    def parking_state(self, obj: CloudAccount) -> str:
        if obj.disconnected_at is not None:
            return format_html(
                "Disconnected by the customer on {}: not parked, no AWS calls. Its machines, schedules, snoozes "
                "and history are kept; connecting the same account again restores them.",
                format_when(obj.disconnected_at),
            )
        if obj.is_parkway_account:
            return format_html(
                "<strong>never parked</strong> — {} Disable or delete this registration.",
                parkway_account_message(obj.account_id, staff=True),
            )
        if obj.paused_by_legacy_deadline:
            return format_html("<strong>{}</strong> — {}", obj.status_label, paused_message())
        if obj.claimed_at is None:
            return format_html(
                "not verified yet: not parked, and forgotten on {} unless a test passes "
                "(select the account, action “Test connection”)",
                format_when(obj.unverified_expires_at),
            )
        if obj.status == CloudAccount.Status.DISABLED:
            return "disabled"
        return "active"

    @admin.display(description="last parking run")
    def last_parking_run(self, obj: CloudAccount) -> str:
        lease = getattr(obj, "parking_lease", None)  # no row until its first tick
        last_tick = ""
        if lease is not None and lease.last_tick_at is not None:
            # Idle ticks write no run: the last tick itself is kept on the account's lease row.
            last_tick = format_html(
                "Last tick {}: {}{}<br>", format_when(lease.last_tick_at), lease.last_status,
                format_html(" — {}", lease.last_error) if lease.last_error else "",
            )
        run = obj.parking_runs.order_by("-started_at", "-pk").first()
        if run is None:
            return format_html("{}{}", last_tick, "no run with actions yet")
        url = reverse("admin:scheduling_parkingrun_change", args=[run.pk])
        calls = ", ".join(f"{op} {n}" for op, n in sorted(run.aws_calls.items())) or "no AWS calls"
        return format_html(
            '{}Last run with actions or errors: <a href="{}">{} — {}</a>: {} planned, {} done, {} failed, {} skipped ({}){}',
            last_tick, url, format_when(run.started_at), run.get_status_display(), run.planned, run.succeeded, run.failed, run.skipped, calls,
            format_html("<br>{}", run.error) if run.error else "",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj else ()

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj else ()

    def save_model(self, request: HttpRequest, obj: CloudAccount, form: Any, change: bool) -> None:
        if change:
            services.account_update(
                account=obj, changed=form.changed_data, initial=form.initial, actor=request.user
            )
            return
        # New accounts connect through the service, by role only: staff cannot
        # add IAM-user keys here (the sunset rule). Staff follow the customers'
        # rule too: the account is claimed only once its role is assumed with the
        # tenant's External ID ("Test connection"), never on someone's word.
        created = services.account_connect_role(
            tenant=obj.tenant,
            account_id=obj.account_id,
            role_arn=form.cleaned_data.get("role_arn") or None,
            name=obj.name,
            regions=obj.regions,
            actor=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False
        self.message_user(
            request,
            f"Account {created.account_id} is registered for {created.tenant}, not yet connected: run “Test connection” "
            f"once the customer's role exists. Unless a test passes within {settings.PARKWAY_UNVERIFIED_ACCOUNT_HOURS} "
            "hours, the registration is forgotten.",
            messages.WARNING,
        )

    @admin.display(description="auth method", ordering="auth_kind")
    def auth_method(self, obj: CloudAccount) -> str:
        return auth_method_html(obj.auth_kind)

    @admin.display(description="last error")
    def short_error(self, obj: CloudAccount) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for account in queryset.select_related("tenant"):
            result = account_verify(account=account, actor=request.user)
            if result.code == LEGACY_PAUSED:
                level = messages.WARNING
            elif not result.ok:
                level = messages.ERROR
            elif account.auth_kind == CloudCredential.Kind.LEGACY_USER:
                level = messages.WARNING
            else:
                level = messages.SUCCESS
            self.message_user(request, f"{account.tenant} / {account.account_id}: {result.for_staff}", level)

    @admin.action(description="Migrate to IAM role…", permissions=["change"])
    def migrate_to_role(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Confirmation page (pre-check of each proposed role, ARN editable per account),
        then the switch and one message per account."""
        accounts = list(queryset.select_related("tenant").order_by("tenant__name", "account_id"))
        if len(accounts) > self.max_migration_batch:
            self.message_user(
                request,
                f"{len(accounts)} accounts selected: migrate at most {self.max_migration_batch} here, "
                "or use `manage.py migrate_to_roles` for bulk runs.",
                messages.ERROR,
            )
            return None
        role_arns = {a.pk: request.POST.get(f"role_arn_{a.pk}", "").strip() or a.conventional_role_arn for a in accounts}
        if request.POST.get("confirm") == "yes":
            results = accounts_migrate_to_role(accounts=accounts, role_arns=role_arns, actor=request.user)
            self._report_migrations(request, results)
            return None
        checks = {r.account.pk: r for r in accounts_migrate_to_role(accounts=accounts, role_arns=role_arns, actor=request.user, dry_run=True)}
        rows = [
            {"account": a, "auth_method": auth_method_html(a.auth_kind), "role_arn": role_arns[a.pk], "check": checks[a.pk]}
            for a in accounts
        ]
        # Only the accounts it will migrate are counted and offered; the others
        # are named apart, with why they are skipped.
        to_migrate = [r for r in rows if r["check"].outcome is not Outcome.ALREADY_ON_ROLE]
        skipped = [r for r in rows if r["check"].outcome is Outcome.ALREADY_ON_ROLE]
        ready = sum(1 for r in to_migrate if r["check"].outcome is Outcome.READY)
        return TemplateResponse(
            request,
            "admin/tenants/cloudaccount/migrate_to_role.html",
            {
                **self.admin_site.each_context(request),
                "title": "Migrate to IAM role",
                "rows": to_migrate,
                "skipped": skipped,
                "selected": accounts,
                "ready": ready,
                "migrate_label": f"Migrate {counted(len(to_migrate), 'account')}",
                "precheck_summary": f"{ready} of {counted(len(to_migrate), 'account')} passed the pre-check.",
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _report_migrations(self, request: HttpRequest, results: list[MigrationResult]) -> None:
        levels = {Outcome.MIGRATED: messages.SUCCESS, Outcome.ALREADY_ON_ROLE: messages.INFO, Outcome.FAILED: messages.ERROR}
        results = sorted(results, key=lambda r: (r.account.tenant.name, r.account.account_id))
        for result in results:
            account = result.account
            text = result.for_staff
            if result.outcome is Outcome.ALREADY_ON_ROLE:
                text = f"skipped: {text}"
            self.message_user(request, f"{account.tenant} / {account.account_id}: {text}", levels.get(result.outcome, messages.WARNING))
        migrated = sum(r.outcome is Outcome.MIGRATED for r in results)
        failed = sum(r.outcome is Outcome.FAILED for r in results)
        skipped = sum(r.outcome is Outcome.ALREADY_ON_ROLE for r in results)
        summary = f"{counted(migrated, 'account')} migrated, {failed} failed"
        if skipped:
            summary += f", {skipped} skipped (already on a role)"
        if migrated:
            summary += ". Ask each migrated customer to delete the IAM user's access key Parkway used (named above)"
        self.message_user(request, summary + ".", messages.ERROR if failed else messages.SUCCESS)

    @admin.action(description="Email migration instructions", permissions=["change"])
    def email_migration_instructions(self, request: HttpRequest, queryset: QuerySet) -> None:
        selection: dict[Tenant, list[CloudAccount] | None] = {}
        for account in queryset.select_related("tenant").order_by("tenant__name", "account_id"):
            selection.setdefault(account.tenant, []).append(account)
        send_migration_instructions(self, request, selection)


@admin.register(CloudCredential)
class CloudCredentialAdmin(ReadOnlyAdmin):
    list_display = ("account", "tenant", "kind_badge", "role_arn", "masked_key_id", "created_at", "verified_at", "retired_at")
    list_filter = ("kind", ("retired_at", admin.EmptyFieldListFilter))
    list_select_related = ("account__tenant",)
    search_fields = ("account__account_id", "account__tenant__name", "role_arn")
    # The secret is never a field here, not even read-only.
    fields = ("account", "kind", "role_arn", "masked_key_id", "created_at", "verified_at", "retired_at")
    readonly_fields = fields

    @admin.display(description="tenant", ordering="account__tenant__name")
    def tenant(self, obj: CloudCredential) -> Tenant:
        return obj.account.tenant

    @admin.display(description="kind", ordering="kind")
    def kind_badge(self, obj: CloudCredential) -> str:
        return auth_method_html(obj.kind)

    @admin.display(description="access key ID")
    def masked_key_id(self, obj: CloudCredential) -> str:
        return obj.masked_key_id


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "tenant", "account")
    list_filter = ("action",)
    list_select_related = ("tenant", "account")
    search_fields = ("action", "actor_label", "tenant__name", "account__account_id")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "actor", "actor_label", "tenant", "account", "action", "details")
    raw_id_fields = ("actor", "tenant", "account")


# --- Sign-in lockouts (django-axes) -----------------------------------------------


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Failed sign-ins by username and address; "Unlock" forgets them (audited),
    which lifts the lockout they cause. Deleting does the same."""

    actions = ("unlock",)

    @admin.action(description="Unlock (forget these failed sign-ins)", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = signin_unlock(attempts=queryset, actor=request.user)
        self.message_user(request, f"Unlocked: {count} record(s) of failed sign-ins forgotten.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        signin_unlock(attempts=AccessAttempt.objects.filter(pk=obj.pk), actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        signin_unlock(attempts=queryset, actor=request.user)


@admin.register(AccessLog)
class AccessLogAdmin(AxesAccessLogAdmin):
    """Successful sign-ins (who, from where, when they signed out): read-only."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
