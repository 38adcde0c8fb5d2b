"""Schedules and their periods.

The evaluation lives in the pure module `scheduling.periods`; these models only
store a schedule and convert it to and from the spec JSON that module reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from portal.zones import format_when
from scheduling.periods import ScheduleError, compile_spec
from scheduling.periods.engine import CompiledSchedule
from tenants.models import Tenant

PERIOD_FIELDS = ("begintime", "endtime", "weekdays", "monthdays", "months")


def _time_text(value: dt.time | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%H:%M:%S") if value.second else value.strftime("%H:%M")


def _parse_time(value: object) -> dt.time | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.time):
        return value
    parts = str(value).split(":")
    return dt.time(*(int(p) for p in parts))


def schedule_error_as_validation_error(exc: ScheduleError, *, period_fields: bool = False) -> ValidationError:
    """Put a ScheduleError on the form field it is about."""
    leaf = exc.field.rsplit(".", 1)[-1]
    if period_fields and leaf in PERIOD_FIELDS:
        # On the field itself the engine's location ("periods[0].") would mislead.
        return ValidationError({leaf: f"{exc.token!r} {exc.reason}"})
    if period_fields and leaf.startswith("periods["):
        return ValidationError("Set at least one of begin time, end time, weekdays, monthdays or months.")
    if leaf == "timezone":
        return ValidationError({"timezone": str(exc)})
    if leaf == "override_status":
        return ValidationError({"override_status": str(exc)})
    return ValidationError(str(exc))


class Schedule(models.Model):
    class AsgMode(models.TextChoices):
        SCALE = "scale", "Scale to zero (sizes stored, restored exactly)"
        SUSPEND = "suspend", "Suspend processes and stop the instances"

    class Override(models.TextChoices):
        NONE = "", "None (follow the periods)"
        RUNNING = "running", "Always running"
        STOPPED = "stopped", "Always stopped"

    # Null tenant = a global template every tenant may use.
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone, e.g. Europe/Berlin.")
    enforced = models.BooleanField(default=False, help_text="Re-assert the desired state on every tick.")
    retain_running = models.BooleanField(
        default=False, help_text="Do not stop at the period's end a machine that was started by hand before it began."
    )
    stop_new_instances = models.BooleanField(default=True, help_text="Stop a machine first seen outside its period.")
    override_status = models.CharField(max_length=10, choices=Override.choices, blank=True, default="")
    # How its Auto Scaling groups are parked (scheduling.kinds): scaled to
    # 0/0/0 and restored to their stored sizes, or their processes suspended
    # and their instances stopped (disks kept, nothing replaced).
    asg_mode = models.CharField(
        "Auto Scaling groups", max_length=10, choices=AsgMode.choices, default=AsgMode.SCALE, blank=True,
        help_text="How groups following this schedule are parked.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="schedule_name_unique_per_tenant"),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(tenant__isnull=True),
                name="global_schedule_name_unique",
                violation_error_message="A global template with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name if self.tenant_id else f"{self.name} (global)"

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None

    def to_spec(self, periods: list[Period] | None = None) -> dict[str, Any]:
        """The JSON form `scheduling.periods` evaluates (uses prefetched periods)."""
        periods = list(self.periods.all()) if periods is None else periods
        return {
            "name": self.name,
            "description": self.description,
            "timezone": self.timezone,
            "enforced": self.enforced,
            "retain_running": self.retain_running,
            "stop_new_instances": self.stop_new_instances,
            "override_status": self.override_status or None,
            "periods": [p.to_spec() for p in periods],
        } | ({"asg_mode": self.asg_mode} if self.asg_mode == self.AsgMode.SUSPEND else {})

    def compiled(self) -> CompiledSchedule:
        return compile_spec(self.to_spec())

    @classmethod
    def from_spec(cls, spec: dict[str, Any], *, tenant: Tenant | None) -> tuple[Schedule, list[Period]]:
        """Unsaved rows from a spec (validated first: raises ScheduleError)."""
        compile_spec(spec)
        schedule = cls(
            tenant=tenant,
            name=spec["name"],
            description=spec.get("description") or "",
            timezone=spec.get("timezone") or "UTC",
            enforced=bool(spec.get("enforced", False)),
            retain_running=bool(spec.get("retain_running", False)),
            stop_new_instances=bool(spec.get("stop_new_instances", True)),
            override_status=(spec.get("override_status") or "").lower(),
            asg_mode=spec.get("asg_mode") or cls.AsgMode.SCALE,
        )
        periods = [Period.from_spec(p) for p in spec.get("periods") or []]
        return schedule, periods

    def clean(self) -> None:
        try:
            compile_spec({"timezone": self.timezone, "override_status": self.override_status or None, "periods": []})
        except ScheduleError as exc:
            raise schedule_error_as_validation_error(exc) from None


class Period(models.Model):
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="periods")
    begintime = models.TimeField(null=True, blank=True)
    endtime = models.TimeField(
        null=True, blank=True, help_text="Earlier than the begin time = an overnight window ending the next day."
    )
    weekdays = models.CharField(max_length=200, blank=True, help_text="e.g. mon-fri, sat#1, friL, 0-4")
    monthdays = models.CharField(max_length=200, blank=True, help_text="e.g. 1-15, L, 15W, 1/7")
    months = models.CharField(max_length=200, blank=True, help_text="e.g. jan-mar, oct-mar, 1/3")

    class Meta:
        ordering = ["schedule", "pk"]

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.to_spec().items() if v) or "(empty period)"

    def to_spec(self) -> dict[str, str | None]:
        return {
            "begintime": _time_text(self.begintime),
            "endtime": _time_text(self.endtime),
            "weekdays": self.weekdays or None,
            "monthdays": self.monthdays or None,
            "months": self.months or None,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Period:
        def text(key: str) -> str:
            value = spec.get(key)
            if isinstance(value, (list, tuple)):
                return ",".join(str(v) for v in value)
            return "" if value is None else str(value)

        return cls(
            begintime=_parse_time(spec.get("begintime")),
            endtime=_parse_time(spec.get("endtime")),
            weekdays=text("weekdays"),
            monthdays=text("monthdays"),
            months=text("months"),
        )

    def clean(self) -> None:
        """The engine's verdict on every field, not only the first it trips on:
        the engine stops at its first error, so each field is also checked alone."""
        spec = self.to_spec()
        try:
            compile_spec({"timezone": "UTC", "periods": [spec]})
        except ScheduleError as first:
            errors = schedule_error_as_validation_error(first, period_fields=True)
            if not hasattr(errors, "error_dict"):
                raise errors from None
            # The times are checked together too: an empty window (begin = end) is their error.
            parts = [("begintime", "endtime"), *((field,) for field in PERIOD_FIELDS)]
            for fields in parts:
                alone = {field: spec[field] for field in fields if spec[field] is not None}
                if not alone or any(field in errors.error_dict for field in fields):
                    continue
                try:
                    compile_spec({"timezone": "UTC", "periods": [alone]})
                except ScheduleError as exc:
                    errors = ValidationError(
                        errors.error_dict | schedule_error_as_validation_error(exc, period_fields=True).error_dict
                    )
            raise errors from None


# --- Inventory, overrides and parking records ---------------------------------


class Resource(models.Model):
    """A machine seen in a customer's account. Never deleted: a machine that
    disappears is marked gone, so its parking history stays readable."""

    class Kind(models.TextChoices):
        EC2_INSTANCE = "ec2_instance", "EC2 instance"
        RDS_INSTANCE = "rds_instance", "RDS database"
        RDS_CLUSTER = "rds_cluster", "RDS / Aurora cluster"
        AUTOSCALING_GROUP = "autoscaling_group", "Auto Scaling group"

    class Source(models.TextChoices):
        EXPLICIT = "explicit", "Set on the resource"
        TAG = "tag", "From its schedule tag"
        NONE = "none", "Not scheduled"

    account = models.ForeignKey("tenants.CloudAccount", on_delete=models.CASCADE, related_name="resources")
    region = models.CharField(max_length=32)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EC2_INSTANCE)
    # An instance ID, a DB instance or cluster identifier, or a group name (up to 255).
    resource_id = models.CharField("resource ID", max_length=255)
    name = models.CharField(max_length=256, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=20, blank=True)
    # EC2 instance type, or DB instance class (db.r6g.large).
    instance_type = models.CharField(max_length=32, blank=True)
    engine = models.CharField(max_length=64, blank=True, help_text="RDS engine (postgres, aurora-mysql…).")
    # Why Parkway never starts or stops it itself (a cluster member, a read
    # replica, an engine AWS cannot stop…), from the inventory; "" = parkable.
    refusal = models.CharField("cannot be parked", max_length=300, blank=True)
    # Auto Scaling groups: their sizes now, and the sizes Parkway stored when
    # it scaled the group to zero (also kept as a tag on the group).
    min_size = models.PositiveIntegerField(null=True, blank=True)
    desired_size = models.PositiveIntegerField(null=True, blank=True)
    max_size = models.PositiveIntegerField(null=True, blank=True)
    saved_sizes = models.JSONField(null=True, blank=True)
    # Kind-specific facts only shown, never filtered on (cluster, replica
    # source, Multi-AZ, group members, suspended processes, AWS's own status).
    details = models.JSONField(default=dict, blank=True)
    # When Parkway's stop of it succeeded (None once started): AWS starts a
    # database stopped for 7 days by itself, which is told apart from a person's start by it.
    parked_at = models.DateTimeField(null=True, blank=True)
    launch_time = models.DateTimeField(null=True, blank=True)
    asg_name = models.CharField("Auto Scaling group", max_length=255, blank=True)
    # Explicit assignment (admin, self-service) wins over the schedule tag.
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="resources"
    )
    schedule_tag = models.CharField(max_length=256, blank=True, help_text="Value of the schedule tag when last seen.")
    # What the planner last wanted ("" = never evaluated): transitions are
    # detected against it, so manual starts/stops between them are respected.
    desired_state = models.CharField(max_length=10, blank=True)
    # Running when its period began (someone started it early): with
    # retain_running, it is not stopped at the period's end.
    retained_running = models.BooleanField(default=False)
    # Per-machine backoff: consecutive failed start/stop attempts, the last
    # reason, and the instant before which the tick leaves the machine alone.
    # Reset when the attempt succeeds, its state or its assignment changes.
    failures = models.PositiveSmallIntegerField(default=0)
    last_failure = models.CharField(max_length=300, blank=True)
    retry_after = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account", "region", "resource_id"]
        constraints = [
            # An Auto Scaling group and a database may share a name: the kind is part of the key.
            models.UniqueConstraint(
                fields=["account", "region", "kind", "resource_id"], name="resource_unique_per_account_region_kind"
            ),
        ]
        indexes = [models.Index(fields=["account", "gone_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.resource_id})" if self.name else self.resource_id

    @property
    def sizes_label(self) -> str:
        """"1/2/4" (min/desired/max) for a group; "" otherwise."""
        if self.kind != self.Kind.AUTOSCALING_GROUP or self.min_size is None:
            return ""
        return f"{self.min_size}/{self.desired_size}/{self.max_size}"

    @property
    def saved_sizes_label(self) -> str:
        sizes = self.saved_sizes or {}
        return f"{sizes['min']}/{sizes['desired']}/{sizes['max']}" if {"min", "desired", "max"} <= set(sizes) else ""

    def may_follow(self, schedule: Schedule | None) -> bool:
        """Its tenant's own schedules and global templates; never another tenant's."""
        return schedule is None or schedule.tenant_id in (None, self.account.tenant_id)


class OverrideQuerySet(models.QuerySet):
    def active(self, *, at: dt.datetime) -> OverrideQuerySet:
        """Snoozes in force at `at`: not cancelled, not over."""
        return self.filter(cancelled_at__isnull=True, until__gt=at)


class Override(models.Model):
    """Snooze: keep a machine running (or stopped) until a time, whatever its schedule says."""

    objects = OverrideQuerySet.as_manager()

    class State(models.TextChoices):
        RUNNING = "running", "Keep running"
        STOPPED = "stopped", "Keep stopped"

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="overrides")
    state = models.CharField(max_length=10, choices=State.choices)
    until = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When its end was told to the tenant's channels (cancelled: at once; run
    # out: by the next tick), claimed by a conditional update so it is told once.
    end_told_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["resource", "until"]),
            # Every tick looks for snoozes that ran out untold: only those are indexed.
            models.Index(fields=["until"], condition=Q(end_told_at__isnull=True), name="override_until_untold"),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()} until {format_when(self.until)}"


class ParkingLease(models.Model):
    """One row per account: who may park it now. Claimed, renewed and released
    with conditional UPDATEs against the database clock (see scheduling.leases),
    so two workers or overlapping ticks never act on one account, and only the
    holder (a token unique per claim) can renew or release it."""

    account = models.OneToOneField("tenants.CloudAccount", on_delete=models.CASCADE, primary_key=True, related_name="parking_lease")
    until = models.DateTimeField()
    holder = models.CharField(max_length=100, blank=True)
    # The account's last tick, written as the lease is given back: an idle
    # tick leaves no ParkingRun, so "is parking working here" is read here.
    last_tick_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=12, blank=True)
    last_error = models.TextField(blank=True)
    # The account's pending task, claimed by the tick when it enqueues it
    # (scheduling.claims): no second task while one is queued or running.
    queued_token = models.CharField(max_length=64, blank=True)
    queued_until = models.DateTimeField(null=True, blank=True)
    # What the due-work rule (scheduling.due) reads, so an account with nothing
    # due costs a tick no AWS call: the instant its last clean run evaluated
    # its schedules for (the next window starts there), when its inventory was
    # last read in full, and how many changes (schedule edits, assignments,
    # snoozes, connection tests) it has had since a run last looked at it.
    evaluated_at = models.DateTimeField(null=True, blank=True)
    inventoried_at = models.DateTimeField(null=True, blank=True)
    changes = models.PositiveIntegerField(default=0)
    # The last holder may have left work open (it never gave the lease back,
    # or actions stayed unconfirmed): its next run reconciles from AWS first.
    unsettled = models.BooleanField(default=True)


class ParkingRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Some actions failed"
        FAILED = "failed", "Failed"
        # Its worker died, timed out, lost the database or its lease: closed by
        # a later run, which reconciled its pending actions from AWS.
        INTERRUPTED = "interrupted", "Interrupted"

    class Trigger(models.TextChoices):
        TICK = "tick", "Schedule tick"
        MANUAL = "manual", "By hand (park / start now)"

    account = models.ForeignKey("tenants.CloudAccount", on_delete=models.CASCADE, related_name="parking_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.TICK)
    tick_at = models.DateTimeField(help_text="The instant the schedules were evaluated for.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    planned = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    aws_calls = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["account", "-started_at"]), models.Index(fields=["status", "-started_at"])]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.account} at {format_when(self.tick_at)}"


class ParkingAction(models.Model):
    class Action(models.TextChoices):
        START = "start", "Start"
        STOP = "stop", "Stop"
        SKIP = "skip", "Skip"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        # Written before the AWS call; settled as soon as AWS answers, or
        # reconciled from AWS's real state by the next run if the worker died.
        PENDING = "pending", "Pending"

    run = models.ForeignKey(ParkingRun, on_delete=models.CASCADE, related_name="actions")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="parking_actions")
    action = models.CharField(max_length=5, choices=Action.choices)
    reason = models.CharField(max_length=300)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["outcome", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.resource_id}: {self.outcome}"
