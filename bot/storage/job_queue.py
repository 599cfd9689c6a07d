"""SlackJobQueue: the outbox's jobs as the worker sees them: open, claimed under a lease,
finished, retried later, failed for good, given back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from bot.storage.models import SlackJob
from bot.storage.store_base import StoreBase


class SlackJobQueue(StoreBase):
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
