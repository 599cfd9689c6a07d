"""Unit: one transaction of work on the store (claims, the group lock, events, Slack jobs)."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.storage.models import Incident, IncidentAlert, SlackJob, TimelineEvent, WebhookDelivery
from bot.storage.outbox import JobKind

_ALERTS = IncidentAlert.__table__  # type: ignore[attr-defined]
_EVENTS = TimelineEvent.__table__  # type: ignore[attr-defined]
_JOBS = SlackJob.__table__  # type: ignore[attr-defined]


class StoredAlert(NamedTuple):
    """An alert's last known state, as stored for its incident."""

    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


@functools.cache
def _upsert_alerts(dialect: str) -> sa.Insert:
    """The alerts' upsert, built once: building `excluded` costs more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_ALERTS)
    return statement.on_conflict_do_update(
        index_elements=["incident_id", "fingerprint"],
        set_={name: statement.excluded[name] for name in StoredAlert._fields[1:]},
    )


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

    async def known_alerts(self, incident_id: int) -> dict[str, StoredAlert]:
        """The incident's alerts as last stored, by fingerprint (plain rows: a storm's group
        of a thousand alerts is read on every notification of it)."""
        t = _ALERTS.c
        query = sa.select(*(t[name] for name in StoredAlert._fields)).where(
            t.incident_id == incident_id
        )
        connection = await self.session.connection()
        return {row[0]: StoredAlert(*row) for row in (await connection.execute(query)).all()}

    async def save_alerts(self, incident_id: int, alerts: Sequence[StoredAlert]) -> None:
        """Insert or update each alert's last known state, in one statement per 500."""
        statement = _upsert_alerts(self._dialect)
        rows = [{"incident_id": incident_id, **a._asdict()} for a in alerts]
        connection = await self.session.connection()
        for start in range(0, len(rows), 500):
            await connection.execute(statement, rows[start : start + 500])

    async def add_event(self, event: TimelineEvent) -> bool:
        """Insert unless its source key is already there; True when it was new."""
        return event.source_key in await self.add_events([event])

    async def add_events(self, events: Sequence[TimelineEvent]) -> set[str]:
        """Insert those whose source key is not there yet; returns the source keys that
        were new."""
        return await self.add_event_rows([event.model_dump(exclude={"id"}) for event in events])

    async def add_event_rows(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """`add_events` of events given as their rows (`TimelineEvent.row`), in one statement
        per 500 (a notification's hundred alert changes, say, cost one round trip, not a
        hundred, while the transaction holds SQLite's one write lock)."""
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        # Many rows given to one statement: SQLAlchemy sends them as multi-row INSERTs
        # ("insertmanyvalues") from one compiled, cached statement.
        statement = insert(_EVENTS).on_conflict_do_nothing().returning(_EVENTS.c.source_key)
        if not rows:
            return set()
        await self.session.flush()  # the unit's pending rows first (the incident they name)
        connection = await self.session.connection()
        return {str(key) for (key,) in (await connection.execute(statement, rows)).all()}

    async def _sync_not_started(self, incident_id: int) -> bool:
        """Whether the incident has a sync job that no worker has claimed yet. Locked on
        PostgreSQL (a claim waits for this transaction), and on SQLite this transaction
        holds the one write lock: no worker can start it before this change is committed.
        In a storm this folds a hundred refreshes of one incident's pinned message and
        digest line into a few."""
        await self.session.flush()  # this unit's changes written (on SQLite: the lock taken)
        t = _JOBS.c
        query = (
            sa.select(t.id)
            .where(
                t.incident_id == incident_id,
                t.kind == JobKind.SYNC_INCIDENT.value,
                t.done_at.is_(None),
                t.failed_at.is_(None),
                t.attempts == 0,
            )
            .limit(1)
            .with_for_update()
        )
        connection = await self.session.connection()
        return (await connection.execute(query)).first() is not None

    async def enqueue(
        self, incident_id: int, kind: JobKind, now: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        if kind is JobKind.SYNC_INCIDENT and await self._sync_not_started(incident_id):
            return  # that one reads the incident when it runs: it will see this change too
        job = SlackJob(
            incident_id=incident_id,
            kind=kind.value,
            payload=payload or {},
            created_at=now,
            due_at=now,
        )
        await self.add(job)
