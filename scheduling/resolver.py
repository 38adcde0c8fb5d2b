"""One answer per machine: which schedule it follows and from where, which
snooze is active, what the tick does now and why, and what changes next.

The tick (`scheduling.parking`), the admin, every self-service page and
`manage.py explain_resource` all ask `explain`/`resources_explain`, so what a
person reads is what the worker does. The decision itself is the planner's
(`scheduling.planner.explain`, pure); this module gathers its inputs in a
bounded number of queries (schedules with their periods, active snoozes) and
adds what people ask next: where the schedule comes from and when it changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet

from portal.zones import format_when
from scheduling import kinds, planner
from scheduling.models import Override, Period, Resource, Schedule
from scheduling.periods import ScheduleError
from scheduling.periods.engine import CompiledSchedule, cached_compile
from tenants.models import CloudAccount

logger = logging.getLogger(__name__)

SOURCE_EXPLICIT, SOURCE_TAG, SOURCE_NONE = "explicit", "tag", "none"


@dataclass(frozen=True)
class NextChange:
    """When the wanted state changes next (a snooze's end, or the schedule's next transition)."""

    at: dt.datetime  # UTC
    state: str
    zone: str

    @property
    def local(self) -> dt.datetime:
        return self.at.astimezone(ZoneInfo(self.zone))

    def label(self) -> str:
        """In the viewer's zone, like every time shown to a person."""
        return f"{self.state} at {format_when(self.at, '%a %Y-%m-%d %H:%M %Z')}"


@dataclass(frozen=True)
class Explanation:
    resource: Resource
    decision: planner.Decision
    schedule: Schedule | None
    schedule_source: str  # explicit | tag | none
    override: Override | None
    next_change: NextChange | None
    reason: str

    @property
    def action(self) -> str:
        """What the tick does now: start | stop | skip | none."""
        return self.decision.action or "none"

    @property
    def desired(self) -> str | None:
        """What the snooze or schedule wants now: running | stopped | any (None: nothing applies)."""
        return self.decision.wanted

    @property
    def state(self) -> str:
        """What it should be now, for display ("" when nothing applies)."""
        return self.desired or ""

    @property
    def source_label(self) -> str:
        return {SOURCE_EXPLICIT: "assigned", SOURCE_TAG: "from its schedule tag", SOURCE_NONE: "none"}[self.schedule_source]

    @property
    def differs(self) -> bool:
        """Its AWS state is not what its schedule or snooze wants now."""
        wanted = self.desired
        if wanted not in (planner.RUNNING, planner.STOPPED):
            return False
        settled = planner.RUNNING_STATES if wanted == planner.RUNNING else planner.STOPPED_STATES
        return self.resource.state not in settled

    def as_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource.resource_id,
            "kind": self.resource.kind,
            "region": self.resource.region,
            "state": self.resource.state,
            "schedule": self.schedule.name if self.schedule is not None else None,
            "schedule_source": self.schedule_source,
            "desired": self.desired,
            "action": self.action,
            "reason": self.reason,
            "override": None if self.override is None else {
                "state": self.override.state,
                "until": self.override.until.astimezone(dt.UTC).isoformat(),
                "by": self.override.created_by_label,
                "reason": self.override.reason,
            },
            "next_change": None if self.next_change is None else {
                "at": self.next_change.at.astimezone(dt.UTC).isoformat(),
                "state": self.next_change.state,
                "local": self.next_change.local.isoformat(),
                "timezone": self.next_change.zone,
            },
        }


@dataclass(frozen=True)
class ScheduleBook:
    """The schedules a tenant's machines may follow, and which one each follows:
    an explicit assignment wins; otherwise the schedule tag names one, the
    tenant's own winning over a global template of the same name."""

    by_pk: dict[int, Schedule]
    by_name: dict[str, Schedule]

    @classmethod
    def from_rows(cls, rows: Iterable[Schedule], *, tenant_id: int) -> ScheduleBook:
        usable = [s for s in rows if s.tenant_id in (None, tenant_id)]
        by_name: dict[str, Schedule] = {}
        for schedule in sorted(usable, key=lambda s: s.tenant_id is not None):
            by_name[schedule.name] = schedule
        return cls(by_pk={s.pk: s for s in usable}, by_name=by_name)

    def schedule_of(self, resource: Resource) -> Schedule | None:
        if resource.schedule_id is not None:
            return self.by_pk.get(resource.schedule_id)
        return self.by_name.get(resource.schedule_tag) if resource.schedule_tag else None


