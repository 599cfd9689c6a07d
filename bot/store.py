"""IncidentStore: every read and write of incidents, timelines, deliveries and Slack jobs."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Incident, IncidentAlert, SlackJob, TimelineEvent, WebhookDelivery


T = TypeVar("T", bound=SQLModel)


def parse_ref(ref: str) -> int | None:
    """`INC-7`, `inc-7` or `7` -> 7; anything else -> None."""
    text = ref.strip().upper().removeprefix("INC-")
    return int(text) if text.isdigit() else None


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
            .where(WebhookDelivery.id == delivery_id, col(WebhookDelivery.processed_at).is_(None))
            .with_for_update(skip_locked=True)
        )
        return (await self.session.exec(query)).first()

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
        self, incident_id: int, kind: str, now: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        job = SlackJob(
            incident_id=incident_id, kind=kind, payload=payload or {}, created_at=now, due_at=now
        )
        await self.add(job)


class IncidentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with self._sessions() as session, session.begin():
            yield Unit(session, self.dialect)

    async def save_delivery(self, *, body: str, group_key: str, received_at: datetime) -> int:
        row = WebhookDelivery(received_at=received_at, group_key=group_key, body=body)
        async with self.unit() as unit:
            await unit.add(row)
        assert row.id is not None
        return row.id

    async def pending_delivery_ids(self, limit: int = 200) -> list[int]:
        query = (
            select(WebhookDelivery.id)
            .where(col(WebhookDelivery.processed_at).is_(None))
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

    async def timeline(self, incident_id: int) -> Sequence[TimelineEvent]:
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(col(TimelineEvent.occurred_at), col(TimelineEvent.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def save(self, row: T) -> T:
        """Insert or update one row; returns it with its id."""
        async with self.unit() as unit:
            await unit.add(row)
        return row

    async def get(self, model: type[T], row_id: int) -> T | None:
        async with self._sessions() as session:
            return await session.get(model, row_id)

    async def update_incident(self, incident_id: int, **values: Any) -> None:
        async with self.unit() as unit:
            statement = sa.update(Incident).where(col(Incident.id) == incident_id).values(**values)
            await unit.session.exec(statement)

    async def add_event(self, event: TimelineEvent) -> bool:
        async with self.unit() as unit:
            return await unit.add_event(event)

    async def open_jobs(self) -> Sequence[SlackJob]:
        query = (
            select(SlackJob)
            .where(col(SlackJob.done_at).is_(None), col(SlackJob.failed_at).is_(None))
            .order_by(col(SlackJob.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def claim_job(self, job_id: int, *, now: datetime, lease: timedelta) -> bool:
        """Compare-and-set a lease so two replicas never run the same job at once."""
        free = sa.or_(col(SlackJob.lease_until).is_(None), col(SlackJob.lease_until) < now)
        statement = (
            sa.update(SlackJob)
            .where(col(SlackJob.id) == job_id, col(SlackJob.done_at).is_(None), free)
            .values(lease_until=now + lease, attempts=SlackJob.attempts + 1)
        )
        async with self.unit() as unit:
            result = await unit.session.exec(statement)
            return bool(getattr(result, "rowcount", 0))

    async def finish_job(self, job_id: int, *, now: datetime) -> None:
        await self._set_job(job_id, done_at=now, lease_until=None, last_error=None)

    async def retry_job(self, job_id: int, *, error: str, due_at: datetime) -> None:
        await self._set_job(job_id, due_at=due_at, lease_until=None, last_error=error)

    async def fail_job(self, job_id: int, *, error: str, now: datetime) -> None:
        await self._set_job(job_id, failed_at=now, lease_until=None, last_error=error)

    async def _set_job(self, job_id: int, **values: Any) -> None:
        async with self.unit() as unit:
            statement = sa.update(SlackJob).where(col(SlackJob.id) == job_id).values(**values)
            await unit.session.exec(statement)
