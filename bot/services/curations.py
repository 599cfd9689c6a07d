"""Reviewers' curation of timelines: stored, audited, and read back for the exports.

The decisions are `bot.core.curation`; this module reads and writes the
`event_curations` rows and writes each action's `curation` timeline event (actor:
the signed-in person, details: the event, the action, the state before and after)
in the same transaction, so there is never a change without its audit line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.curation import (
    CURATION_KIND,
    CurationError,
    Request,
    apply_action,
    curated_timeline,
)
from bot.core.exports import Curation, EventRecord
from bot.ports import ChatPort
from bot.services.report_rows import event_record
from bot.storage.models import EventCuration, Incident, TimelineEvent
from bot.storage.store import IncidentStore
from integrations.slack import SlackError

log = structlog.get_logger("incident_bot.audit")


def curation_of(row: EventCuration) -> Curation:
    return Curation(
        key_moment=row.key_moment,
        hidden=row.hidden,
        comment=row.comment,
        corrected_text=row.corrected_text,
        corrected_at=row.corrected_at,
    )


@dataclass(frozen=True)
class CurationView:
    """An incident's curations, ready to apply to a stream of its events."""

    curations: Mapping[int, Curation]
    moved: Mapping[int, EventRecord]  # events whose time was corrected, as first recorded

    def apply(self, events: Iterable[tuple[int | None, EventRecord]]) -> Iterator[EventRecord]:
        return curated_timeline(events, self.curations, self.moved)


class Curator:
    def __init__(self, store: IncidentStore, clock: Clock, chat: ChatPort | None = None) -> None:
        self.store, self.clock, self.chat = store, clock, chat
        self._slack_ids: dict[str, str | None] = {}  # e-mail -> Slack user id, per process

    async def slack_user(self, person: str) -> str | None:
        """The Slack user with the signed-in person's e-mail, for the audit (None: none,
        or not an e-mail, or Slack cannot say)."""
        if self.chat is None or "@" not in person:
            return None
        if person not in self._slack_ids:
            try:
                self._slack_ids[person] = await self.chat.user_by_email(person)
            except SlackError as e:  # an outage costs the mapping, never the curation
                log.warning("reviewer e-mail lookup failed", error=str(e))
                return None
        return self._slack_ids[person]

    async def view(self, incident_id: int) -> CurationView:
        rows = await self.store.curations(incident_id)
        curations = {event_id: curation_of(row) for event_id, row in rows.items()}
        moved_ids = [i for i, c in curations.items() if c.corrected_at is not None]
        moved = {
            e.id: event_record(e)
            for e in await self.store.events_by_id(moved_ids)
            if e.id is not None
        }
        return CurationView(curations, moved)

    async def curate(self, incident: Incident, event_id: int, request: Request, person: str) -> str:
        """Do `request` on the event; the audit line, or CurationError saying why not."""
        assert incident.id is not None
        event = await self.store.get(TimelineEvent, event_id)
        if event is None or event.incident_id != incident.id:
            raise CurationError(f"{incident.ref} has no event {event_id}")
        rows = await self.store.curations(incident.id)
        before = curation_of(rows[event_id]) if event_id in rows else Curation()
        after, line = apply_action(before, event_record(event), request, person)
        slack_user = await self.slack_user(person)
        now = self.clock()
        row = EventCuration(
            event_id=event_id,
            incident_id=incident.id,
            updated_by=person,
            updated_at=now,
            **{k: v for k, v in asdict(after).items() if k not in ("original_text", "original_at")},
        )
        audit = TimelineEvent.record(
            incident.id,
            CURATION_KIND,
            line,
            actor=slack_user or person,
            now=now,
            key=f"curation:{event_id}:{request.action.value}:{now.isoformat()}:{person}",
            details={
                "by": person,
                "slack_user": slack_user,
                "event_id": event_id,
                "action": request.action.value,
                "before": _plain(before),
                "after": _plain(after),
            },
        )
        await self.store.save_curation(row, audit)
        log.info("timeline curated", incident=incident.ref, event_id=event_id, by=person, what=line)
        return line


def _plain(curation: Curation) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(curation).items()
        if key not in ("original_text", "original_at")
    }
