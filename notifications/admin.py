"""Staff manage channels of any tenant here; saves go through the services
(audited). Targets and secrets are write-only: a hint is shown instead."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from notifications import services
from notifications.forms import EVENT_CHOICES
from notifications.models import Channel, CredentialNotice, Delivery, StopWarning
from portal.admin_helpers import ReadOnlyAdmin


class ChannelAdminForm(forms.ModelForm):
    new_target = forms.CharField(
        label="Where to", required=False, widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        help_text="Email addresses (one per line) or the https:// URL. Stored encrypted, never shown; leave empty to keep.",
    )
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Channel
        fields = ["tenant", "kind", "name", "events", "enabled"]

    def clean(self) -> dict:
        data = super().clean()
        if self.instance.pk is None and not data.get("new_target"):
            self.add_error("new_target", "Required for a new channel.")
        elif data.get("new_target"):
            try:
                services.target_clean(data.get("kind") or self.instance.kind, data["new_target"])
            except ValidationError as exc:
                self.add_error("new_target", exc.messages)
        return data


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["created_at", "event", "status", "status_code", "attempts", "error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = ["name", "tenant", "kind", "target_hint", "enabled", "disabled_reason", "consecutive_failures"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["tenant"]
    search_fields = ["name", "tenant__name", "tenant__slug"]
    raw_id_fields = ["tenant"]
    readonly_fields = ["target_hint", "disabled_reason", "consecutive_failures", "created_at"]
    inlines = [DeliveryInline]
    actions = ["send_test"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["tenant", "kind"] if obj is not None else [])

    def save_model(self, request, obj: Channel, form: ChannelAdminForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            # The form already wrote its values onto `obj`: the service compares with the stored row.
            services.channel_update(
                channel=Channel.objects.select_related("tenant").get(pk=obj.pk), name=data["name"], events=data["events"], enabled=data["enabled"],
                target=data.get("new_target") or None, actor=request.user,
            )
            return
        channel, secret = services.channel_create(
            tenant=data["tenant"], kind=data["kind"], name=data["name"], target=data["new_target"],
            events=data["events"], actor=request.user,
        )
        obj.pk = channel.pk
        if secret:
            messages.warning(request, f"Signing secret of {channel.name}, shown once: {secret}")

    def delete_model(self, request, obj: Channel) -> None:
        services.channel_delete(channel=obj, actor=request.user)

    @admin.action(description="Send a test message")
    def send_test(self, request, queryset) -> None:
        for channel in queryset.select_related("tenant"):
            services.channel_send_test(channel=channel, actor=request.user)
        self.message_user(request, f"{queryset.count()} test message(s) queued: see each channel's deliveries.")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel", "event", "status", "status_code", "attempts", "error"]
    list_filter = ["status", "event"]
    list_select_related = ["channel__tenant"]
    raw_id_fields = ["channel"]
    readonly_fields = ["channel", "event", "message", "status", "attempts", "status_code", "error",
                       "created_at", "last_attempt_at", "next_attempt_at", "lease_until"]
    search_fields = ["channel__name", "channel__tenant__slug"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(StopWarning)
class StopWarningAdmin(ReadOnlyAdmin):
    """Pre-stop warnings sent (one per machine and stop) and whether their link was used."""

    list_display = ["stop_at", "tenant", "resource", "zone", "created_at", "used_at", "snooze"]
    list_filter = [("used_at", admin.EmptyFieldListFilter)]
    list_select_related = ["tenant", "resource", "snooze"]
    search_fields = ["tenant__slug", "resource__resource_id", "resource__name"]
    # The nonce is the link's secret half: never shown.
    fields = ["tenant", "resource", "stop_at", "zone", "created_at", "used_at", "snooze"]
    date_hierarchy = "stop_at"


@admin.register(CredentialNotice)
class CredentialNoticeAdmin(ReadOnlyAdmin):
    """Credential problems told to a tenant (deleted when the connection works again)."""

    list_display = ["created_at", "account", "topic", "key", "message"]
    list_filter = ["topic"]
    list_select_related = ["account__tenant"]
    search_fields = ["account__account_id", "account__tenant__slug"]
