"""PARKWAY_STAFF_2FA: staff reach the admin only with a TOTP code; customers are not affected."""

from __future__ import annotations

import io

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db

IP = "203.0.113.9"


@pytest.fixture
def two_factor(settings):
    settings.PARKWAY_STAFF_2FA = True


def enrol(username: str = "staff") -> TOTPDevice:
    out = io.StringIO()
    call_command("staff_totp_enrol", username, stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    return TOTPDevice.objects.get(user__username=username)


def code_for(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def admin_login(client, password: str = "pw", token: str = ""):
    return client.post(
        reverse("admin:login") + "?next=/admin/",
        {"username": "staff", "password": password, "otp_token": token, "next": "/admin/"},
        REMOTE_ADDR=IP,
    )


def test_with_the_flag_a_staff_session_without_a_code_is_refused_the_admin(two_factor, client, staff):
    client.force_login(staff)  # signed in by password alone (e.g. on the customers' sign-in page)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    page = client.get(reverse("admin:login")).content.decode()
    assert 'name="otp_token"' in page


def test_with_a_correct_code_staff_get_in(two_factor, client, staff):
    device = enrol()
    response = admin_login(client, token=code_for(device))
    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_wrong_or_missing_code_is_refused_and_counts_toward_the_lockout(two_factor, client, staff):
    device = enrol()
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    assert admin_login(client, token=wrong).status_code == 200
    assert admin_login(client, token="").status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
    assert AccessAttempt.objects.get(username="staff").failures_since_start == 2


def test_without_the_flag_nothing_changes(client, staff):
    page = client.get(reverse("admin:login")).content.decode()
    assert 'name="otp_token"' not in page
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 200


def test_customers_sign_in_as_before_with_the_flag_on(two_factor, client, acme_member):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"}, REMOTE_ADDR=IP)
    assert response.status_code == 302
    assert client.get(reverse("tenants:overview")).status_code == 200


def test_enrolment_is_for_staff_once_unless_replaced_and_audited(staff, acme_member):
    first = enrol()
    with pytest.raises(CommandError, match="already has an authenticator"):
        call_command("staff_totp_enrol", "staff", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No active staff user"):
        call_command("staff_totp_enrol", "alice", stdout=io.StringIO())
    call_command("staff_totp_enrol", "staff", "--replace", stdout=io.StringIO())
    (device,) = TOTPDevice.objects.filter(user=staff)
    assert device.pk != first.pk and device.confirmed
    events = AuditEvent.objects.filter(action="staff.totp_enrolled").order_by("pk")
    assert [e.details["replaced"] for e in events] == [0, 1]
    assert device.key not in str([e.details for e in events])


def test_the_admin_never_shows_a_device_key(two_factor, client, staff):
    device = enrol()
    admin_login(client, token=code_for(device))
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert device.key not in page
