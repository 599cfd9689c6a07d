"""Group commit of Alertmanager deliveries: many bodies, one transaction, one fsync.

A 200 promises that the body is committed, so each request waits for a commit. One
commit per request spends the time in fsync (SQLite) or a round trip (PostgreSQL)
while the event loop idles; instead, bodies that arrive while a commit is in flight
go into the next transaction together, and each request is answered when the
transaction holding it has committed. Plain Core inserts: no ORM objects on the
hot path, and one connection kept for them (no pool checkout and pre-ping per batch).
A byte-identical body already in the batch is stored once; so is one identical to its
group's newest delivery stored here a moment ago and not yet picked up for processing
(`stored_unprocessed`): that request is answered at once, with the stored delivery's id.
What the route parsed of a body is kept, bounded, for processing to take (`take_parsed`):
a body is then parsed once, not once more when it is processed a moment later.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.alerts import Notification
from bot.storage.db import sqlite_connect, sqlite_time

log = structlog.get_logger(__name__)

# Answered from what is stored only this long: another replica may process that
# delivery without our knowing; our own processing says so (`forget_unprocessed`).
STORED_FOR_S = 1.0
MAX_REMEMBERED = 1000  # groups
# Parsed notifications kept for processing, by their bodies' characters (a parsed body
# takes about four times its size): the oldest go first, and are parsed again if needed.
# Enough for the few thousand deliveries processing may lag behind a flood of small
# notifications; a large one (a storm's group of a hundred alerts) is not kept: twenty
# of them would fill the bound, and the bot's RSS keeps its peak.
MAX_PARSED_CHARS = 4 * 1024 * 1024
MAX_PARSED_BODY = 4 * 1024
MAX_BATCH = 500  # rows: one INSERT statement (SQLite takes 32,766 parameters, 3 a row)
# The batch's one statement, written out rather than compiled by SQLAlchemy per batch: on
# the hot path its per-row binding cost more than the rest of a request. Each id comes
# back with its body (unique in a batch): a multi-row RETURNING has no documented order.
_POSTGRES_INSERT = (
    "INSERT INTO webhook_deliveries (received_at, group_key, body, attempts) "
    "SELECT r, g, b, 0 FROM unnest($1::timestamptz[], $2::text[], $3::text[]) AS t(r, g, b) "
    "RETURNING id, body"
)
_SQLITE_INSERT = "INSERT INTO webhook_deliveries (received_at, group_key, body, attempts) VALUES "
_SQLITE_ROW = "(?, ?, ?, 0)"


def _nothing() -> None:
    pass


@dataclass
class _Pending:
    body: str
    group_key: str
    received_at: datetime
    done: asyncio.Future[int]
    parsed: Notification | None


class GroupCommit:
    def __init__(self, engine: AsyncEngine, *, on_commit: Callable[[], None] = _nothing) -> None:
        self.engine = engine
        self.on_commit = on_commit  # counts the commits (a metric)
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None
        # Committed, not yet picked up by this process's processing, newest of its group:
        # body -> (delivery id, group key, monotonic time of the commit); group -> body.
        self._unprocessed: dict[str, tuple[int, str, float]] = {}
        self._newest: dict[str, str] = {}
        # Delivery id -> (what the route parsed of its body, the body's characters).
        self._parsed: dict[int, tuple[Notification, int]] = {}
        self._parsed_chars = 0
        # SQLite: aiosqlite makes four thread hops of one statement (cursor, execute,
        # fetchall, close), each a wake-up of its thread and then of the event loop; on a
        # busy machine those hand-offs, not the fsync, set the pace. A plain sqlite3
        # connection on a thread of our own does the whole batch in one hop.
        self._sqlite: _SqliteWriter | None = (
            _SqliteWriter(engine) if engine.dialect.name == "sqlite" else None
        )

    async def save(
        self,
        *,
        body: str,
        group_key: str,
        received_at: datetime,
        parsed: Notification | None = None,
    ) -> int:
        """The delivery's id, once the transaction holding it has committed. `parsed`:
        the body's notification, kept for processing to take."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group commit")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(body, group_key, received_at, done, parsed))
        self._wake.set()
        return await done

    def stored_unprocessed(self, body: str) -> int | None:
        """The id of a committed delivery with exactly this body, still waiting to be
        processed and the newest of its group, so that storing the body again would add
        nothing (the same group state, in the same place in the group's order)."""
        hit = self._unprocessed.get(body)
        if hit is None or time.monotonic() - hit[2] > STORED_FOR_S:
            return None
        return hit[0]

    def take_parsed(self, delivery_id: int) -> Notification | None:
        """The notification parsed of this delivery's body on receipt, if still kept
        (once: processing takes it)."""
        kept = self._parsed.pop(delivery_id, None)
        if kept is None:
            return None
        self._parsed_chars -= kept[1]
        return kept[0]

    def _keep_parsed(self, delivery_id: int, notification: Notification, chars: int) -> None:
        if delivery_id in self._parsed:
            return  # the same body twice in a batch: one delivery
        self._parsed[delivery_id] = (notification, chars)
        self._parsed_chars += chars
        while self._parsed_chars > MAX_PARSED_CHARS:
            self._parsed_chars -= self._parsed.pop(next(iter(self._parsed)))[1]

    def forget_unprocessed(self) -> None:
        """Processing is about to read the pending deliveries: a body that arrives from now
        on may be read too late by this pass, so it is stored again."""
        self._unprocessed.clear()
        self._newest.clear()

    def _remember(self, body: str, group_key: str, delivery_id: int, now: float) -> None:
        older = self._newest.pop(group_key, None)
        if older is not None:
            self._unprocessed.pop(older, None)  # no longer its group's newest
        if len(self._newest) >= MAX_REMEMBERED:
            self.forget_unprocessed()
        self._newest[group_key] = body
        self._unprocessed[body] = (delivery_id, group_key, now)

    async def stop(self) -> None:
        """Once the server answered its last request: stop, committing anything queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._commit(batch)
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection is being dropped anyway
                await connection.close()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._commit(batch)

    async def _insert(self, rows: list[_Pending]) -> dict[str, int]:
        if self._sqlite is not None:
            return await self._sqlite.insert(rows)
        if self._connection is None:
            # Autocommit: the batch is one INSERT statement, which the database commits on
            # its own when it ends: no BEGIN and COMMIT round trips. PostgreSQL still
            # flushes its WAL before answering; all rows or none, as in a transaction.
            connection = await self.engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        raw = await self._connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg's connection, the pool's own
        try:
            records = await driver.fetch(
                _POSTGRES_INSERT,
                [p.received_at for p in rows],
                [p.group_key for p in rows],
                [p.body for p in rows],
            )
        except Exception as e:  # as SQLAlchemy would say it, so that its handling applies
            raise sa.exc.DBAPIError(
                _POSTGRES_INSERT, None, e, connection_invalidated=driver.is_closed()
            ) from e
        return {str(r["body"]): int(r["id"]) for r in records}

    async def _commit(self, batch: list[_Pending]) -> None:
        unique: dict[str, _Pending] = {}
        for item in batch:
            unique.setdefault(item.body, item)
        rows = list(unique.values())
        try:
            try:
                by_body = await self._insert(rows)
            except sa.exc.DBAPIError as e:
                if not e.connection_invalidated:
                    raise
                # The kept connection died while idle (a server restart, an idle timeout):
                # once more on a fresh one rather than a 5xx for the whole batch.
                await self._drop_connection()
                by_body = await self._insert(rows)
        except BaseException as e:  # every request of the batch hears it: a 5xx, and a retry
            await asyncio.shield(self._drop_connection())  # the next batch starts afresh
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(
                        e if isinstance(e, Exception) else RuntimeError("stopped before commit")
                    )
            if not isinstance(e, Exception):
                raise
            return
        self.on_commit()
        now = time.monotonic()
        for item in batch:  # in arrival order: the group's last one is its newest
            self._remember(item.body, item.group_key, by_body[item.body], now)
            if item.parsed is not None and len(item.body) <= MAX_PARSED_BODY:
                self._keep_parsed(by_body[item.body], item.parsed, len(item.body))
            if not item.done.done():
                item.done.set_result(by_body[item.body])


class _SqliteWriter:
    """The batch's INSERT on one sqlite3 connection, on one thread kept for it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._url = engine.url
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="group-commit")
        self._connection: sqlite3.Connection | None = None  # used on that thread only

    async def insert(self, rows: list[_Pending]) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._insert, rows)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)

    def _insert(self, rows: list[_Pending]) -> dict[str, int]:
        if self._connection is None:  # autocommit: one statement, one commit, one fsync
            self._connection = sqlite_connect(self._url)
        statement = _SQLITE_INSERT + ", ".join([_SQLITE_ROW] * len(rows)) + " RETURNING id, body"
        parameters: list[object] = []
        for p in rows:
            parameters += (sqlite_time(p.received_at), p.group_key, p.body)
        found = self._connection.execute(statement, parameters).fetchall()
        return {str(body): int(id_) for id_, body in found}

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
