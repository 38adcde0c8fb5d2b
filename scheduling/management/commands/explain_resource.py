"""Why a resource (EC2 instance, RDS database or cluster, Auto Scaling group) is
in its state, what the tick does now, and what changes next."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduling.management.commands.run_parking import parse_instant
from scheduling.models import Resource
from scheduling.resolver import resources_explain

MAX_ID_LENGTH = 255  # Auto Scaling group names reach 255


class Command(BaseCommand):
    help = "Explain one machine: its schedule and where it comes from, its snooze, what the tick does now and why, the next change."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("id", help=(
            "Parkway resource number, or the AWS resource ID: an instance ID (i-0123456789abcdef0), "
            "a DB instance or cluster identifier, or an Auto Scaling group name."
        ))
        parser.add_argument("--at", help="Explain at this ISO-8601 instant (default: now), as `run_parking --at` would act.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        at = parse_instant(options["at"]) if options["at"] else timezone.now()
        resource = self._find(options["id"])
        explanation = resources_explain([resource], at=at)[resource.pk]
        if options["json"]:
            self.stdout.write(json.dumps(explanation.as_json() | {"at": at.isoformat()}, indent=2))
            return
        data = explanation.as_json()
        lines = [
            f"{resource.get_kind_display()} {resource} in {resource.account.account_id} {resource.region} — "
            f"AWS state: {resource.state or 'unknown'}{_facts(resource)}",
            f"schedule: {data['schedule'] or 'none'} ({data['schedule_source']})",
            f"wanted now: {data['desired'] or 'nothing applies'}",
            f"the tick at {at.isoformat()}: {data['action']} — {data['reason']}",
        ]
        if explanation.override is not None:
            o = explanation.override
            lines.append(f"snooze: keep {o.state} until {o.until.isoformat()} (by {o.created_by_label or 'unknown'})")
        if explanation.next_change is not None:
            change = explanation.next_change
            lines.append(f"next change: {change.state} at {change.local.isoformat()} ({change.zone}) = {change.at.isoformat()}")
        else:
            lines.append("next change: none scheduled")
        self.stdout.write("\n".join(lines))

    def _find(self, raw: str) -> Resource:
        value = raw.strip()
        if not value or len(value) > MAX_ID_LENGTH or "\x00" in value:
            raise CommandError(
                "Give a Parkway resource number or an AWS resource ID (an instance ID such as i-0123456789abcdef0, "
                "a database or cluster identifier, or an Auto Scaling group name)."
            )
        rows = Resource.objects.select_related("account__tenant", "schedule")
        if value.isascii() and value.isdigit():
            found = rows.filter(pk=int(value)).first()
            if found is None:
                raise CommandError(f"No resource number {value}.")
            return found
        matches = list(rows.filter(resource_id=value)[:10])
        if not matches:
            raise CommandError(f"No resource with the AWS ID {value!r}.")
        if len(matches) > 1:
            where = ", ".join(f"#{r.pk} ({r.get_kind_display()}, {r.account.account_id} {r.region})" for r in matches)
            raise CommandError(f"{value!r} names several resources: {where}. Give the resource number instead.")
        return matches[0]


def _facts(resource: Resource) -> str:
    """Engine and class of a database, sizes of a group, and why it is never parked."""
    facts = [f for f in (resource.engine, resource.instance_type) if f]
    if resource.sizes_label:
        facts.append(f"min/desired/max {resource.sizes_label}")
    if resource.saved_sizes_label:
        facts.append(f"restored to {resource.saved_sizes_label}")
    text = f" ({', '.join(facts)})" if facts else ""
    return f"{text}\ncannot be parked: {resource.refusal}" if resource.refusal else text
