"""Reports from the database: timeline exports, post-mortem drafts, incident stats.

The shell around the pure core (`bot.core.exports`, `bot.core.postmortem`,
`bot.core.stats`): it reads rows, turns them into the core's records and hands
the results to the HTTP API, the CLI and the Slack `/incident` hooks. The row to
record mapping is `bot.services.report_rows`; the paged streaming of timeline exports
(flat memory whatever the timeline's size) is `bot.services.report_stream`; the draft's
parts (rows, cut timeline, template, chart) are `bot.services.postmortem_draft`, the
Prometheus figures `bot.services.prometheus_view`. Their public names are importable from
here too.

**Post-mortem of a huge incident.** The draft's timeline section shows the first
and the last `TIMELINE_EDGE` (200) events, with one line between them saying how
many were left out and how to get the full export; everything else in the draft
(alerts, commands, `/status` figures, action items, participants) is read with
its own query, so nothing is lost from those sections by the cut. Each of those
sections reads at most `SECTION_LIMIT` (500) rows.

**Where each part of the draft comes from.**

- severity history: the severity at detection, then each `severity_changed`
  event (`from`, `to`, `actor` in its details);
- roles: each `role_assigned` event (history: who held which role from when),
  plus any role of `incident.roles` (and the commander) that no event explains;
- rollbacks: the `rollbacks` table, those that were confirmed (previews that
  were cancelled, blocked or left pending never ran);
- suspected deploy: the details of the latest `suspected_deploy` event;
- `/status` figures: the details of `status_checked` events;
- alerts: the `incident_alerts` table;
- commands: `command` events (`/incident ...` and its result), `status_checked`
  events (`/status`) and the `rollbacks` table (every `/rollback` asked for);
- action items: the `action_items` table (`/incident action`), plus notes that
  start with TODO (parsed by the core, so `@owner` and `--due` are read);
- participants: distinct event actors that look like Slack user ids, and the
  people of roles and rollbacks;
- peak error rate: a Prometheus range query of the service's `error_rate` query
  (`bot.core.status_report.service_queries`, catalog overrides first) over
  [started_at, resolved_at or now], about 500 points; the peak is the largest
  point and its time. The same series (and p95 latency) make the chart.
  Prometheus down, slow (over `timeout`) or without data: no peak, no chart,
  the draft is written anyway.

**Mitigated by rollback** (stats): an incident with a completed rollback that
was confirmed at or before the incident's `mitigated_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.exports import IncidentRecord
from bot.core.people import with_names
from bot.core.postmortem import PostmortemContext, render_postmortem
from bot.core.stats import IncidentStats, group_name, incident_stats
from bot.services.curations import Curator
from bot.services.people import PeopleDirectory
from bot.services.postmortem_draft import (
    TIMELINE_EDGE,
    Draft,
    draft_chart,
    draft_rows,
    draft_timeline,
    template_text,
)
from bot.services.prometheus_view import PrometheusView, prometheus_view
from bot.services.report_rows import (
    SECTION_LIMIT,
    action_items,
    alert_record,
    command_runs,
    event_record,
    incident_record,
    participants,
    role_assignments,
    rollback_record,
    severity_history,
    silence_record,
    status_figures,
    suspected_record,
    who,
)
from bot.services.report_stream import (
    BATCH_BYTES,
    EXPORT_FORMATS,
    PAGE_SIZE,
    ExportFormat,
    export_chunks,
)
from bot.settings import Catalog
from bot.storage.models import Incident
from bot.storage.store import IncidentStore, parse_ref
from integrations.prometheus import PrometheusSource

__all__ = [
    "BATCH_BYTES",
    "EXPORT_FORMATS",
    "PAGE_SIZE",
    "SECTION_LIMIT",
    "TIMELINE_EDGE",
    "Draft",
    "ExportFormat",
    "PrometheusView",
    "Reports",
    "event_record",
    "incident_id_of",
    "incident_record",
]

log = structlog.get_logger(__name__)

_MAX_ID = 2**31 - 1  # the largest id a 32-bit integer column holds

PreviousHook = Callable[[Incident], Awaitable[list[dict[str, Any]]]]


def incident_id_of(ref: str) -> int | None:
    """`INC-7`, `inc-7`, `7` -> 7; junk or an id no database row can have -> None."""
    value = parse_ref(ref)
    return value if value is not None and 0 < value <= _MAX_ID else None


class Reports:
    def __init__(
        self,
        store: IncidentStore,
        catalog: Catalog,
        clock: Clock,
        *,
        prometheus: PrometheusSource | None = None,
        timeout: float = 5.0,
        template_path: Path | None = None,
        page_size: int = PAGE_SIZE,
        timeline_edge: int = TIMELINE_EDGE,
        people: PeopleDirectory | None = None,
        curator: Curator | None = None,
        previous: PreviousHook | None = None,
    ) -> None:
        self.store, self.catalog, self.clock = store, catalog, clock
        self.prometheus = prometheus
        self.timeout = timeout
        self.template_path = template_path
        self.page_size = page_size
        self.timeline_edge = timeline_edge
        self.people = people or PeopleDirectory(store, None, clock)
        # The runtime's has Slack, for reviewers' e-mail lookups.
        self.curator = curator or Curator(store, clock)
        # Earlier incidents like this one (`bot.services.similar`), for "Previous occurrences".
        self.previous = previous

    # -- incidents ------------------------------------------------------------------

    async def incident(self, ref: str) -> Incident | None:
        incident_id = incident_id_of(ref)
        return None if incident_id is None else await self.store.incident(incident_id)

    async def incidents(
        self, *, open_only: bool = False, since: timedelta | None = None
    ) -> list[IncidentRecord]:
        """Newest first; `since` keeps those that started within that long before now."""
        rows = await self.store.incidents(open_only=open_only)
        start = self.clock() - since if since is not None else None
        return [incident_record(r) for r in rows if start is None or r.started_at >= start]

    # -- timeline exports -----------------------------------------------------------

    async def timeline_chunks(self, incident: Incident, fmt: str) -> AsyncGenerator[bytes, None]:
        """The export in UTF-8 batches of about `BATCH_BYTES`; memory stays flat. People
        are named (`@dana`); the JSON export keeps their ids beside the names.

        Use it under `contextlib.aclosing` so a reader that stops early (a client
        gone) ends the export at once.
        """
        assert incident.id is not None
        names, view = await asyncio.gather(
            self.people.of_incident(incident), self.curator.view(incident.id)
        )
        chunks = export_chunks(
            self.store, incident, fmt, page_size=self.page_size, names=names, curations=view
        )
        async with contextlib.aclosing(chunks) as batches:
            async for batch in batches:
                yield batch

    async def timeline_bytes(self, incident: Incident, fmt: str) -> bytes:
        parts = [batch async for batch in self.timeline_chunks(incident, fmt)]
        return b"".join(parts)

    async def timeline_file(self, incident: Incident, fmt: str) -> tuple[str, bytes]:
        """The `/incident timeline` hook: (file name, content)."""
        return EXPORT_FORMATS[fmt].filename(incident.ref), await self.timeline_bytes(incident, fmt)

    # -- post-mortem ----------------------------------------------------------------

    async def postmortem_file(self, incident: Incident, _fmt: str = "md") -> tuple[str, bytes]:
        """The `/incident postmortem` hook: the Markdown only (one file: no chart)."""
        draft = await self.postmortem(incident)
        return f"{incident.ref}-postmortem.md", draft.markdown.encode("utf-8")

    async def postmortem(self, incident: Incident, *, chart_filename: str | None = None) -> Draft:
        """The draft; with `chart_filename`, also the chart PNG it links under that name
        (when Prometheus has data for the incident window)."""
        context, view = await self.postmortem_context(incident)
        chart: bytes | None = None
        if chart_filename and view is not None and (view.error_rate or view.latency_p95):
            chart = await asyncio.to_thread(draft_chart, context, view)
            context = replace(context, chart_filename=chart_filename)
        template = await asyncio.to_thread(template_text, self.template_path)
        markdown = await asyncio.to_thread(render_postmortem, context, template)
        return Draft(markdown, chart, context)

    async def postmortem_context(
        self, incident: Incident
    ) -> tuple[PostmortemContext, PrometheusView | None]:
        """Everything the draft says, from the database and Prometheus."""
        assert incident.id is not None
        incident_id = incident.id
        now = self.clock()
        # The draft is read by people: the commander as a mention (`@U0LEAD`), not a bare id.
        record = replace(incident_record(incident), commander=who(incident.commander))
        rows, view, names = await asyncio.gather(
            draft_rows(self.store, incident_id),
            self.prometheus_view(incident, now),
            self.people.of_incident(incident),
        )
        events, key_moments = await draft_timeline(
            self.store, self.curator, incident, names, self.timeline_edge
        )
        kinds = rows.kinds
        suspects = kinds["suspected_deploy"]
        ran = [r for r in rows.rollbacks if r.confirmed_at is not None]
        roles = role_assignments(incident, kinds["role_assigned"])
        context = PostmortemContext(
            incident=record,
            events=events,
            key_moments=key_moments,
            now=now,
            severity_history=severity_history(incident, kinds["severity_changed"]),
            roles=roles,
            rollbacks=[rollback_record(r) for r in ran],
            suspected_deploy=suspected_record(suspects[-1]) if suspects else None,
            status_figures=[status_figures(e) for e in kinds["status_checked"]],
            peak_error_rate=view.peak_error_rate if view else None,
            peak_error_rate_at=view.peak_at if view else None,
            alerts=[alert_record(a) for a in rows.alerts[:SECTION_LIMIT]],
            commands=command_runs(kinds, rows.rollbacks),
            action_items=action_items(rows.action_items[:SECTION_LIMIT], rows.todo_notes),
            participants=participants(rows.actors, roles, ran),
            silences=[silence_record(s) for s in rows.silences[:SECTION_LIMIT]],
            previous=await self._previous(incident),
        )
        # Read outside Slack: every mention in the draft carries the person's name.
        return with_names(context, names), view

    async def _previous(self, incident: Incident) -> list[dict[str, Any]]:
        if self.previous is None:
            return []
        try:
            return await self.previous(incident)
        except Exception:  # earlier incidents are a hint; the draft is written without them
            log.exception("previous occurrences unavailable", incident=incident.ref)
            return []

    async def prometheus_view(self, incident: Incident, now: datetime) -> PrometheusView | None:
        """Error rate and p95 latency around the incident window, and the peak error rate
        inside it; None when there is no Prometheus, no service, or no answer in time."""
        return await prometheus_view(
            self.prometheus, self.catalog, incident, now, timeout=self.timeout
        )

    # -- stats ----------------------------------------------------------------------

    async def stats(self, since: timedelta | None) -> IncidentStats:
        now = self.clock()
        start = now - since if since is not None else None
        rows, rollbacks = await asyncio.gather(
            self.store.incidents_started_since(start),
            self.store.completed_rollbacks_since(start),
        )
        mitigated = {r.id: r.mitigated_at for r in rows}
        rolled_back = set()
        for rollback in rollbacks:
            at = rollback.confirmed_at or rollback.created_at
            end = mitigated.get(rollback.incident_id)
            if end is not None and at <= end:
                rolled_back.add(f"INC-{rollback.incident_id}")
        records = [incident_record(r) for r in rows]
        groups = {r.ref: g for r in rows if (g := group_name(r.group_labels or {})) is not None}
        return incident_stats(records, rolled_back=rolled_back, since=start, now=now, groups=groups)
