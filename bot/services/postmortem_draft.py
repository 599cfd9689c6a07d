"""The post-mortem draft's parts read from the database: the rows of each section, the
timeline (cut at both ends for a huge incident, reviewers' curations applied), the
template and the chart. `bot.services.reports.Reports.postmortem` puts them together;
its docstring says where each part of the draft comes from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.core.curation import CURATION_KIND, curate
from bot.core.exports import EventRecord
from bot.core.postmortem import PostmortemContext, PostmortemTemplateError
from bot.services.chart import Mark, render_chart
from bot.services.curations import Curator
from bot.services.prometheus_view import PrometheusView
from bot.services.report_rows import SECTION_LIMIT, event_record
from bot.storage.models import ActionItem as ActionItemRow
from bot.storage.models import Incident, IncidentAlert, Rollback, Silence, TimelineEvent
from bot.storage.store import IncidentStore

TIMELINE_EDGE = 200  # events shown at each end of a huge incident's post-mortem timeline
_DRAFT_KINDS = (
    "severity_changed",
    "role_assigned",
    "status_checked",
    "command",
    "suspected_deploy",
)


@dataclass(frozen=True)
class Draft:
    """A post-mortem draft: the Markdown, and the chart it links to (when there is one)."""

    markdown: str
    chart: bytes | None
    context: PostmortemContext


@dataclass(frozen=True)
class DraftRows:
    kinds: dict[str, list[TimelineEvent]]  # the events of each of `_DRAFT_KINDS`
    todo_notes: Sequence[TimelineEvent]
    alerts: Sequence[IncidentAlert]
    rollbacks: Sequence[Rollback]
    action_items: Sequence[ActionItemRow]
    actors: list[str]
    silences: Sequence[Silence]


async def draft_rows(store: IncidentStore, incident_id: int) -> DraftRows:
    kinds = {
        kind: list(await store.timeline_of_kinds(incident_id, [kind], limit=SECTION_LIMIT))
        for kind in _DRAFT_KINDS
    }
    return DraftRows(
        kinds=kinds,
        todo_notes=await store.timeline_of_kinds(
            incident_id, ["note"], limit=SECTION_LIMIT, text_prefix="todo"
        ),
        alerts=await store.incident_alert_rows(incident_id),
        rollbacks=await store.incident_rollbacks(incident_id),
        action_items=await store.incident_action_items(incident_id),
        actors=await store.timeline_actors(incident_id),
        silences=await store.incident_silences(incident_id),
    )


async def draft_timeline(
    store: IncidentStore,
    curator: Curator,
    incident: Incident,
    names: Mapping[str, str],
    edge: int,
) -> tuple[list[EventRecord], list[EventRecord]]:
    """(timeline, key moments). The timeline: every event, or the first and last
    `edge` and a line for the rest; reviewers' corrections applied, hidden
    events and the curation records themselves left out."""
    assert incident.id is not None
    view = await curator.view(incident.id)
    keys = [i for i, c in view.curations.items() if c.key_moment and not c.hidden]
    key_moments = sorted(
        (
            curate(event_record(e, names), view.curations.get(e.id))
            for e in await store.events_by_id(keys)
            if e.id is not None
        ),
        key=lambda e: e.occurred_at,
    )
    total = await store.timeline_count(incident.id)
    if total <= 2 * edge + 1:
        every = await store.timeline_edge(incident.id, 2 * edge + 1)
        events = view.apply((e.id, event_record(e, names)) for e in every)
        return [e for e in events if _in_draft(e)], key_moments

    def curated(rows: Sequence[TimelineEvent]) -> list[EventRecord]:
        events = (curate(event_record(e, names), view.curations.get(e.id or 0)) for e in rows)
        return [e for e in events if _in_draft(e)]

    head = curated(await store.timeline_edge(incident.id, edge))
    tail = curated(await store.timeline_edge(incident.id, edge, newest=True))
    left_out = total - 2 * edge
    ref = incident.ref
    gap = EventRecord(
        occurred_at=head[-1].occurred_at if head else incident.started_at,
        recorded_at=head[-1].recorded_at if head else incident.started_at,
        kind="omitted",
        actor=None,
        text=(
            f"... {left_out:,} more events, left out of this draft. The whole timeline: "
            f"`incident-bot timeline {ref} --format md` or "
            f"GET /api/v1/incidents/{ref}/timeline?format=md"
        ),
    )
    return [*head, gap, *tail], key_moments


def template_text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PostmortemTemplateError(f"post-mortem template {path}: {e}") from e


def draft_chart(context: PostmortemContext, view: PrometheusView) -> bytes:
    incident = context.incident
    marks = [Mark(incident.started_at, "impact start", "tab:red")]
    for label, at in (("mitigated", incident.mitigated_at), ("resolved", incident.resolved_at)):
        if at is not None:
            marks.append(Mark(at, label, "tab:green"))
    for rollback in context.rollbacks:
        at = rollback.get("at")
        if isinstance(at, datetime):
            marks.append(Mark(at, f"rollback to rev {rollback.get('to_revision')}"))
    title = f"{incident.ref} {incident.service or ''}: error rate and p95 latency".strip()
    return render_chart(title, view.error_rate, view.latency_p95, marks)


def _in_draft(event: EventRecord) -> bool:
    """Hidden by a reviewer, or a record of curation itself: not in the draft's timeline."""
    hidden = event.curation is not None and event.curation.hidden
    return not hidden and event.kind != CURATION_KIND
