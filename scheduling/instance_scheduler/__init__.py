"""Import schedules exported from AWS Instance Scheduler ("instance-scheduler-on-aws").

Customers leaving Instance Scheduler export their configuration with the
solution's own CLI::

    scheduler-cli describe-schedules --stack <stack> > schedules.json
    scheduler-cli describe-periods   --stack <stack> > periods.json

and upload those two files (or one file combining them) to Parkway.  This package
turns that output into Parkway's schedule spec JSON.  It is pure Python (stdlib
only, no Django) so that it can be unit-tested in isolation and reused by views,
management commands and tasks alike.

Where the input format comes from
---------------------------------
All paths are in github.com/aws-solutions/instance-scheduler-on-aws (the older
awslabs/aws-instance-scheduler repository was renamed to it; its v1.x code
lives in the same history).

* The CLI does no formatting of its own: it invokes the solution's Lambda and
  prints the response with ``print(json.dumps(result, indent=3))`` (or, when the
  response is ``{"Error": ...}``, prints only the capitalised error text and
  exits 1).  ``source/cli/instance_scheduler_cli/scheduler_cli.py`` (v3) and
  ``source/cli/scheduler_cli/scheduler_cli.py`` (v1.x).
* v3.x: ``source/app/instance_scheduler/handler/cli/cli_request_handler.py``
  (``describe_schedules_command`` / ``describe_periods_command``) returns
  ``{"schedules": [{"type": "schedule", **asdict(ScheduleDefinition)}]}`` and
  ``{"periods": [{"type": "period", **asdict(PeriodDefinition)}]}`` with
  ``None`` values stripped, then converts every key snake_case -> PascalCase
  (``dict_to_pascal_case``): "stop_new_instances" -> "StopNewInstances",
  "begintime" -> "Begintime".  Sets are serialised as JSON lists in arbitrary
  order (``util/custom_encoder.py``); booleans are real JSON booleans.
  Field sets: ``model/schedule_definition.py`` (Name, Periods, Timezone,
  Description, OverrideStatus, StopNewInstances, SsmMaintenanceWindow (list),
  UseMaintenanceWindow, Enforced, Hibernate, RetainRunning, ConfiguredInStack)
  and ``model/period_definition.py`` (Name, Begintime, Endtime, Weekdays,
  Months, Monthdays (lists), Description, ConfiguredInStack).
  ``describe-schedules --name X`` prints the same ``{"Schedules": [...]}`` shape.
* v1.x: ``source/app/instance_scheduler/handler/cli.py`` +
  ``configuration/config_admin.py`` (``list_schedules`` / ``list_periods``)
  return the raw DynamoDB items, PascalCased the same way, so the shape is
  identical but extra fields appear: "UseMetrics" (CloudWatch metrics) and the
  legacy "Overwrite" boolean (true = always running, false = always stopped;
  ``configuration/scheduler_config_builder.py``), "SsmMaintenanceWindow" is a
  single string, and items that were hand-edited in the DynamoDB console (which
  the v1 implementation guide told users to do) may hold booleans as strings
  ("true"/"False") and sets as plain or comma-separated strings.  v1 matched
  time zone names case-insensitively (pytz).
* Period references inside a schedule may be written "period@instancetype"
  (``model/period_identifier.py``; v1: ``configuration.INSTANCE_TYPE_SEP``),
  meaning "resize the instance to that type while this period runs".
* A schedule without a time zone uses the stack's DEFAULT_TIMEZONE, which is
  "UTC" unless changed (``ScheduleDefinition.build_timezone``).  We cannot see
  the stack setting, so we use "UTC".
* Documented example outputs: docs.aws.amazon.com/solutions/latest/
  instance-scheduler-on-aws/scheduler-cli-4.html (describe-periods /
  describe-schedules examples).

Policy for what Parkway cannot express
--------------------------------------
Each Instance Scheduler schedule becomes either one spec or one
``ScheduleImportError`` (all problems of that schedule joined into one message),
never a partially converted spec: silently dropping a behaviour (e.g. resizing
or a maintenance window) would make instances run at different times than the
customer expects.  Errors are reported for: unknown period references,
"period@type" resizing, SSM maintenance windows (unless UseMaintenanceWindow is
explicitly false, in which case the windows are inert), Hibernate=true, unknown
time zones, non-boolean booleans, invalid override status, unknown fields
(they may be a feature we would silently drop), and schedules with neither
periods nor an override.  Fields that do not change when instances run are
ignored: Type, UseMetrics/Metrics (CloudWatch metrics), ConfiguredInStack
(CloudFormation provenance), period Description, and UseMaintenanceWindow
without SSM windows (it only affects RDS preferred maintenance windows, and
Parkway schedules EC2 only).  Periods that no schedule references are not
imported and therefore not validated.

Cron-like period fields (weekdays, monthdays, months, begin/end times) are
carried across verbatim apart from token whitespace, list joining with "," and
zero-padding "H:MM" times to "HH:MM"; validating them is another module's job.

Layout: ``common`` (spec types, ScheduleImportError, shared helpers),
``loading`` (format detection and ``load_import_file``), ``convert``
(Instance Scheduler -> Parkway) and ``parkway`` (checks of Parkway's own
format).  Import from the package: the submodules are an implementation detail.
"""

from .common import ImportFormat, PeriodSpec, ScheduleImportError, ScheduleSpec
from .convert import from_instance_scheduler
from .loading import detect_format, load_import_file

__all__ = [
    "PeriodSpec",
    "ScheduleSpec",
    "ScheduleImportError",
    "ImportFormat",
    "detect_format",
    "from_instance_scheduler",
    "load_import_file",
]
