from __future__ import annotations

from django import forms

from portal.forms import RefuseTooLongText

EXPIRY_CHOICES = (("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year"))


class TokenForm(RefuseTooLongText, forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What will use it, e.g. “ci-bot”: the audit log names it.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires_in = forms.TypedChoiceField(
        label="Expires", choices=EXPIRY_CHOICES, coerce=int, required=False, empty_value=None,
    )
