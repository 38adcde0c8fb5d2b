"""Self-service forms for machines and schedules: parse what people type.

Period rules are the engine's (`Period.clean` compiles the period), so a form
shows the same message, on the same field, as the admin and the import.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.utils import timezone

from portal.forms import RefuseTooLongText
from portal.untrusted import parse_id
from portal.zones import timezone_choices
from scheduling.activity import RUN_OUTCOMES, ActivityFilters
from scheduling.models import Override, Period, Resource, Schedule
from tenants.models import CloudAccount

# The states EC2 reports, in the order people think of them.
INSTANCE_STATES = ("running", "pending", "stopping", "stopped", "shutting-down", "terminated")
SNOOZE_HOURS = ((1, "1 hour"), (2, "2 hours"), (4, "4 hours"), (8, "8 hours"), (24, "24 hours"))
MAX_PERIODS = 20


def schedule_groups(schedules: list[Schedule]) -> list[tuple[str, list[tuple[str, str]]]]:
    own = [(str(s.pk), s.name) for s in schedules if s.tenant_id is not None]
    shared = [(str(s.pk), s.name) for s in schedules if s.tenant_id is None]
    groups = []
    if own:
        groups.append(("Your schedules", own))
    if shared:
        groups.append(("Global templates", shared))
    return groups


class ResourceFilterForm(forms.Form):
    """GET filters of the resources page; every field optional."""

    q = forms.CharField(
        label="Search", required=False, max_length=200,
        help_text="Name, instance ID, database or group name, or a tag as key=value.",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "web-1, i-0abc…, team=data"}),
    )
    account = forms.ChoiceField(required=False)
    region = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *Resource.Kind.choices])
    state = forms.ChoiceField(required=False, choices=[("", "Any state")] + [(s, s) for s in INSTANCE_STATES])
    schedule = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, accounts: list[CloudAccount], schedules: list[Schedule], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [("", "All accounts")] + [(str(a.pk), str(a)) for a in accounts]
        regions = sorted({region for a in accounts for region in a.regions})
        self.fields["region"].choices = [("", "All regions")] + [(r, r) for r in regions]
        self.fields["schedule"].choices = [
            ("", "Any schedule"),
            ("tag", "From its schedule tag"),
            ("none", "Not scheduled"),
            *schedule_groups(schedules),
        ]


BULK_ACTIONS = (
    ("stop", "Park now (stop)"),
    ("start", "Start now"),
    ("assign", "Assign schedule"),
    ("snooze", "Keep running for"),
)


class BulkActionForm(forms.Form):
    """What to do with the machines selected on the resources page (confirmed on a second page)."""

    action = forms.ChoiceField(label="With the selected machines", choices=BULK_ACTIONS)
    schedule = forms.ChoiceField(label="Schedule", required=False)
    hours = forms.TypedChoiceField(label="Hours", choices=SNOOZE_HOURS, coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, schedules: list[Schedule], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "bulk_%s")  # beside the filters' fields on one page
        super().__init__(*args, **kwargs)
        self.schedules = {str(s.pk): s for s in schedules}
        self.fields["schedule"].choices = [("", "Its Schedule tag"), *schedule_groups(schedules)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "snooze" and data.get("hours") is None and "hours" not in self.errors:
            self.add_error("hours", "Choose for how many hours.")
        data["schedule"] = self.schedules.get(data.get("schedule") or "")
        return data


class ActivityFilterForm(forms.Form):
    """GET filters of the activity page; every field optional.

    The account choices are the tenant's own accounts, so another tenant's
    account id is an invalid choice (a form error), never a filter."""

    account = forms.ChoiceField(required=False)
    outcome = forms.ChoiceField(
        required=False,
        label="Run outcome",
        choices=[("", "Any outcome")] + [(status.value, status.label) for status in RUN_OUTCOMES],
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, accounts: list[CloudAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {account.pk: account for account in accounts}
        self.fields["account"].choices = [("", "All accounts")] + [(str(a.pk), str(a)) for a in accounts]

    def clean_account(self) -> CloudAccount | None:
        value = self.cleaned_data["account"]
        return self.accounts.get(parse_id(value)) if value else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The “From” day is after the “To” day.", code="reversed_range")
        return cleaned

    def filters(self) -> ActivityFilters:
        """What the valid form asks for (call after is_valid())."""
        data = self.cleaned_data
        return ActivityFilters(account=data["account"], outcome=data["outcome"], since=data["since"], until=data["until"])


class AssignScheduleForm(forms.Form):
    schedule = forms.ChoiceField(
        label="Schedule",
        required=False,
        help_text="“Use the tag” follows the machine's Schedule tag, as AWS Instance Scheduler does.",
    )

    def __init__(self, *args: Any, schedules: list[Schedule], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schedules = {str(s.pk): s for s in schedules}
        self.fields["schedule"].choices = [("", "Use the tag")] + schedule_groups(schedules)

    def clean_schedule(self) -> Schedule | None:
        value = self.cleaned_data["schedule"]
        return self.schedules[value] if value else None


class SnoozeForm(RefuseTooLongText, forms.Form):
    """Keep a machine running or stopped for some hours, or until a time in `zone` (the viewer's)."""

    # Read as a sentence on the page: "Keep [running] until […]".
    state = forms.ChoiceField(
        label="Keep", choices=[(value, value) for value in Override.State.values], initial=Override.State.RUNNING
    )
    hours = forms.TypedChoiceField(
        label="For", choices=[("", "—")] + list(SNOOZE_HOURS), coerce=int, empty_value=None, required=False
    )
    until = forms.DateTimeField(
        label="Until",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(label="Reason (optional)", required=False, max_length=300)

    def __init__(self, *args: Any, zone: zoneinfo.ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["until"].help_text = f"Time in {zone.key}."

    def clean_until(self) -> dt.datetime | None:
        value = self.cleaned_data["until"]
        if value is None:
            return None
        # DateTimeField read the typed wall-clock time in the active zone; the
        # person meant the zone the page names (theirs: portal/zones.py).
        wall = timezone.localtime(value).replace(tzinfo=None)
        return wall.replace(tzinfo=self.zone)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        hours, until = data.get("hours"), data.get("until")
        if "until" in self.errors or "hours" in self.errors:
            return data
        if hours is None and until is None:
            raise forms.ValidationError("Choose for how long, or until when.", code="no_end")
        if hours is not None and until is not None:
            raise forms.ValidationError("Choose either a number of hours or an end time, not both.", code="two_ends")
        return data

    def end(self, *, now: dt.datetime) -> dt.datetime:
        data = self.cleaned_data
        return data["until"] if data.get("until") else now + dt.timedelta(hours=data["hours"])


class ScheduleForm(RefuseTooLongText, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    timezone = forms.ChoiceField(label="Time zone", initial="UTC")
    override_status = forms.ChoiceField(
        label="Override", required=False, choices=Schedule.Override.choices,
        help_text="Ignore the periods and keep machines always running or always stopped.",
    )
    enforced = forms.BooleanField(required=False, help_text=Schedule._meta.get_field("enforced").help_text)
    retain_running = forms.BooleanField(required=False, help_text=Schedule._meta.get_field("retain_running").help_text)
    stop_new_instances = forms.BooleanField(
        required=False, initial=True, help_text=Schedule._meta.get_field("stop_new_instances").help_text
    )
    asg_mode = forms.ChoiceField(
        label="Auto Scaling groups", choices=Schedule.AsgMode.choices, initial=Schedule.AsgMode.SCALE, required=False,
        help_text=Schedule._meta.get_field("asg_mode").help_text,
    )

    def __init__(self, *args: Any, tagged: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()
        if tagged:
            # Assigned machines follow a renamed schedule; tags name it by its old name.
            self.fields["name"].help_text = (
                f"{tagged} machine{'s' if tagged != 1 else ''} name{'s' if tagged == 1 else ''} this schedule in "
                "a Schedule tag: if you rename it, change those tags too."
            )

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()


class PeriodForm(RefuseTooLongText, forms.Form):
    begintime = forms.TimeField(label="Begin", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    endtime = forms.TimeField(label="End", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    weekdays = forms.CharField(label="Weekdays", required=False, max_length=200, help_text="e.g. mon-fri")
    monthdays = forms.CharField(label="Days of month", required=False, max_length=200, help_text="e.g. 1-15, L")
    months = forms.CharField(label="Months", required=False, max_length=200, help_text="e.g. jan-mar")

    @property
    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(name) for name in ("begintime", "endtime", "weekdays", "monthdays", "months"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or self.is_blank:
            return data
        period = Period(
            begintime=data.get("begintime"),
            endtime=data.get("endtime"),
            weekdays=data.get("weekdays") or "",
            monthdays=data.get("monthdays") or "",
            months=data.get("months") or "",
        )
        period.clean()  # the engine's verdict, put on the field it is about
        return data

    def to_spec(self) -> dict[str, str | None]:
        data = self.cleaned_data
        return {
            "begintime": data["begintime"].strftime("%H:%M") if data.get("begintime") else None,
            "endtime": data["endtime"].strftime("%H:%M") if data.get("endtime") else None,
            "weekdays": data.get("weekdays") or None,
            "monthdays": data.get("monthdays") or None,
            "months": data.get("months") or None,
        }


class BasePeriodFormSet(forms.BaseFormSet):
    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"


PeriodFormSet = forms.formset_factory(
    PeriodForm, formset=BasePeriodFormSet, extra=1, can_delete=True,
    max_num=MAX_PERIODS, validate_max=True, absolute_max=MAX_PERIODS,
)


def schedule_spec(form: ScheduleForm, periods: forms.BaseFormSet) -> dict[str, Any]:
    """The spec `schedule_save` reads; blank and removed period rows are left out."""
    data = form.cleaned_data
    return {
        "name": data["name"],
        "description": data.get("description") or "",
        "timezone": data["timezone"],
        "enforced": data["enforced"],
        "retain_running": data["retain_running"],
        "stop_new_instances": data["stop_new_instances"],
        "override_status": data.get("override_status") or None,
        "asg_mode": data.get("asg_mode") or Schedule.AsgMode.SCALE,
        "periods": [
            p.to_spec() for p in periods.forms
            if p.cleaned_data and not p.cleaned_data.get("DELETE") and not p.is_blank
        ],
    }


def schedule_initial(schedule: Schedule) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    spec = schedule.to_spec()
    periods = [{k: v or "" for k, v in p.items()} for p in spec.pop("periods")]
    spec["override_status"] = spec["override_status"] or ""
    return spec, periods
