""" "Seen before?": past incidents like this one, with what fixed them, for Slack and drafts.

The database gives the candidates (same group key or same service, last 90
days) and what ended each (a completed rollback, a note marked as the fix, the
resolve summary); `bot.core.similar` ranks them and words the lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.block_kit import section
from bot.core.similar import (
    WINDOW,
    Fix,
    PastIncident,
    Shape,
    Similar,
    choose_fix,
    is_fix_note,
    outcome,
    rank,
    seen_before_line,
    similar_list,
)
from bot.storage.history import IncidentHistory
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore

log = structlog.get_logger(__name__)
PageUrl = Callable[[int], str | None]


def shape_of(incident: Incident) -> Shape:
    return Shape(
        group_key=incident.group_key,
        service=incident.service,
        alertname=incident.alertname,
        group_labels=dict(incident.group_labels or {}),
    )


def _past(row: Incident, fix: Fix | None) -> PastIncident:
    assert row.id is not None
    return PastIncident(
        id=row.id,
        ref=row.ref,
        title=row.title,
        shape=shape_of(row),
        status=row.status,
        started_at=row.started_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        channel_id=row.channel_id,
        fix=fix,
    )


def _occurrence(s: Similar) -> dict[str, Any]:
    past = s.incident
    return {
        "ref": past.ref,
        "title": past.title,
        "started_at": past.started_at,
        "likeness": s.likeness.label,
        "outcome": outcome(past),
    }


class SimilarIncidents:
    def __init__(
        self, store: IncidentStore, clock: Clock, *, page_url: PageUrl | None = None
    ) -> None:
        self.store, self.clock, self.page_url = store, clock, page_url
        self.history = IncidentHistory(store)

    async def find(self, incident: Incident) -> list[Similar]:
        """Past incidents like this one, best first (the incident itself left out)."""
        now = self.clock()
        shape = shape_of(incident)
        # Only incidents that started before this one are "before".
        until = min(now, incident.started_at)
        rows = await self.history.similar_candidates(
            group_key=shape.group_key, service=shape.service, since=until - WINDOW, until=until
        )
        rows = [r for r in rows if r.id is not None and r.id != incident.id]
        ids = [r.id for r in rows if r.id is not None]
        rollbacks: dict[int, tuple[str, int, list[str]]] = {}
        for rb in await self.history.completed_rollbacks_of(ids):
            if rb.incident_id is not None:  # the last completed one is what fixed it
                rollbacks[rb.incident_id] = (rb.deployment, rb.to_revision, list(rb.to_images))
        notes: dict[int, str] = {}
        for note in await self.history.notes_starting(ids, "fix"):
            if is_fix_note(note.text):
                notes[note.incident_id] = note.text
        past = [
            _past(
                r,
                choose_fix(
                    rollback=rollbacks.get(r.id),
                    fix_note=notes.get(r.id),
                    summary=r.resolution_summary,
                ),
            )
            for r in rows
            if r.id is not None
        ]
        return rank(shape, past, now=until, exclude=incident.id)

    def link(self, past: PastIncident) -> str:
        """`INC-12` linked to its channel, and to its page when incident pages are on."""
        text = f"*{past.ref}*"
        if past.channel_id:
            text += f" (<#{past.channel_id}>)"
        url = self.page_url(past.id) if self.page_url else None
        if url:
            text += f" <{url}|page>"
        return text

    async def seen_before_blocks(self, incident: Incident) -> list[dict[str, Any]]:
        """The hook for the room's first message: one line, with a timeline row."""
        similar = await self.find(incident)
        line = seen_before_line(similar, self.clock(), link=self.link)
        if incident.id is not None:
            now = self.clock()
            await self.store.add_event(
                TimelineEvent.record(
                    incident.id,
                    "seen_before",
                    line.removeprefix(":repeat: "),
                    actor="incident-bot",
                    now=now,
                    key=f"incident:{incident.id}:seen_before",
                    details={"similar": [s.incident.ref for s in similar[:10]]},
                )
            )
        return [section(line)]

    async def similar_text(self, incident: Incident) -> str:
        """`/incident similar`: up to 10, one line each."""
        return similar_list(await self.find(incident), self.clock(), link=self.link)

    async def previous_occurrences(self, incident: Incident) -> list[dict[str, Any]]:
        """For the post-mortem draft's "Previous occurrences"."""
        return [_occurrence(s) for s in (await self.find(incident))[:10]]
