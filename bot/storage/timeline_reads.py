"""TimelineReads: an incident's timeline as the pages, exports and post-mortems read it
(pages, keyset streams, edges, kinds, actors), and reviewers' curations of its events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from bot.storage.models import EventCuration, TimelineEvent
from bot.storage.store_base import StoreBase


class TimelineReads(StoreBase):
    async def timeline(self, incident_id: int) -> Sequence[TimelineEvent]:
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(col(TimelineEvent.occurred_at), col(TimelineEvent.id))
        )
        async with self._sessions() as session:
            return (await session.exec(query)).all()

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
        self,
        incident_id: int,
        after: tuple[datetime, int] | None,
        limit: int,
        *,
        details: bool = True,
    ) -> Sequence[Any]:
        """One page of an export: plain tuples (id, occurred_at, recorded_at, kind, actor,
        text, details, link) after the keyset `after`, in timeline order; `details=False`
        leaves every row's details `{}` (the Markdown export shows none).

        Plain rows from the database driver itself, not ORM objects nor SQLAlchemy results:
        building 50,000 model instances costs more than the query, and SQLAlchemy's result
        processing of the same values cost more than everything else in reading a page.
        The times and details are decoded here (`_export_rows`)."""
        keyset = after is not None
        dialect = self.engine.dialect.name
        sql = _ROWS_SQL[(dialect, keyset, details)]
        params: list[Any] = [incident_id]
        if after is not None:
            at, last_id = after
            params += [_bind_time(at, dialect), last_id]
        params.append(limit)
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection  # aiosqlite's or asyncpg's connection
            if dialect == "postgresql":
                rows = await driver.fetch(sql, *params)
            else:
                rows = await driver.execute_fetchall(sql, params)
        return _export_rows(rows, details=details)

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


def _rows_sql(dialect: str, keyset: bool, details: bool) -> str:
    """The page query with the driver's own numbered parameters (`$1` or `?1`): the
    incident, then with `keyset` the last row's time and id, then the limit."""
    mark = "$" if dialect == "postgresql" else "?"
    where = f"incident_id = {mark}1"
    if keyset:
        # `occurred_at >= at` first: a bound an index can start from, instead of reading
        # every earlier row of the incident again for each page.
        where += f" AND occurred_at >= {mark}2 AND (occurred_at > {mark}2 OR id > {mark}3)"
    columns = "id, occurred_at, recorded_at, kind, actor, text, "
    columns += ("details::text" if dialect == "postgresql" else "details") if details else "NULL"
    # Built from the constants above only: no value of a caller's is part of the text.
    return (
        f"SELECT {columns}, link FROM timeline_events WHERE {where} "  # noqa: S608
        f"ORDER BY occurred_at, id LIMIT {mark}{4 if keyset else 2}"
    )


_ROWS_SQL = {
    (dialect, keyset, details): _rows_sql(dialect, keyset, details)
    for dialect in ("sqlite", "postgresql")
    for keyset in (False, True)
    for details in (False, True)
}


def _bind_time(value: datetime, dialect: str) -> Any:
    # As `UTCDateTime` binds it: SQLite keeps naive UTC text in SQLAlchemy's format.
    value = value.astimezone(UTC)
    if dialect == "postgresql":
        return value
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _export_rows(rows: Sequence[Any], *, details: bool = True) -> list[tuple[Any, ...]]:
    """Raw timeline rows as `UTCDateTime` and `sa.JSON` would have read them."""
    if not details:
        return [(r[0], _utc(r[1]), _utc(r[2]), r[3], r[4], r[5], {}, r[7]) for r in rows]
    texts = [row[6] for row in rows]
    if all(type(text) is str for text in texts):
        # The page's details in one decode: the column holds the JSON SQLAlchemy wrote,
        # one value per row, so the list of them is read as one array.
        decoded = json.loads(f"[{','.join(texts)}]")
    else:
        decoded = [json.loads(t) if isinstance(t, str | bytes) else t for t in texts]
    return [
        (r[0], _utc(r[1]), _utc(r[2]), r[3], r[4], r[5], d, r[7])
        for r, d in zip(rows, decoded, strict=True)
    ]


def _utc(value: datetime | str) -> datetime:
    # SQLite keeps times as naive UTC text (SQLAlchemy's "2024-06-15 14:00:00.000000"): read
    # with its zone appended, cheaper than `.replace(tzinfo=UTC)` after. PostgreSQL's driver
    # hands aware datetimes.
    if isinstance(value, str):
        return datetime.fromisoformat(value + "+00:00")
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
