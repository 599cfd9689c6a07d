"""The periodic purge of processed webhook and Slack event bodies (bot/core/retention.py).

Every replica runs the loop; the period's claim (a unique key in `maintenance_runs`)
lets exactly one of them purge, so two replicas never delete twice or fight over locks.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlmodel import col

from bot.clock import Clock
from bot.core.retention import RetentionPolicy, purge_key
from bot.storage.models import MaintenanceRun, SlackEnvelope, SlackEventSeen, WebhookDelivery
from bot.storage.store import IncidentStore

log = structlog.get_logger(__name__)


class RetentionWorker:
    def __init__(self, store: IncidentStore, clock: Clock, policy: RetentionPolicy) -> None:
        self.store, self.clock, self.policy = store, clock, policy

    async def run_due(self) -> int:
        """Purge once per period across replicas; returns the rows deleted (0: not ours)."""
        now = self.clock()
        if not await self._claim(purge_key(now), now):
            return 0
        webhooks, events = await self.purge(
            webhook_before=self.policy.webhook_cutoff(now),
            slack_event_before=self.policy.slack_event_cutoff(now),
        )
        if webhooks or events:
            log.info("purged old bodies", webhook_bodies=webhooks, slack_events=events)
        return webhooks + events

    async def _claim(self, key: str, now: datetime) -> bool:
        try:
            async with self.store.unit() as unit:
                unit.session.add(MaintenanceRun(key=key, ran_at=now))
        except sa.exc.IntegrityError:
            return False  # another replica (or an earlier run of ours) has this period
        return True

    async def purge(
        self, *, webhook_before: datetime, slack_event_before: datetime
    ) -> tuple[int, int]:
        """Delete processed bodies older than the cutoffs; unprocessed and parked ones stay."""
        async with self.store.unit() as unit:
            webhooks = await unit.session.exec(
                sa.delete(WebhookDelivery).where(
                    col(WebhookDelivery.processed_at).is_not(None),
                    col(WebhookDelivery.processed_at) < webhook_before,
                )
            )
            events = await unit.session.exec(
                sa.delete(SlackEventSeen).where(
                    col(SlackEventSeen.processed_at).is_not(None),
                    col(SlackEventSeen.processed_at) < slack_event_before,
                )
            )
            await unit.session.exec(
                sa.delete(SlackEnvelope).where(col(SlackEnvelope.claimed_at) < slack_event_before)
            )
        return int(webhooks.rowcount or 0), int(events.rowcount or 0)
