"""The incident page's chart and `/status` figures, from Prometheus and the timeline.

The chart is its own request (`GET /incidents/{ref}/chart.svg`, an `<img>` on the
page), so a slow or down Prometheus never delays the page: the page paints, the
chart follows or says "no data". It shows the incident window the post-mortem's
chart shows (`Reports.prometheus_view`), with marks for the incident's start, each
rollout the bot suspected, each confirmed rollback, mitigation and resolution.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.postmortem import StatusFigures, format_percent
from bot.core.svg_chart import Mark, render_svg_chart
from bot.services.report_rows import status_figures
from bot.services.reports import Reports
from bot.storage.models import Incident

_PAD = timedelta(minutes=5)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


async def chart_marks(reports: Reports, incident: Incident) -> list[Mark]:
    assert incident.id is not None
    marks = [Mark(incident.started_at, "impact start", "start")]
    suspects = await reports.store.timeline_of_kinds(incident.id, ["suspected_deploy"], limit=20)
    for event in suspects:
        at = _time(event.details.get("rolled_out_at"))
        if at is not None:
            marks.append(Mark(at, f"rollout rev {event.details.get('revision', '?')}"))
    for rollback in await reports.store.incident_rollbacks(incident.id):
        if rollback.confirmed_at is not None:
            marks.append(Mark(rollback.confirmed_at, f"rollback to rev {rollback.to_revision}"))
    for label, at in (("mitigated", incident.mitigated_at), ("resolved", incident.resolved_at)):
        if at is not None:
            marks.append(Mark(at, label, "end"))
    return sorted(marks, key=lambda m: m.at)


async def chart_svg(reports: Reports, incident: Incident, now: datetime) -> str:
    view = await reports.prometheus_view(incident, now)
    marks = await chart_marks(reports, incident)
    end = min(incident.resolved_at or now, now)
    start, last = incident.started_at - _PAD, max(end + _PAD, incident.started_at + _PAD)
    last = min(last, now) if now > start else last
    title = f"{incident.ref} {incident.service or ''}: error rate and p95 latency".strip()
    if view is None:
        title += " (Prometheus gave no data)"
        return render_svg_chart([], [], marks, start, last, title)
    return render_svg_chart(view.error_rate, view.latency_p95, marks, start, last, title)


async def last_status(reports: Reports, incident: Incident) -> tuple[StatusFigures, str] | None:
    """The newest `/status` figures on the timeline, and a line saying them."""
    assert incident.id is not None
    rows = await reports.store.timeline_edge_of_kind(incident.id, "status_checked")
    if rows is None:
        return None
    figures = status_figures(rows)
    values = figures.figures
    parts = [
        f"error rate {format_percent(values.get('error_rate'))}",
        f"p95 latency {_number(values.get('latency_p95_s'), 's')}",
        f"{_number(values.get('request_rate'), 'req/s')}",
    ]
    return figures, ", ".join(parts)


def _number(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.3g} {unit}"