def usable_schedules(tenant_ids: Iterable[int]) -> list[Schedule]:
    """The tenants' own schedules and the global templates, their periods
    prefetched: one query (schedules LEFT JOIN periods), since every parking
    task reads them."""
    schedule_fields = [f.attname for f in Schedule._meta.concrete_fields]
    all_period_fields = [f.attname for f in Period._meta.concrete_fields]
    period_fields = [name for name in all_period_fields if name != "schedule_id"]
    rows = (
        Schedule.objects.filter(Q(tenant_id__in=list(tenant_ids)) | Q(tenant__isnull=True))
        .order_by("name", "pk", "periods__pk")
        .values_list(*schedule_fields, *(f"periods__{name}" for name in period_fields))
    )
    schedules: dict[int, tuple[Schedule, list[Period]]] = {}
    split = len(schedule_fields)
    for row in rows:
        pk = row[0]
        if pk not in schedules:
            schedules[pk] = (Schedule.from_db(None, schedule_fields, row[:split]), [])
        if row[split] is not None:  # a schedule without periods has one row of NULLs
            values = dict(zip(period_fields, row[split:], strict=True), schedule_id=pk)
            # from_db takes a full row in the model's field order.
            schedules[pk][1].append(Period.from_db(None, all_period_fields, [values[name] for name in all_period_fields]))
    for schedule, periods in schedules.values():
        # What prefetch_related("periods") leaves: schedule.periods.all() reads it.
        prefetched = schedule.periods.all()
        prefetched._result_cache, prefetched._prefetch_done = periods, True
        schedule._prefetched_objects_cache = {"periods": prefetched}
    return [schedule for schedule, _ in schedules.values()]


def schedules_for(account: CloudAccount) -> ScheduleBook:
    return ScheduleBook.from_rows(usable_schedules([account.tenant_id]), tenant_id=account.tenant_id)


def snooze_flagged(resources: QuerySet[Resource], *, at: dt.datetime) -> QuerySet[Resource]:
    """`resources`, each with `snoozed`: whether a snooze is in force at `at`
    (the same rule as active_overrides), read in the same query, so a run
    asks for the snoozes themselves only when there is one."""
    return resources.annotate(snoozed=Exists(Override.objects.active(at=at).filter(resource=OuterRef("pk"))))


def active_overrides(resource_pks: Iterable[int], *, at: dt.datetime) -> dict[int, Override]:
    """The snooze in force for each resource at `at` (the newest wins): one query.
    Every reader of snoozes — the tick, pages, admin, commands — uses this."""
    pks = [pk for pk in resource_pks if pk is not None]
    if not pks:
        return {}
    found: dict[int, Override] = {}
    for override in Override.objects.active(at=at).filter(resource__in=pks).order_by("resource_id", "-created_at"):
        found.setdefault(override.resource_id, override)
    return found


def auto_restarted(resource: Resource, *, now: dt.datetime) -> bool:
    """A database or cluster Parkway stopped that runs again once AWS's 7 days
    are up: AWS started it, not a person (whose start is respected)."""
    return (
        resource.kind in (kinds.RDS_INSTANCE, kinds.RDS_CLUSTER)
        and resource.parked_at is not None
        and resource.desired_state == planner.STOPPED
        and resource.state in planner.RUNNING_STATES
        and now - resource.parked_at >= dt.timedelta(days=kinds.AUTO_RESTART_DAYS) - dt.timedelta(hours=1)
    )


def _compiled(schedule: Schedule, cache: dict[int, CompiledSchedule | None]) -> CompiledSchedule | None:
    if schedule.pk not in cache:
        try:
            cache[schedule.pk] = cached_compile(schedule.to_spec())
        except ScheduleError:
            logger.warning("Schedule %s (%s) is invalid; its machines are left alone.", schedule.pk, schedule.name)
            cache[schedule.pk] = None
    return cache[schedule.pk]


