"""IncidentStore: every read and write of incidents, timelines, deliveries and Slack jobs.

Made of parts, one module each: `StoreBase` (engine, sessions, units), `SlackJobQueue`,
`TimelineReads` and `ReportReads`; this module holds the rows' own reads and writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from bot.storage.job_queue import SlackJobQueue
from bot.storage.models import Incident, TimelineEvent, WebhookDelivery
from bot.storage.report_reads import ReportReads
from bot.storage.store_base import T
from bot.storage.timeline_reads import TimelineReads
from bot.storage.unit import Unit

# `Unit` is imported from here by the intake and the services, as before the split.
__all__ = ["IncidentStore", "Unit", "parse_ref"]


def parse_ref(ref: str) -> int | None:
    """`INC-7`, `inc-7` or `7` -> 7; anything else -> None."""
    text = ref.strip().upper().removeprefix("INC-")
    # `isdigit` alone is not `int`: "²" is a digit to it, and 5,000 digits are too many for
    # `int`; "٣" would parse, but no ref is written that way. ASCII, and no more than an id.
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


class IncidentStore(SlackJobQueue, TimelineReads, ReportReads):
    async def pending_delivery_ids(self, limit: int = 200) -> list[int]:
        """Deliveries still to process (parked failures are not pending)."""
        query = (
            select(WebhookDelivery.id)
            .where(
                col(WebhookDelivery.processed_at).is_(None),
                col(WebhookDelivery.failed_at).is_(None),
            )
            .order_by(col(WebhookDelivery.id))
            .limit(limit)
        )
        async with self._sessions() as session:
            return [i for i in (await session.exec(query)).all() if i is not None]

    async def incident(self, ref: str | int) -> Incident | None:
        incident_id = ref if isinstance(ref, int) else parse_ref(ref)
        if incident_id is None:
            return None
        async with self._sessions() as session:
            return await session.get(Incident, incident_id)

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        query = select(Incident).where(Incident.channel_id == channel_id).limit(1)
        async with self._sessions() as session:
            return (await session.exec(query)).first()

    async def incidents(self, *, open_only: bool = False) -> Sequence[Incident]:
        query = select(Incident).order_by(col(Incident.id).desc())
        if open_only:
            query = query.where(col(Incident.status).not_in(["resolved", "closed"]))
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def save(self, row: T) -> T:
        """Insert or update one row; returns it with its id."""
        async with self.unit() as unit:
            await unit.add(row)
        return row

    async def update_row(self, model: type[T], row_id: int, **values: Any) -> T | None:
        """UPDATE one row by id and return it as stored."""
        async with self.unit() as unit:
            key = model.__table__.c.id  # type: ignore[attr-defined]
            await unit.session.exec(sa.update(model).where(key == row_id).values(**values))
        return await self.get(model, row_id)

    async def claim_row(
        self, model: type[T], row_id: int, where: Mapping[str, Any], **values: Any
    ) -> bool:
        """UPDATE one row by id only while its columns still hold `where`: True if it did.

        One statement, so of two concurrent claims (a double click, two replicas) one wins.
        """
        async with self.unit() as unit:
            table = model.__table__  # type: ignore[attr-defined]
            conditions = [table.c.id == row_id, *(table.c[k] == v for k, v in where.items())]
            result = await unit.session.exec(sa.update(model).where(*conditions).values(**values))
            return bool(result.rowcount == 1)

    async def get(self, model: type[T], row_id: int) -> T | None:
        async with self._sessions() as session:
            return await session.get(model, row_id)

    async def reserve_channel_name(self, incident_id: int, name: str) -> bool:
        """Hold `name` for the incident (giving up the one it held); False when another
        incident holds it."""
        statement = (
            sa.update(Incident).where(col(Incident.id) == incident_id).values(channel_reserved=name)
        )
        try:
            async with self.unit() as unit:
                await unit.session.exec(statement)
        except sa.exc.IntegrityError:
            return False
        return True

    async def update_incident(self, incident_id: int, **values: Any) -> None:
        async with self.unit() as unit:
            statement = sa.update(Incident).where(col(Incident.id) == incident_id).values(**values)
            await unit.session.exec(statement)

    async def add_event(self, event: TimelineEvent) -> bool:
        async with self.unit() as unit:
            return await unit.add_event(event)
