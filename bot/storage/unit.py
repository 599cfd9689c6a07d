"""Unit: one transaction of work on the store (claims, the group lock, events, Slack jobs)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.storage.models import Incident, IncidentAlert, SlackJob, TimelineEvent, WebhookDelivery
from bot.storage.outbox import JobKind


class Unit:
    """One transaction of work on the store."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self._dialect = dialect

    async def lock_group(self, group_key: str) -> None:
        """Serialise work on one alert group across replicas (SQLite has one writer anyway)."""
        if self._dialect == "postgresql":
            key = zlib.crc32(group_key.encode())
            connection = await self.session.connection()
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    async def claim_delivery(self, delivery_id: int) -> WebhookDelivery | None:
        query = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                col(WebhookDelivery.processed_at).is_(None),
                col(WebhookDelivery.failed_at).is_(None),
            )
            .with_for_update(skip_locked=True)
        )
        return (await self.session.exec(query)).first()

    async def claim_deliveries(self, ids: Sequence[int]) -> list[WebhookDelivery]:
        """Those of `ids` still to process and not held by another replica, oldest first."""
        query = (
            select(WebhookDelivery)
            .where(
                col(WebhookDelivery.id).in_(ids),
                col(WebhookDelivery.processed_at).is_(None),
                col(WebhookDelivery.failed_at).is_(None),
            )
            .order_by(col(WebhookDelivery.id))
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.exec(query)).all())

    async def latest_incident(self, group_key: str) -> Incident | None:
        query = (
            select(Incident)
            .where(Incident.group_key == group_key)
            .order_by(col(Incident.id).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).first()

    async def add(self, row: Any) -> None:
        self.session.add(row)
        await self.session.flush()

    async def known_alerts(self, incident_id: int) -> dict[str, IncidentAlert]:
        query = select(IncidentAlert).where(IncidentAlert.incident_id == incident_id)
        return {a.fingerprint: a for a in (await self.session.exec(query)).all()}

    async def add_event(self, event: TimelineEvent) -> bool:
        """Insert unless its source key is already there; True when it was new."""
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        values = event.model_dump(exclude={"id"})
        statement = insert(TimelineEvent).values(**values).on_conflict_do_nothing()
        result = await self.session.exec(statement)
        return bool(getattr(result, "rowcount", 0))

    async def enqueue(
        self, incident_id: int, kind: JobKind, now: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        job = SlackJob(
            incident_id=incident_id,
            kind=kind.value,
            payload=payload or {},
            created_at=now,
            due_at=now,
        )
        await self.add(job)