def explain(
    resources: Sequence[Resource],
    *,
    books: Mapping[int, ScheduleBook],
    overrides: Mapping[int, Override],
    at: dt.datetime,
    now: dt.datetime | None = None,
    next_changes: bool = True,
) -> list[Explanation]:
    """Explain `resources` (with `account` loaded) at `at`, in order; pure but
    for the schedules' compilation. `books` maps tenant id → its ScheduleBook."""
    compiled: dict[int, CompiledSchedule | None] = {}
    rules: dict[int, planner.ScheduleRules] = {}
    views: list[planner.ResourceView] = []
    schedule_of: list[Schedule | None] = []
    override_views: dict[int, planner.OverrideView] = {}
    only_book = next(iter(books.values())) if len(books) == 1 else None

    def book_of(resource: Resource) -> ScheduleBook:
        # One tenant (the tick): no need to load each resource's account.
        return only_book if only_book is not None else books[resource.account.tenant_id]

    for index, resource in enumerate(resources):
        schedule = book_of(resource).schedule_of(resource)
        schedule_of.append(schedule)
        key = None
        if schedule is not None and (program := _compiled(schedule, compiled)) is not None:
            key = schedule.pk
            rules.setdefault(key, planner.ScheduleRules(
                name=schedule.name, compiled=program, enforced=schedule.enforced,
                retain_running=schedule.retain_running, stop_new_instances=schedule.stop_new_instances,
            ))
        override = overrides.get(resource.pk) if resource.pk is not None else None
        if override is not None:
            override_views[index] = planner.OverrideView(
                state=override.state, until=override.until, by=override.created_by_label, note=override.reason
            )
        views.append(planner.ResourceView(
            key=index, state=resource.state, desired_state=resource.desired_state,
            retained_running=resource.retained_running, schedule=key, asg_name=resource.asg_name,
            retry_after=resource.retry_after, failures=resource.failures, last_failure=resource.last_failure,
            refusal=resource.refusal, auto_restarted=auto_restarted(resource, now=now or at),
        ))
    decisions = planner.explain(views, rules, override_views, at, now=now)
    explanations = []
    for resource, decision, schedule in zip(resources, decisions, schedule_of, strict=True):
        override = overrides.get(resource.pk) if resource.pk is not None else None
        program = compiled.get(schedule.pk) if schedule is not None else None
        upcoming = _next_change(override, schedule, program, at) if next_changes else None
        explanations.append(Explanation(
            resource=resource, decision=decision, schedule=schedule,
            schedule_source=SOURCE_EXPLICIT if resource.schedule_id else (SOURCE_TAG if schedule is not None else SOURCE_NONE),
            override=override, next_change=upcoming,
            reason=_reason(resource, decision, schedule, program, upcoming),
        ))
    return explanations


def _next_change(
    override: Override | None, schedule: Schedule | None, program: CompiledSchedule | None, at: dt.datetime
) -> NextChange | None:
    if override is not None:
        after = program.desired_state(override.until) if program is not None else "not scheduled"
        return NextChange(at=override.until, state=after, zone=schedule.timezone if schedule is not None else "UTC")
    if program is None or schedule is None:
        return None
    found = program.next_change(at)
    return None if found is None else NextChange(at=found[0], state=found[1], zone=schedule.timezone)


def _reason(
    resource: Resource,
    decision: planner.Decision,
    schedule: Schedule | None,
    program: CompiledSchedule | None,
    upcoming: NextChange | None,
) -> str:
    reason = decision.reason
    if schedule is None and decision.wanted is None:
        if resource.schedule_tag and resource.schedule_id is None:
            return f"its tag names a schedule '{resource.schedule_tag}' that does not exist"
        if resource.refusal:
            return f"not scheduled; and {resource.refusal}"
        return "not scheduled: no schedule assigned and no schedule tag"
    if schedule is not None and program is None and decision.wanted is None:
        return f"schedule {schedule.name} is invalid: its machines are left alone"
    if decision.code in (planner.MANUAL_START, planner.MANUAL_STOP):
        if decision.code == planner.MANUAL_START and resource.launch_time is not None:
            reason = reason.replace("started by hand", f"started by hand at {format_when(resource.launch_time)}", 1)
        if upcoming is not None:
            reason = f"{reason} ({upcoming.label()})"
    return reason


def books_for(tenant_ids: Iterable[int]) -> dict[int, ScheduleBook]:
    """Each tenant's ScheduleBook: one query (schedules joined with their periods) for all of them."""
    tenant_ids = set(tenant_ids)
    rows = usable_schedules(tenant_ids)
    # Grouped first: each book from its tenant's rows and the templates, not
    # from every row (a tick's thousands of tenants made that quadratic).
    templates = [s for s in rows if s.tenant_id is None]
    own: dict[int, list[Schedule]] = defaultdict(list)
    for schedule in rows:
        if schedule.tenant_id is not None:
            own[schedule.tenant_id].append(schedule)
    return {tenant_id: ScheduleBook.from_rows(templates + own[tenant_id], tenant_id=tenant_id) for tenant_id in tenant_ids}


