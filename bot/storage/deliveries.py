"""The queue of stored Alertmanager deliveries: what is pending, retrying, parked.

Processing a delivery can fail for reasons no retry fixes (a bug meeting an odd
payload). Such a delivery is tried a bounded number of times with backoff, then
parked as failed with its error, and never holds back another group: an operator
sees it (`/metrics`, `incident-bot check`, `incident-bot deliveries --failed`)
and replays it after a fix (`--retry ID`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select

from bot.storage.db import sqlite_time
from bot.storage.models import WebhookDelivery
from bot.storage.store import IncidentStore, Unit

MAX_ERROR_CHARS = 2000


class PendingDelivery(NamedTuple):  # a tuple: a storm reads thousands a second
    id: int
    group_key: str
    next_attempt_at: datetime | None
    attempts: int = 0
    size: int = 0  # characters of its body: batches are bounded by size as well as count


@dataclass(frozen=True)
class DeliveryCounts:
    pending: int  # stored, not yet processed, not parked
    failed: int  # parked after their last attempt


def _not_done() -> sa.ColumnElement[bool]:
    return sa.and_(
        col(WebhookDelivery.processed_at).is_(None), col(WebhookDelivery.failed_at).is_(None)
    )


class ClaimedDelivery(NamedTuple):
    id: int
    group_key: str
    body: str


_TABLE = WebhookDelivery.__table__  # type: ignore[attr-defined]
# Plain Core on the batch path: no ORM object per delivery, one statement per batch, each
# statement built once (building one costs about as much as running it).
# Written for the driver: SQLAlchemy's per-row binding of an executemany cost more than
# the UPDATE itself, for a storm's hundreds of repeats a batch.
_MARK_PROCESSED = {
    "sqlite": "UPDATE webhook_deliveries SET processed_at = ?, outcome = ? WHERE id = ?",
    "postgresql": "UPDATE webhook_deliveries SET processed_at = $1, outcome = $2 WHERE id = $3",
}


_CLAIM = (
    sa.select(_TABLE.c.id, _TABLE.c.group_key, _TABLE.c.body)
    .where(_TABLE.c.id.in_(sa.bindparam("ids", expanding=True)), _not_done())
    .order_by(_TABLE.c.id)
    .with_for_update(skip_locked=True)
)
_PENDING = (
    sa.select(
        _TABLE.c.id,
        _TABLE.c.group_key,
        _TABLE.c.next_attempt_at,
        _TABLE.c.attempts,
        sa.func.length(_TABLE.c.body),
    )
    .where(_not_done())
    .order_by(_TABLE.c.id)
    .limit(sa.bindparam("limit"))
)


async def claim_deliveries(unit: Unit, ids: Sequence[int]) -> list[ClaimedDelivery]:
    """Those of `ids` still to process and not held by another replica, oldest first."""
    connection = await unit.session.connection()
    rows = (await connection.execute(_CLAIM, {"ids": list(ids)})).all()
    return [ClaimedDelivery(i, g, b) for i, g, b in rows]


async def mark_processed(unit: Unit, outcomes: dict[int, str], now: datetime) -> None:
    """Record each delivery's outcome (at most 500 characters) as processed `now`."""
    if not outcomes:
        return
    connection = await unit.session.connection()
    dialect = connection.dialect.name
    stamp = sqlite_time(now) if dialect == "sqlite" else now
    rows = [(stamp, outcome[:500], delivery_id) for delivery_id, outcome in outcomes.items()]
    await connection.exec_driver_sql(_MARK_PROCESSED[dialect], rows)


class DeliveryQueue:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    async def pending(self, limit: int = 500) -> list[PendingDelivery]:
        """Oldest first, including those waiting for their next attempt."""
        async with self.store.unit() as unit:
            connection = await unit.session.connection()
            rows = (await connection.execute(_PENDING, {"limit": limit})).all()
        return [PendingDelivery(i, g, n, a, s or 0) for i, g, n, a, s in rows]

    async def record_failure(
        self, delivery_id: int, *, error: str, now: datetime, retry_in: timedelta | None
    ) -> int:
        """Count a failed attempt; `retry_in` None parks it. Returns the attempts so far."""
        async with self.store.unit() as unit:
            row = await unit.session.get(WebhookDelivery, delivery_id)
            if row is None or row.processed_at is not None:
                return 0
            row.attempts += 1
            row.last_error = error[:MAX_ERROR_CHARS]
            row.next_attempt_at = None if retry_in is None else now + retry_in
            row.failed_at = now if retry_in is None else None
            unit.session.add(row)
            return row.attempts

    async def attempts(self, delivery_id: int) -> int:
        async with self.store.unit() as unit:
            row = await unit.session.get(WebhookDelivery, delivery_id)
            return row.attempts if row is not None else 0

    async def retry(self, delivery_id: int) -> bool:
        """Un-park a failed delivery so the running bot processes it again."""
        statement = (
            sa.update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.processed_at).is_(None),
                col(WebhookDelivery.failed_at).is_not(None),
            )
            .values(failed_at=None, attempts=0, next_attempt_at=None)
        )
        async with self.store.unit() as unit:
            result = await unit.session.exec(statement)
            return bool(getattr(result, "rowcount", 0))

    async def listing(self, *, failed_only: bool, limit: int = 200) -> Sequence[WebhookDelivery]:
        """Deliveries not processed yet (or only the parked ones), oldest first."""
        if failed_only:
            where = col(WebhookDelivery.failed_at).is_not(None)
        else:
            where = col(WebhookDelivery.processed_at).is_(None)
        query = (
            select(WebhookDelivery)
            .where(where, col(WebhookDelivery.processed_at).is_(None))
            .order_by(col(WebhookDelivery.id))
            .limit(limit)
        )
        async with self.store.unit() as unit:
            return (await unit.session.exec(query)).all()

    async def counts(self) -> DeliveryCounts:
        failed = col(WebhookDelivery.failed_at).is_not(None)
        query = select(sa.func.count().filter(_not_done()), sa.func.count().filter(failed)).where(
            col(WebhookDelivery.processed_at).is_(None)
        )
        async with self.store.unit() as unit:
            pending, parked = (await unit.session.exec(query)).one()
        return DeliveryCounts(int(pending or 0), int(parked or 0))
