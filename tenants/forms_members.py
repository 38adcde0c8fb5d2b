"""Forms of the members page and of the invitation link (see tenants/members.py)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm

from tenants.members import EMAIL_MAX_LENGTH
from tenants.models import Invitation, Membership

ROLE_HELP = "Viewer: sees everything, changes nothing. Operator: also schedules, snoozes, park/start now. Admin: also accounts and members."


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=EMAIL_MAX_LENGTH,
        error_messages={"max_length": f"An address of at most {EMAIL_MAX_LENGTH} characters, please."},
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial=Membership.Role.VIEWER, help_text=ROLE_HELP)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)

    def __init__(self, *args: object, membership: Membership, **kwargs: object) -> None:
        # One form per member on a page: the prefix keeps their element ids apart.
        super().__init__(*args, prefix=f"member-{membership.pk}", initial={"role": membership.role}, **kwargs)


class AcceptWithPasswordForm(SetPasswordForm):
    """Django's password rules, checked against the login the invitation would create."""

    def __init__(self, invitation: Invitation, *args: object, **kwargs: object) -> None:
        user = get_user_model()(username=invitation.email, email=invitation.email)
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].label = "Choose a password"
        self.fields["new_password2"].label = "The same password again"