def resources_explain(
    resources: Iterable[Resource], *, at: dt.datetime, now: dt.datetime | None = None
) -> dict[int, Explanation]:
    """Explanations keyed by resource pk, for pages and commands: two queries
    whatever the number of resources (schedules joined with their periods, snoozes)."""
    resources = list(resources)
    if not resources:
        return {}
    books = books_for(r.account.tenant_id for r in resources)
    overrides = active_overrides((r.pk for r in resources), at=at)
    explained = explain(resources, books=books, overrides=overrides, at=at, now=now)
    return {e.resource.pk: e for e in explained}


# --- Previews: what the next tick would do -----------------------------------------


def _copy(resource: Resource) -> Resource:
    """An unsaved copy of `resource` to explain "what if" (the original is untouched)."""
    copy = Resource(**{f.attname: getattr(resource, f.attname) for f in Resource._meta.concrete_fields})
    copy.account = resource.account
    return copy


def _with_schedule(resource: Resource, schedule: Schedule | None) -> Resource:
    """An unsaved copy of `resource` assigned `schedule`."""
    copy = _copy(resource)
    copy.schedule = schedule
    return copy


def act_now_preview(resources: Iterable[Resource], *, action: str, at: dt.datetime) -> dict[int, Explanation]:
    """What the next tick would do with each machine once "Park now" (`action`
    "stop") or "Start now" ("start") has acted: the answer for copies in the
    state the action leaves them in (an enforced schedule undoes it at once;
    otherwise the schedule resumes at its next change). Keyed by resource pk."""
    after = planner.STOPPED if action == planner.STOP else planner.RUNNING
    copies = []
    for resource in resources:
        copy = _copy(resource)
        if copy.state not in planner.NEVER_ACT and not copy.refusal:
            # A refused one (a replica, a cluster member…) is not acted on: it stays as it is.
            copy.state = after
        copies.append(copy)
    return resources_explain(copies, at=at)


def snooze_previews(resource: Resource, *, until: dt.datetime, at: dt.datetime) -> dict[str, Explanation]:
    """What the next tick would do with `resource` under a snooze keeping it
    running, or stopped, until `until` — e.g. start it, when "keep running"
    meets a stopped machine. Keyed by the snooze's state; nothing is saved."""
    books = books_for([resource.account.tenant_id])
    return {
        state: explain(
            [resource], books=books, overrides={resource.pk: Override(resource=resource, state=state, until=until)},
            at=at, next_changes=False,
        )[0]
        for state in Override.State.values
    }


def snooze_consequence(explanation: Explanation) -> str:
    """The snooze's effect at the next tick, in plain words ("" when it changes nothing now)."""
    if explanation.action == planner.START:
        return f"It is {explanation.resource.state}, so Parkway starts it at the next parking tick."
    if explanation.action == planner.STOP:
        return f"It is {explanation.resource.state}, so Parkway stops it at the next parking tick."
    return ""


def assignment_preview(resource: Resource, *, schedule: Schedule | None, at: dt.datetime) -> Explanation:
    """What the tick would do with `resource` if it followed `schedule` (None: its tag)."""
    return resources_explain([_with_schedule(resource, schedule)], at=at)[resource.pk]


def assignment_preview_text(explained: Explanation) -> str:
    """The preview in words, for the admin's message (the self-service page marks it up itself)."""
    follows = f"the schedule {explained.schedule.name}" if explained.schedule else "its Schedule tag"
    then = f"; then {explained.next_change.label}" if explained.next_change else ""
    return (
        f"Preview, nothing saved: with {follows}, the next tick would {explained.action} — "
        f"{explained.reason}{then}. Press Save to assign it."
    )


def preview_sentence(explanations: Iterable[Explanation]) -> str:
    """"The next tick will stop 4 machines (schedule office: first seen outside its period)." """
    groups: dict[tuple[str, str], int] = {}
    for e in explanations:
        if e.action in (planner.START, planner.STOP):
            groups[(e.action, e.reason)] = groups.get((e.action, e.reason), 0) + 1
    if not groups:
        return "The next tick will neither start nor stop anything."
    parts = [
        f"{action} {count} machine{'s' if count != 1 else ''} ({reason})"
        for (action, reason), count in sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    ]
    return "The next tick will " + "; ".join(parts) + "."
