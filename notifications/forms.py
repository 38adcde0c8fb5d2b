from __future__ import annotations

from django import forms

from notifications.models import SELECTABLE_EVENTS, Channel
from portal.forms import RefuseTooLongText

EVENT_CHOICES = [(e.value, e.label) for e in SELECTABLE_EVENTS]


class ChannelCreateForm(RefuseTooLongText, forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=Channel.Kind.choices)
    name = forms.CharField(label="Name", max_length=100)
    target = forms.CharField(
        label="Where to",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        help_text="Email: addresses, one per line. Slack, Teams, webhook: the https:// URL (stored encrypted, never shown again).",
    )
    events = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        initial=[e.value for e in SELECTABLE_EVENTS],
    )


class ChannelEditForm(RefuseTooLongText, forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    events = forms.MultipleChoiceField(label="Events", choices=EVENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple)
    enabled = forms.BooleanField(label="Enabled", required=False)
