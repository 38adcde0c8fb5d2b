"""Self-service pages of notification channels: tenant admins only. Lookups
are scoped to the current tenant (another tenant's channel is a 404); views
parse a form, call one audited service (notifications/services.py) and report."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from notifications import services
from notifications.forms import ChannelCreateForm, ChannelEditForm
from notifications.models import Channel
from tenants.decorators import tenant_member_required
from tenants.forms import add_service_errors
from tenants.permissions import ADMINISTER

SECRET_SESSION_KEY = "notifications_new_secret"
DELIVERIES_SHOWN = 50


def own_channel_or_404(request: HttpRequest, channel_pk: int) -> Channel:
    return get_object_or_404(Channel.objects.filter(tenant=request.tenant).select_related("tenant"), pk=channel_pk)


@tenant_member_required(capability=ADMINISTER)
def channels(request: HttpRequest) -> HttpResponse:
    form = ChannelCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            channel, secret = services.channel_create(
                tenant=request.tenant, kind=data["kind"], name=data["name"], target=data["target"],
                events=data["events"], actor=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if secret:
                # Shown once, on the next page, then forgotten.
                request.session[SECRET_SESSION_KEY] = {"channel": channel.pk, "secret": secret}
            messages.success(request, f"Channel {channel.name} added.")
            return redirect("notifications:channel", channel_pk=channel.pk)
    context = {"channels": Channel.objects.filter(tenant=request.tenant), "form": form}
    return render(request, "selfservice/notifications/channels.html", context, status=400 if form.errors else 200)


@tenant_member_required(capability=ADMINISTER)
def channel(request: HttpRequest, channel_pk: int) -> HttpResponse:
    channel = own_channel_or_404(request, channel_pk)
    initial = {"name": channel.name, "events": channel.events, "enabled": channel.enabled}
    form = ChannelEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.channel_update(
                channel=channel, name=data["name"], events=data["events"], enabled=data["enabled"], actor=request.user
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Channel {channel.name} saved.")
            return redirect("notifications:channel", channel_pk=channel.pk)
    shown = request.session.get(SECRET_SESSION_KEY) or {}
    secret = ""
    if shown.get("channel") == channel.pk:
        secret = shown["secret"]
        del request.session[SECRET_SESSION_KEY]
    context = {
        "channel": channel, "form": form, "secret": secret,
        "deliveries": channel.deliveries.all()[:DELIVERIES_SHOWN],
    }
    return render(request, "selfservice/notifications/channel.html", context, status=400 if form.errors else 200)


@tenant_member_required(capability=ADMINISTER)
def channel_test(request: HttpRequest, channel_pk: int) -> HttpResponse:
    channel = own_channel_or_404(request, channel_pk)
    if request.method == "POST":
        services.channel_send_test(channel=channel, actor=request.user)
        messages.success(request, "A test message is on its way: its result appears in the delivery log below.")
    return redirect("notifications:channel", channel_pk=channel.pk)


@tenant_member_required(capability=ADMINISTER)
def channel_delete(request: HttpRequest, channel_pk: int) -> HttpResponse:
    channel = own_channel_or_404(request, channel_pk)
    if request.method == "POST":
        services.channel_delete(channel=channel, actor=request.user)
        messages.success(request, f"Channel {channel.name} deleted.")
        return redirect("notifications:channels")
    return render(request, "selfservice/notifications/channel_delete.html", {"channel": channel})
