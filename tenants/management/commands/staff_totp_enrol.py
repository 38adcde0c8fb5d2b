"""Enrol a staff member's authenticator app for the admin's two-factor sign-in
(portal.staff_2fa; required when PARKWAY_STAFF_2FA is on). Prints the otpauth://
URI once: it holds the secret, so hand it to its owner only."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.staff_2fa import AlreadyEnrolled, StaffNotFound, staff_totp_enrol


class Command(BaseCommand):
    help = "Create a TOTP device for a staff user and print its otpauth:// URI (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--replace", action="store_true", help="Replace the user's existing authenticator.")

    def handle(self, *args: Any, username: str, replace: bool, **options: Any) -> None:
        try:
            device = staff_totp_enrol(username=username, actor="cli", replace=replace)
        except (StaffNotFound, AlreadyEnrolled) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Authenticator for {username}: add this URI to the app (or: qrencode -t ansiutf8 'URI').")
        self.stdout.write(device.config_url)
        self.stdout.write("It is shown once and holds the secret: give it to its owner only.")
