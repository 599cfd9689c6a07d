"""IncidentStore: every read and write of incidents, timelines, deliveries and Slack jobs."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.rollback import RollbackStatus
from bot.storage.models import (
    ActionItem,
    EventCuration,
    Incident,
    IncidentAlert,
    Rollback,
    Silence,
    SlackJob,
    TimelineEvent,
    WebhookDelivery,
)
from bot.storage.outbox import JobKind

T = TypeVar("T", bound=SQLModel)


def parse_ref(ref: str) -> int | None:
    """`INC-7`, `inc-7` or `7` -> 7; anything else -> None."""
    text = ref.strip().upper().removeprefix("INC-")
    # `isdigit` alone is not `int`: "²" is a digit to it, and 5,000 digits are too many for
    # `int`; "٣" would parse, but no ref is written that way. ASCII, and no more than an id.
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


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

    async def claim_job(
        self, job_id: int, *, now: datetime, lease: timedelta, owner: str = ""
    ) -> bool:
        """Compare-and-set a lease so two replicas never run the same job at once."""
        free = sa.or_(col(SlackJob.lease_until).is_(None), col(SlackJob.lease_until) < now)
        statement = (
            sa.update(SlackJob)
            .where(col(SlackJob.id) == job_id, col(SlackJob.done_at).is_(None), free)
            .values(lease_until=now + lease, attempts=SlackJob.attempts + 1, claimed_by=owner)
        )
        async with self.unit() as unit:
            result = await unit.session.exec(statement)
            return bool(getattr(result, "rowcount", 0))

    async def finish_job(self, job_id: int, *, now: datetime) -> None:
        await self._set_job(
            job_id, done_at=now, lease_until=None, last_error=None, failing_since=None
        )

    async def retry_job(
        self, job_id: int, *, error: str, due_at: datetime, failing_since: datetime | None = None
    ) -> None:
        await self._set_job(
            job_id, due_at=due_at, lease_until=None, last_error=error, failing_since=failing_since
        )

    async def release_claims(self, owner: str) -> int:
        """At start: the claims a previous run of this replica (same owner) left by dying."""
        statement = (
            sa.update(SlackJob)
            .where(
                col(SlackJob.claimed_by) == owner,
                col(SlackJob.lease_until).is_not(None),
                col(SlackJob.done_at).is_(None),
            )
            .values(lease_until=None)
        )
        async with self.unit() as unit:
            result = await unit.session.exec(statement)
            return int(getattr(result, "rowcount", 0) or 0)

    async def release_job(self, job_id: int) -> None:
        """Give a claimed job back at once (a stop interrupted it)."""
        await self._set_job(job_id, lease_until=None)

    async def open_job_count(self, incident_id: int) -> int:
        query = select(sa.func.count()).where(
            SlackJob.incident_id == incident_id,
            col(SlackJob.done_at).is_(None),
            col(SlackJob.failed_at).is_(None),
        )
        async with self._sessions() as session:
            return int((await session.exec(query)).one())

    async def fail_job(self, job_id: int, *, error: str, now: datetime) -> None:
        await self._set_job(job_id, failed_at=now, lease_until=None, last_error=error)

    async def _set_job(self, job_id: int, **values: Any) -> None:
        async with self.unit() as unit:
            statement = sa.update(SlackJob).where(col(SlackJob.id) == job_id).values(**values)
            await unit.session.exec(statement)

    # -- reads for reports (timeline exports, post-mortems, stats) --------------------------

    async def stream_timeline(
        self, incident_id: int, page: int = 1000
    ) -> AsyncIterator[TimelineEvent]:
        """The incident's events in (occurred_at, id) order, `page` rows per query.

        Keyset pagination: each page is its own short query that starts after the
        last row seen, so memory holds one page and no connection stays open
        while the caller works on the rows.
        """
        after: tuple[datetime, int] | None = None
        while True:
            query = (
                select(TimelineEvent)
                .where(TimelineEvent.incident_id == incident_id)
                .order_by(col(TimelineEvent.occurred_at), col(TimelineEvent.id))
                .limit(page)
            )
            if after is not None:
                at, last_id = after
                query = query.where(
                    sa.or_(
                        col(TimelineEvent.occurred_at) > at,
                        sa.and_(
                            col(TimelineEvent.occurred_at) == at, col(TimelineEvent.id) > last_id
                        ),
                    )
                )
            async with self._sessions() as session:
                rows = (await session.exec(query)).all()
            for row in rows:
                yield row
            if len(rows) < page:
                return
            last = rows[-1]
            assert last.id is not None
            after = (last.occurred_at, last.id)

    async def timeline_page(
        self,
        incident_id: int,
        *,
        kinds: Sequence[str] | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int = 500,
    ) -> tuple[Sequence[TimelineEvent], int]:
        """One page of the incident page's timeline, filtered in SQL, and how many match.

        `kinds` None: every kind; `text` matches text or actor, case-insensitively."""
        where: list[Any] = [TimelineEvent.incident_id == incident_id]
        if kinds is not None:
            where.append(col(TimelineEvent.kind).in_(list(kinds)))
        if text:
            pattern = (
                "%"
                + text.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
                + "%"
            )
            where.append(
                sa.or_(
                    sa.func.lower(col(TimelineEvent.text)).like(pattern, escape="\\"),
                    sa.func.lower(sa.func.coalesce(col(TimelineEvent.actor), "")).like(
                        pattern, escape="\\"
                    ),
                )
            )
        query = (
            select(TimelineEvent)
            .where(*where)
            .order_by(col(TimelineEvent.occurred_at), col(TimelineEvent.id))
            .offset(offset)
            .limit(limit)
        )
        count = select(sa.func.count()).select_from(TimelineEvent).where(*where)
        async with self._sessions() as session:
            rows = (await session.exec(query)).all()
            total = int((await session.exec(count)).one())
        return rows, total

    async def timeline_kinds(self, incident_id: int) -> list[str]:
        query = (
            select(TimelineEvent.kind).where(TimelineEvent.incident_id == incident_id).distinct()
        )
        async with self._sessions() as session:
            return sorted((await session.exec(query)).all())

    async def events_after(
        self, incident_id: int, after_id: int, limit: int = 200
    ) -> Sequence[TimelineEvent]:
        """Events added after `after_id` (ids grow with inserts): what a live page lacks."""
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id, col(TimelineEvent.id) > after_id)
            .order_by(col(TimelineEvent.id))
            .limit(limit)
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def last_event_id(self, incident_id: int) -> int:
        query = select(sa.func.max(col(TimelineEvent.id))).where(
            TimelineEvent.incident_id == incident_id
        )
        async with self._sessions() as session:
            return int((await session.exec(query)).one() or 0)

    async def curations(self, incident_id: int) -> dict[int, EventCuration]:
        """Reviewers' curations of the incident's events, by event id (a handful, not 50,000)."""
        query = select(EventCuration).where(EventCuration.incident_id == incident_id)
        async with self._sessions() as session:
            return {c.event_id: c for c in (await session.exec(query)).all()}

    async def events_by_id(self, ids: Sequence[int]) -> list[TimelineEvent]:
        if not ids:
            return []
        query = select(TimelineEvent).where(col(TimelineEvent.id).in_(list(ids)))
        async with self._sessions() as session:
            return list((await session.exec(query)).all())

    async def save_curation(self, curation: EventCuration, audit: TimelineEvent) -> None:
        """The curation (inserted or replaced) and its audit event, in one transaction."""
        async with self.unit() as unit:
            await unit.session.merge(curation)
            await unit.add_event(audit)

    async def timeline_rows_after(
        self, incident_id: int, after: tuple[datetime, int] | None, limit: int
    ) -> Sequence[Any]:
        """One page of an export: plain rows (id, occurred_at, recorded_at, kind, actor,
        text, details, link) after the keyset `after`, in timeline order.

        Plain rows, not ORM objects: building 50,000 model instances costs more than the
        query itself."""
        table = TimelineEvent.__table__  # type: ignore[attr-defined]
        c = table.c
        query = (
            sa.select(
                c.id, c.occurred_at, c.recorded_at, c.kind, c.actor, c.text, c.details, c.link
            )
            .where(c.incident_id == incident_id)
            .order_by(c.occurred_at, c.id)
            .limit(limit)
        )
        if after is not None:
            at, last_id = after
            query = query.where(
                sa.or_(c.occurred_at > at, sa.and_(c.occurred_at == at, c.id > last_id))
            )
        async with self.engine.connect() as connection:
            return (await connection.execute(query)).all()

    async def timeline_edge_of_kind(self, incident_id: int, kind: str) -> TimelineEvent | None:
        """The newest event of one kind (the last `/status` figures, say)."""
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind)
            .order_by(col(TimelineEvent.occurred_at).desc(), col(TimelineEvent.id).desc())
            .limit(1)
        )
        async with self._sessions() as session:
            return (await session.exec(query)).first()

    async def timeline_count(self, incident_id: int) -> int:
        query = select(sa.func.count()).where(TimelineEvent.incident_id == incident_id)
        async with self._sessions() as session:
            return int((await session.exec(query)).one())

    async def timeline_edge(
        self, incident_id: int, limit: int, *, newest: bool = False
    ) -> list[TimelineEvent]:
        """The first (or, with `newest`, the last) `limit` events, in timeline order."""
        order = (col(TimelineEvent.occurred_at), col(TimelineEvent.id))
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(*(c.desc() for c in order) if newest else order)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = list((await session.exec(query)).all())
        return rows[::-1] if newest else rows

    async def timeline_of_kinds(
        self,
        incident_id: int,
        kinds: Sequence[str],
        *,
        limit: int = 500,
        text_prefix: str | None = None,
    ) -> Sequence[TimelineEvent]:
        """The first `limit` events of these kinds; `text_prefix` matches case-insensitively
        after leading spaces."""
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id, col(TimelineEvent.kind).in_(kinds))
            .order_by(col(TimelineEvent.occurred_at), col(TimelineEvent.id))
            .limit(limit)
        )
        if text_prefix is not None:
            pattern = text_prefix.lower().replace("%", r"\%").replace("_", r"\_") + "%"
            text = sa.func.lower(sa.func.ltrim(col(TimelineEvent.text)))
            query = query.where(text.like(pattern, escape="\\"))
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def timeline_actors(self, incident_id: int) -> list[str]:
        """Distinct actors of the incident's events, in order of first appearance."""
        first = sa.func.min(col(TimelineEvent.occurred_at))
        query = (
            select(TimelineEvent.actor, first)
            .where(TimelineEvent.incident_id == incident_id, col(TimelineEvent.actor).is_not(None))
            .group_by(col(TimelineEvent.actor))
            .order_by(first, col(TimelineEvent.actor))
        )
        async with self._sessions() as session:
            return [actor for actor, _ in (await session.exec(query)).all() if actor]

    async def incident_alert_rows(self, incident_id: int) -> Sequence[IncidentAlert]:
        query = (
            select(IncidentAlert)
            .where(IncidentAlert.incident_id == incident_id)
            .order_by(col(IncidentAlert.starts_at), col(IncidentAlert.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incident_rollbacks(self, incident_id: int) -> Sequence[Rollback]:
        query = (
            select(Rollback)
            .where(Rollback.incident_id == incident_id)
            .order_by(col(Rollback.created_at), col(Rollback.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incident_silences(self, incident_id: int) -> Sequence[Silence]:
        query = (
            select(Silence)
            .where(Silence.incident_id == incident_id)
            .order_by(col(Silence.starts_at), col(Silence.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incident_action_items(self, incident_id: int) -> Sequence[ActionItem]:
        query = (
            select(ActionItem)
            .where(ActionItem.incident_id == incident_id)
            .order_by(col(ActionItem.created_at), col(ActionItem.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def incidents_started_since(self, since: datetime | None) -> Sequence[Incident]:
        query = select(Incident).order_by(col(Incident.id).desc())
        if since is not None:
            query = query.where(col(Incident.started_at) >= since)
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def completed_rollbacks_since(self, since: datetime | None) -> Sequence[Rollback]:
        """Completed rollbacks of incidents that started at or after `since`."""
        query = (
            select(Rollback)
            .join(Incident, col(Incident.id) == col(Rollback.incident_id))
            .where(Rollback.status == RollbackStatus.COMPLETED.value)
            .order_by(col(Rollback.id))
        )
        if since is not None:
            query = query.where(col(Incident.started_at) >= since)
        async with self._sessions() as session:
            return (await session.exec(query)).all()

    async def rollbacks_with_status(self, status: str) -> Sequence[Rollback]:
        query = select(Rollback).where(Rollback.status == status).order_by(col(Rollback.id))
        async with self._sessions() as session:
            return (await session.exec(query)).all()
