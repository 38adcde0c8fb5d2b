"""Self-service forms for AWS accounts: parse and check what people type.

The rules themselves live in `tenants.validation` (shared with the admin and
the services); the services check again, so a form only gives earlier, field
by field, the messages a service would give.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from portal.forms import RefuseTooLongText
from portal.zones import timezone_choices
from tenants.validation import validate_customer_account_id, validate_regions, validate_role_arn_for_account

REGIONS_HELP = "Comma-separated EC2 regions, for example us-east-1, eu-west-1."


class RegionsField(forms.CharField):
    """Regions typed as "us-east-1, eu-west-1", checked against botocore's list for our partition."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, (list, tuple)) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return [r.strip() for r in (value or "").replace("\n", ",").split(",") if r.strip()]

    def clean(self, value: Any) -> list[str]:
        value = super().clean(value)
        return validate_regions(value, partition=settings.PARKWAY_AWS_PARTITION)


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on a field when the form has it, above the form otherwise."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class ConnectRoleForm(RefuseTooLongText, forms.Form):
    account_id = forms.CharField(
        label="AWS account ID",
        max_length=20,
        help_text="12 digits: the account where you created the role.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "placeholder": "123456789012"}),
    )
    role_arn = forms.CharField(
        label="Role ARN (optional)",
        required=False,
        max_length=2048,
        help_text="Leave empty if you used our template: Parkway uses the role it creates.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    name = forms.CharField(
        label="Name (optional)",
        required=False,
        max_length=200,
        help_text="How this account appears in Parkway, for example “Production”.",
    )
    regions = RegionsField(label="Regions", initial="us-east-1", help_text=REGIONS_HELP)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_name = settings.PARKWAY_ROLE_NAME
        self.fields["role_arn"].widget.attrs["placeholder"] = (
            f"arn:{settings.PARKWAY_AWS_PARTITION}:iam::<account ID>:role/{role_name}"
        )
        self.fields["role_arn"].widget.attrs["data-role-name"] = role_name
        self.fields["role_arn"].widget.attrs["data-partition"] = settings.PARKWAY_AWS_PARTITION

    def clean_account_id(self) -> str:
        # People paste "1111-2222-3333" from the console's account menu.
        value = self.cleaned_data["account_id"].strip().replace("-", "").replace(" ", "")
        validate_customer_account_id(value)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        account_id, role_arn = data.get("account_id"), (data.get("role_arn") or "").strip()
        if account_id and role_arn:
            try:
                validate_role_arn_for_account(role_arn, account_id=account_id)
            except ValidationError as exc:
                self.add_error("role_arn", exc)
        data["role_arn"] = role_arn
        return data


class AccountSettingsForm(RefuseTooLongText, forms.Form):
    name = forms.CharField(label="Name", required=False, max_length=200)
    regions = RegionsField(label="Regions", help_text=REGIONS_HELP)


class SwitchToRoleForm(RefuseTooLongText, forms.Form):
    role_arn = forms.CharField(
        label="Role ARN (optional)",
        required=False,
        max_length=2048,
        help_text="Leave empty if you used our template.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, account_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id

    def clean_role_arn(self) -> str:
        role_arn = self.cleaned_data["role_arn"].strip()
        if role_arn:
            validate_role_arn_for_account(role_arn, account_id=self.account_id)
        return role_arn


class UserSettingsForm(forms.Form):
    timezone = forms.ChoiceField(label="Show times in", required=False)

    def __init__(self, *args: Any, default_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [("", f"My organisation's zone ({default_zone})"), *timezone_choices()]
