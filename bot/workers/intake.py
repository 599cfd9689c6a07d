"""Turns stored Alertmanager deliveries into incidents, timeline rows and Slack jobs.

Each delivery is processed in one transaction: either everything it implies is
written and the delivery marked processed, or nothing is and it is tried again,
with backoff, a bounded number of times; then it is parked as failed
(`bot.storage.deliveries`). Deliveries of one group are processed in order, so a group
waits while its oldest delivery waits for a retry; other groups never do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from bot.clock import Clock
from bot.core.alerts import Notification, PayloadError, parse_notification
from bot.core.delivery_fold import Seen, fold_batch, parsed_or_none, still_newest
from bot.core.retry import backoff
from bot.metrics import BotMetrics
from bot.settings import Catalog
from bot.storage.deliveries import (
    DeliveryQueue,
    PendingDelivery,
    claim_deliveries,
    mark_processed,
)
from bot.storage.store import IncidentStore, Unit
from bot.workers.alert_recording import NotificationRecorder

log = structlog.get_logger(__name__)

# Deliveries one pass reads (ids and sizes only): each pass processes its first delivery
# of a group in full and then waits a moment for more, so in a storm few long passes
# cost less than many short ones.
PASS = 2000
BATCH = 200  # deliveries processed in one transaction, at most
# ... and at most this many characters of bodies: what one transaction holds in memory
# (models, rows, events) follows the alerts it carries, and the bot's RSS keeps its peak.
BATCH_CHARS = 128 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # then parked: about two minutes of retries with the defaults
    base: float = 1.0
    cap: float = 60.0


class AlertIntake:
    def __init__(
        self,
        store: IncidentStore,
        catalog: Catalog,
        clock: Clock,
        metrics: BotMetrics | None = None,
        retry: RetryPolicy | None = None,
        *,
        before_pass: Callable[[], None] = lambda: None,
        take_parsed: Callable[[int], Notification | None] = lambda _id: None,
    ) -> None:
        self.store = store
        self.queue = DeliveryQueue(store)
        self.catalog = catalog
        self.clock = clock
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.recorder = NotificationRecorder(catalog, clock, metrics)
        self.should_stop: Callable[[], bool] = lambda: False  # set by BackgroundWork
        # Called before a pass reads what is pending (the group commit's stored_unprocessed).
        self.before_pass = before_pass
        # What the route parsed of a delivery on receipt (the group commit keeps it a while).
        self.take_parsed = take_parsed
        self._observed = 0.0  # monotonic time the queue gauges were last set

    async def process_pending(self) -> int:
        """Process what is due, oldest first, in batches; returns how many were processed."""
        now = self.clock()
        held: set[str] = set()  # groups whose oldest delivery waits or failed just now
        due: list[PendingDelivery] = []
        retried: list[PendingDelivery] = []
        self.before_pass()
        for pending in await self.queue.pending(limit=PASS):
            if pending.group_key in held:
                continue
            if pending.next_attempt_at is not None and pending.next_attempt_at > now:
                held.add(pending.group_key)
                continue
            if pending.attempts:
                # Failed before: on its own, so that it cannot take a batch down with it.
                held.add(pending.group_key)
                retried.append(pending)
            else:
                due.append(pending)
        done = 0
        for pending in retried:
            if self.should_stop():
                break
            done += await self.process(pending.id)
        # A group's last delivery in a batch, carried to the next batch: a storm's repeats
        # fold in every batch, not only after a full processing at the start of each.
        previous: dict[str, Seen] = {}
        for batch in _batches(due):
            if self.should_stop():
                break
            done += await self._process_batch(batch, previous)
        await self._observe_queue()
        return done

    async def _process_batch(self, batch: list[PendingDelivery], previous: dict[str, Seen]) -> int:
        """One transaction (one commit) for the batch; if any of it fails, one at a time."""
        try:
            outcomes = await self._process_together(batch, previous)
        except Exception:
            if len(batch) > 1:
                log.info("batch failed; processing its deliveries one at a time", size=len(batch))
        else:
            return len(outcomes)
        for group_key in {p.group_key for p in batch}:  # processed in full from here on
            previous.pop(group_key, None)
        done = 0
        failed: set[str] = set()
        for pending in batch:
            if pending.group_key in failed:
                continue  # a group's deliveries stay in order behind its failed one
            if await self.process(pending.id):
                done += 1
            else:
                failed.add(pending.group_key)
        return done

    async def _process_together(
        self, batch: list[PendingDelivery], carried: dict[str, Seen]
    ) -> dict[int, str]:
        """`carried`: the last delivery of each group of the pass's previous batch; replaced
        by this batch's once it has committed."""
        outcomes: dict[int, str] = {}
        repeats = 0
        async with self.store.unit() as unit:
            # Every group of the batch locked up front, in one order: replicas never deadlock.
            for group_key in sorted({p.group_key for p in batch}):
                await unit.lock_group(group_key)
            claimed = await claim_deliveries(unit, [p.id for p in batch])
            mine = {c.id for c in claimed}
            taken = [p.group_key for p in batch if p.id not in mine]  # by another replica
            # Taken for the whole batch, folded ones too: none is kept past its processing.
            known = {c.id: self.take_parsed(c.id) for c in claimed}

            def parse(delivery_id: int, body: str) -> Notification | None:
                notification = known.get(delivery_id)
                if notification is None:
                    return parsed_or_none(delivery_id, body)
                return notification

            folded, previous = fold_batch(still_newest(carried, taken), claimed, parse)
            for delivery, (repeat, notification) in zip(claimed, folded, strict=True):
                if repeat is not None:
                    repeats += 1
                    outcomes[delivery.id] = repeat
                    continue
                outcome = await self._parse_and_apply(
                    unit, delivery.body, delivery.id, notification=notification
                )
                log.info("alertmanager delivery processed", delivery=delivery.id, outcome=outcome)
                outcomes[delivery.id] = outcome
            await mark_processed(unit, outcomes, self.clock())
        # Carried on for this batch's groups only: what is held (each body and its parsed
        # JSON) stays within one batch's bodies; a storm of 200 groups of 100 alerts each
        # carried over a whole pass held some 20 MiB more at its peak.
        carried.clear()
        carried.update((d.group_key, previous[d.group_key]) for d in claimed)
        if repeats:
            log.info("alertmanager deliveries repeating their group's state", count=repeats)
        return outcomes

    async def process(self, delivery_id: int) -> bool:
        """True when the delivery was processed; a failure is recorded, never raised."""
        try:
            outcome = await self._process(delivery_id)
        except Exception as e:
            await self._failed(delivery_id, e)
            return False
        if outcome is None:
            return False  # done already, or another replica has it
        log.info("alertmanager delivery processed", delivery=delivery_id, outcome=outcome)
        return True

    async def _process(self, delivery_id: int) -> str | None:
        async with self.store.unit() as unit:
            delivery = await unit.claim_delivery(delivery_id)
            if delivery is None:
                return None
            now = self.clock()
            outcome = await self._parse_and_apply(unit, delivery.body, delivery_id, lock=True)
            delivery.processed_at = now
            delivery.outcome = outcome[:500]
            unit.session.add(delivery)
        return outcome

    async def _parse_and_apply(
        self,
        unit: Unit,
        body: str,
        delivery_id: int,
        *,
        lock: bool = False,
        notification: Notification | None = None,
    ) -> str:
        """`notification`: the body's, when it was parsed already."""
        if notification is None:
            try:
                notification = parse_notification(body)
            except PayloadError as e:  # validated on receipt; only an old row could fail here
                return f"unparseable: {e}"
        if lock:
            await unit.lock_group(notification.group_key)
        return await self.recorder.apply(unit, notification, delivery_id)

    async def _failed(self, delivery_id: int, error: Exception) -> None:
        policy = self.retry
        text = f"{type(error).__name__}: {error}"
        attempts = await self.queue.attempts(delivery_id) + 1
        retry_in = (
            backoff(attempts, base=policy.base, cap=policy.cap)
            if attempts < policy.attempts
            else None
        )
        await self.queue.record_failure(
            delivery_id, error=text, now=self.clock(), retry_in=retry_in
        )
        if retry_in is None:
            self._observed = 0.0  # the parked gauge is due now
            if self.metrics is not None:
                self.metrics.deliveries_failed.inc()
            log.error(
                "alertmanager delivery parked as failed",
                delivery=delivery_id,
                attempts=attempts,
                error=text,
                exc_info=error,
            )
        else:
            log.warning(
                "alertmanager delivery failed; will retry",
                delivery=delivery_id,
                attempts=attempts,
                retry_in_s=retry_in.total_seconds(),
                error=text,
            )

    async def _observe_queue(self) -> None:
        # At most once a second (a count over the queue each pass costs a storm dearly),
        # at once after a delivery is parked.
        now = time.monotonic()
        if self.metrics is None or now - self._observed < 1.0:
            return
        self._observed = now
        counts = await self.queue.counts()
        self.metrics.deliveries_pending.set(counts.pending)
        self.metrics.deliveries_parked.set(counts.failed)


def _batches(due: list[PendingDelivery]) -> list[list[PendingDelivery]]:
    """`due` in order, cut into batches of at most BATCH deliveries and BATCH_CHARS."""
    batches: list[list[PendingDelivery]] = []
    batch: list[PendingDelivery] = []
    chars = 0
    for pending in due:
        if batch and (len(batch) >= BATCH or chars + pending.size > BATCH_CHARS):
            batches.append(batch)
            batch, chars = [], 0
        batch.append(pending)
        chars += pending.size
    if batch:
        batches.append(batch)
    return batches


__all__: Sequence[str] = (
    "AlertIntake",
    "RetryPolicy",
)
