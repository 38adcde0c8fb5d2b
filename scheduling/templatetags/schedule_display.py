"""Display of schedules shared by the admin and the self-service pages:
``{% week_picture schedule %}`` (pages never import the admin)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from scheduling.models import Schedule
from scheduling.periods import ScheduleError, week_grid

register = template.Library()

STATE_LABELS = {"running": "running", "stopped": "stopped", "any": "no change"}


def _clock(quarter: int) -> str:
    return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


def _clocks_change_note(day: dt.date, zone: dt.tzinfo) -> SafeString | str:
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    before, after = midnight.utcoffset(), next_midnight.utcoffset()
    if before == after:
        return ""
    # Without this, a row where 02:00-02:45 "does not run" looks like a bug.
    return format_html(
        '<br><span class="pw-week-dst" title="UTC offset {} → {}">clocks change</span>',
        midnight.strftime("%z"),
        next_midnight.strftime("%z"),
    )


def week_picture_html(*, schedule: Schedule, now: dt.datetime) -> SafeString:
    """The schedule's desired state for the week containing ``now`` (in the
    schedule's zone, from Monday), as a 7 × 96 quarter-hour grid with a legend."""
    try:
        compiled = schedule.compiled()
    except ScheduleError as exc:
        return format_html('<p class="errornote">This schedule cannot be evaluated: {}</p>', str(exc))
    today = now.astimezone(compiled.zone).date()
    monday = today - dt.timedelta(days=today.weekday())
    hours = format_html_join("", '<th colspan="4" scope="colgroup">{}</th>', ((f"{h:02d}",) for h in range(24)))
    rows = []
    for offset, states in enumerate(week_grid(compiled, monday)):
        day = monday + dt.timedelta(days=offset)
        label = day.strftime("%a %d %b")
        cells = format_html_join(
            "",
            '<td class="pw-week-{}" title="{} {}: {}"></td>',
            ((state, label, _clock(q), STATE_LABELS[state]) for q, state in enumerate(states)),
        )
        rows.append((label, _clocks_change_note(day, compiled.zone), cells))
    body = format_html_join("", '<tr><th scope="row">{}{}</th>{}</tr>', rows)
    legend = format_html_join(
        "", '<span><i class="pw-week-{}"></i> {}</span>', ((state, text) for state, text in STATE_LABELS.items())
    )
    return format_html(
        '<div class="pw-week-picture"><table class="pw-week">'
        "<caption>Week of {} ({})</caption>"
        "<thead><tr><th></th>{}</tr></thead><tbody>{}</tbody></table>"
        '<p class="pw-week-legend">{}</p></div>',
        monday.strftime("%a %d %b %Y"),
        compiled.timezone,
        hours,
        body,
        legend,
    )


@register.simple_tag
def week_picture(schedule: Schedule) -> SafeString:
    """The week picture of `schedule` for the current week."""
    return week_picture_html(schedule=schedule, now=timezone.now())
