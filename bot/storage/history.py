"""Reads across incidents for "have we seen this before?": candidates, and what fixed them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from bot.storage.models import Incident, Rollback, TimelineEvent
from bot.storage.store import IncidentStore


class IncidentHistory:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    async def _all(self, query: Any) -> Sequence[Any]:
        async with self.store.unit() as unit:
            rows: Sequence[Any] = (await unit.session.exec(query)).all()
        return rows

    async def similar_candidates(
        self,
        *,
        group_key: str | None,
        service: str | None,
        since: datetime,
        until: datetime,
        limit: int = 500,
    ) -> Sequence[Incident]:
        """Incidents of the same group or service that started in [since, until], newest
        first; the core ranks them (`bot.core.similar`)."""
        same = [col(Incident.group_key) == group_key] if group_key else []
        same += [col(Incident.service) == service] if service else []
        if not same:
            return []
        query = (
            select(Incident)
            .where(sa.or_(*same), col(Incident.started_at) >= since)
            .where(col(Incident.started_at) <= until)
            .order_by(col(Incident.started_at).desc(), col(Incident.id).desc())
            .limit(limit)
        )
        return await self._all(query)

    async def completed_rollbacks_of(self, incident_ids: Sequence[int]) -> Sequence[Rollback]:
        if not incident_ids:
            return []
        query = (
            select(Rollback)
            .where(col(Rollback.incident_id).in_(incident_ids), Rollback.status == "completed")
            .order_by(col(Rollback.id))
        )
        return await self._all(query)

    async def notes_starting(
        self, incident_ids: Sequence[int], prefix: str
    ) -> Sequence[TimelineEvent]:
        """Notes of these incidents whose text starts with `prefix` (any case), oldest first."""
        if not incident_ids:
            return []
        pattern = prefix.lower().replace("%", r"\%").replace("_", r"\_") + "%"
        text = sa.func.lower(sa.func.ltrim(col(TimelineEvent.text)))
        query = (
            select(TimelineEvent)
            .where(col(TimelineEvent.incident_id).in_(incident_ids), TimelineEvent.kind == "note")
            .where(text.like(pattern, escape="\\"))
            .order_by(col(TimelineEvent.occurred_at), col(TimelineEvent.id))
        )
        return await self._all(query)
