"""Two-factor sign-in for staff (django-otp, TOTP), required when PARKWAY_STAFF_2FA is on.

With the flag on, the admin (portal.admin_site) asks staff for the six-digit
code of their authenticator app beside their password, and refuses a staff
session that has not passed one, whoever signed it in. A wrong or missing code
is a failed sign-in for the lockout (django-axes) like a wrong password.
Customers' sign-in is untouched.

Staff enrol from the command line, where only operators are:
`manage.py staff_totp_enrol USERNAME` creates the device and prints its
otpauth:// URI once (paste it into an authenticator app, or turn it into a QR
code with `qrencode -t ansiutf8`). The admin never shows a device's key.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.audit import Actor, audit_record

DEVICE_NAME = "authenticator app"


def staff_2fa_required() -> bool:
    return bool(getattr(settings, "PARKWAY_STAFF_2FA", False))


class StaffOTPAuthenticationForm(OTPAdminAuthenticationForm):
    """The admin's sign-in form with the code field; a refused code counts as a failed sign-in."""

    def _chosen_device(self, user: object) -> object:
        # django-otp wants the device picked from a list that appears only after a first
        # try; staff have one authenticator (staff_totp_enrol), so it is the one.
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = devices[0]
        return device

    def clean_otp(self, user: object) -> None:
        try:
            super().clean_otp(user)
        except ValidationError:
            # axes counts failures from this signal: the password was right, the code was not.
            user_login_failed.send(
                sender=__name__, credentials={"username": self.cleaned_data.get("username")}, request=self.request
            )
            raise


class StaffNotFound(Exception):
    pass


class AlreadyEnrolled(Exception):
    pass


@transaction.atomic
def staff_totp_enrol(*, username: str, actor: Actor, replace: bool = False) -> TOTPDevice:
    """A confirmed TOTP device for staff member `username`; its otpauth URI is `device.config_url`.

    Refused (AlreadyEnrolled) when they have one, unless `replace`: a lost phone
    then stops working the moment the new device exists."""
    # A NUL byte is no username, and PostgreSQL refuses it in a query with an error.
    user = None if "\x00" in username else (
        get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
    )
    if user is None:
        raise StaffNotFound(f"No active staff user {username!r}.")
    existing = TOTPDevice.objects.filter(user=user)
    if existing.exists() and not replace:
        raise AlreadyEnrolled(f"{username} already has an authenticator: use --replace to replace it.")
    replaced, _ = existing.delete()
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    audit_record(action="staff.totp_enrolled", actor=actor, details={"username": username, "replaced": replaced})
    return device


__all__ = ["AlreadyEnrolled", "StaffNotFound", "StaffOTPAuthenticationForm", "staff_2fa_required", "staff_totp_enrol"]
