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
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.alerts import (
    AlertStatus,
    KnownAlert,
    Notification,
    PayloadError,
    format_timestamp,
    parse_notification,
)
from bot.core.change_summary import changes_post
from bot.core.escaping import mrkdwn
from bot.core.incident_rules import (
    AlertChange,
    IncidentSnapshot,
    IncidentStatus,
    Lifecycle,
    Route,
    apply_changes,
    diff_alerts,
    next_lifecycle,
    route_notification,
    severity_from_label,
)
from bot.core.messages import incident_title
from bot.core.retry import backoff
from bot.metrics import BotMetrics
from bot.settings import Catalog
from bot.storage.deliveries import DeliveryQueue, PendingDelivery
from bot.storage.models import Incident, IncidentAlert, TimelineEvent, WebhookDelivery
from bot.storage.outbox import JobKind
from bot.storage.store import IncidentStore, Unit

log = structlog.get_logger(__name__)

BATCH = 50  # deliveries processed in one transaction


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
    ) -> None:
        self.store = store
        self.queue = DeliveryQueue(store)
        self.catalog = catalog
        self.clock = clock
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.should_stop: Callable[[], bool] = lambda: False  # set by BackgroundWork
        # Called before a pass reads what is pending (the group commit's stored_unprocessed).
        self.before_pass: Callable[[], None] = lambda: None
        self._observed = 0.0  # monotonic time the queue gauges were last set

    async def process_pending(self) -> int:
        """Process what is due, oldest first, in batches; returns how many were processed."""
        now = self.clock()
        held: set[str] = set()  # groups whose oldest delivery waits or failed just now
        due: list[PendingDelivery] = []
        retried: list[PendingDelivery] = []
        self.before_pass()
        for pending in await self.queue.pending():
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
        for start in range(0, len(due), BATCH):
            if self.should_stop():
                break
            done += await self._process_batch(due[start : start + BATCH])
        await self._observe_queue(changed=done > 0)
        return done

    async def _process_batch(self, batch: list[PendingDelivery]) -> int:
        """One transaction (one commit) for the batch; if any of it fails, one at a time."""
        if len(batch) > 1:
            try:
                outcomes = await self._process_together(batch)
            except Exception:
                log.info("batch failed; processing its deliveries one at a time", size=len(batch))
            else:
                for delivery_id, outcome in outcomes.items():
                    log.info("alertmanager delivery processed", delivery=delivery_id,
                             outcome=outcome)  # fmt: skip
                return len(outcomes)
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

    async def _process_together(self, batch: list[PendingDelivery]) -> dict[int, str]:
        outcomes: dict[int, str] = {}
        # group -> the batch's previous delivery: id, body, and what processing reads of it
        last: dict[str, tuple[int, str, tuple[object, ...] | None]] = {}
        async with self.store.unit() as unit:
            # Every group of the batch locked up front, in one order: replicas never deadlock.
            for group_key in sorted({p.group_key for p in batch}):
                await unit.lock_group(group_key)
            for delivery in await unit.claim_deliveries([p.id for p in batch]):
                assert delivery.id is not None
                previous = last.get(delivery.group_key)
                read: tuple[object, ...] | None = None
                if previous is not None and previous[1] == delivery.body:
                    # The same group state again (a repeat, an HA peer): nothing can change.
                    outcome = f"same as delivery {previous[0]}"
                    read = previous[2]
                else:
                    try:
                        notification = parse_notification(delivery.body)
                    except PayloadError as e:  # validated on receipt; only an old row
                        outcome = f"unparseable: {e}"
                    else:
                        read = _what_processing_reads(notification)
                        if previous is not None and previous[2] == read:
                            # Only fields processing ignores differ (externalURL, receiver).
                            outcome = f"same alerts as delivery {previous[0]}"
                        else:
                            outcome = await self._apply(unit, notification, delivery.id)
                last[delivery.group_key] = (delivery.id, delivery.body, read)
                delivery.processed_at = self.clock()
                delivery.outcome = outcome[:500]
                unit.session.add(delivery)
                outcomes[delivery.id] = outcome
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
            outcome = await self._parse_and_apply(unit, delivery, lock=True)
            delivery.processed_at = now
            delivery.outcome = outcome[:500]
            unit.session.add(delivery)
        return outcome

    async def _parse_and_apply(
        self, unit: Unit, delivery: WebhookDelivery, *, lock: bool = False
    ) -> str:
        assert delivery.id is not None
        try:
            notification = parse_notification(delivery.body)
        except PayloadError as e:  # validated on receipt; only an old row could fail here
            return f"unparseable: {e}"
        if lock:
            await unit.lock_group(notification.group_key)
        return await self._apply(unit, notification, delivery.id)

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
            log.error("alertmanager delivery parked as failed", delivery=delivery_id,
                      attempts=attempts, error=text, exc_info=error)  # fmt: skip
        else:
            log.warning(
                "alertmanager delivery failed; will retry", delivery=delivery_id,
                attempts=attempts, retry_in_s=retry_in.total_seconds(), error=text,
            )  # fmt: skip

    async def _observe_queue(self, *, changed: bool) -> None:
        # When the queue changed (passes are coalesced in a storm), else once a second.
        now = time.monotonic()
        if self.metrics is None or (not changed and now - self._observed < 1.0):
            return
        self._observed = now
        counts = await self.queue.counts()
        self.metrics.deliveries_pending.set(counts.pending)
        self.metrics.deliveries_parked.set(counts.failed)

    async def _apply(self, unit: Unit, notification: Notification, delivery_id: int) -> str:
        now = self.clock()
        latest = await unit.latest_incident(notification.group_key)
        routing = route_notification(
            _snapshot(latest),
            has_firing=bool(notification.firing),
            now=now,
            reopen_window=self.catalog.incident.reopen_window,
        )
        if routing.route is Route.IGNORE:
            return f"ignored: {routing.reason}"
        opened = routing.route is Route.OPEN or latest is None
        incident = await self._open(unit, notification) if opened else latest
        assert incident is not None
        assert incident.id is not None
        await self._record(unit, incident, notification, opened=opened)
        return f"{routing.route.value} INC-{incident.id}: {routing.reason}"

    async def _open(self, unit: Unit, notification: Notification) -> Incident:
        now = self.clock()
        firing = notification.firing or notification.alerts
        started = min(a.starts_at for a in firing)
        incident = Incident(
            group_key=notification.group_key,
            title=incident_title(notification, self.catalog.incident.service_label),
            severity=severity_from_label(notification.label("severity")),
            service=notification.label(self.catalog.incident.service_label),
            group_labels=dict(notification.group_labels),
            alertname=notification.label("alertname"),
            started_at=started,
            detected_at=now,
        )
        await unit.add(incident)
        assert incident.id is not None
        if self.metrics is not None:
            self.metrics.incidents_opened.labels(source="alertmanager").inc()
        await unit.add_event(
            _event(
                incident.id,
                "incident_opened",
                f"Incident {incident.ref} opened from Alertmanager: {mrkdwn(incident.title)}",
                occurred_at=now,
                recorded_at=now,
                source_key=f"incident:{incident.id}:opened",
                details={"group_key": notification.group_key, "severity": incident.severity},
            )
        )
        await unit.enqueue(
            incident.id, JobKind.OPEN_CHANNEL, now, {"notification": _dump(notification)}
        )
        return incident

    async def _record(
        self, unit: Unit, incident: Incident, notification: Notification, *, opened: bool
    ) -> None:
        assert incident.id is not None
        now = self.clock()
        rows = await unit.known_alerts(incident.id)
        known = {fp: KnownAlert(fp, AlertStatus(r.status), r.starts_at) for fp, r in rows.items()}
        changes = diff_alerts(
            known, notification.alerts, now=now, group_labels=notification.group_labels,
            common_labels=notification.common_labels,
        )  # fmt: skip
        new_changes = [c for c in changes if await unit.add_event(_change_event(incident, c, now))]
        _upsert_alerts(unit, incident.id, rows, notification)
        state = apply_changes(known, changes)
        before = Lifecycle(IncidentStatus(incident.status), incident.mitigated_at)
        after = next_lifecycle(before, state, changes)
        if after != before:
            await self._change_lifecycle(unit, incident, before, after)
        truncated = notification.truncated_alerts
        if truncated and not await unit.add_event(_truncated_event(incident, truncated, now)):
            truncated = 0
        all_resolved = after.mitigated_at is not None and before.mitigated_at is None
        # A new incident's first message already shows its firing alerts.
        shown = [c for c in new_changes if not (opened and c.alert.status is AlertStatus.FIRING)]
        if shown or truncated or all_resolved:
            post = changes_post(
                shown, all_resolved=all_resolved, truncated=truncated, ref=incident.ref
            )
            await unit.enqueue(incident.id, JobKind.POST_MESSAGE, now, post.payload())
        if (after != before or new_changes) and not opened:
            await unit.enqueue(incident.id, JobKind.SYNC_INCIDENT, now)

    async def _change_lifecycle(
        self, unit: Unit, incident: Incident, before: Lifecycle, after: Lifecycle
    ) -> None:
        assert incident.id is not None
        now = self.clock()
        incident.status = after.status.value
        incident.mitigated_at = after.mitigated_at
        unit.session.add(incident)
        if after.mitigated_at is not None:
            kind, text = "incident_mitigated", "All alerts resolved: incident marked mitigated"
            key = f"incident:{incident.id}:mitigated:{format_timestamp(after.mitigated_at)}"
            occurred = after.mitigated_at
        else:
            kind, text = "incident_reopened", "Alert group firing again: incident back to work"
            key = f"incident:{incident.id}:reopened:{format_timestamp(now)}"
            occurred = now
        details = {"from": before.status.value, "to": after.status.value}
        await unit.add_event(
            _event(incident.id, kind, text, occurred_at=occurred, recorded_at=now,
                   source_key=key, details=details)
        )  # fmt: skip


def _snapshot(incident: Incident | None) -> IncidentSnapshot | None:
    if incident is None or incident.id is None:
        return None
    return IncidentSnapshot(incident.id, IncidentStatus(incident.status), incident.mitigated_at)


def _what_processing_reads(notification: Notification) -> tuple[object, ...]:
    """What `_apply` reads of a notification once its group's incident is in the state
    the notification leaves it in: a second delivery equal in these diffs to no change
    (its externalURL and receiver only go into a new incident's first message)."""
    return (
        notification.group_key, notification.alerts, notification.group_labels,
        notification.common_labels, notification.common_annotations,
        notification.truncated_alerts,
    )  # fmt: skip


def _dump(notification: Notification) -> dict[str, Any]:
    return notification.model_dump(mode="json", by_alias=True)


def _upsert_alerts(
    unit: Unit, incident_id: int, rows: dict[str, IncidentAlert], notification: Notification
) -> None:
    for alert in notification.alerts:
        row = rows.get(alert.fingerprint) or IncidentAlert(
            incident_id=incident_id, fingerprint=alert.fingerprint, status=alert.status.value,
            starts_at=alert.starts_at,
        )  # fmt: skip
        row.status = alert.status.value
        row.starts_at = alert.starts_at
        row.ends_at = alert.ends_at
        row.labels = dict(alert.labels)
        row.annotations = dict(alert.annotations)
        row.generator_url = alert.generator_url
        unit.session.add(row)


def _change_event(incident: Incident, change: AlertChange, now: Any) -> TimelineEvent:
    assert incident.id is not None
    alert = change.alert
    return _event(
        incident.id,
        change.kind.value,
        change.text,
        occurred_at=change.occurred_at,
        recorded_at=now,
        source_key=change.source_key,
        details={
            "fingerprint": alert.fingerprint,
            "identity": change.identity,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "starts_at": format_timestamp(alert.starts_at),
            "ends_at": format_timestamp(alert.ends_at) if alert.ends_at else None,
        },
        link=alert.generator_url or None,
        actor="alertmanager",
    )


def _truncated_event(incident: Incident, count: int, now: Any) -> TimelineEvent:
    assert incident.id is not None
    return _event(
        incident.id,
        "alerts_truncated",
        f"Alertmanager left out {count} alert(s) of this group",
        occurred_at=now,
        recorded_at=now,
        source_key=f"incident:{incident.id}:truncated:{count}",
        details={"truncated_alerts": count},
    )


def _event(
    incident_id: int,
    kind: str,
    text: str,
    *,
    occurred_at: Any,
    recorded_at: Any,
    source_key: str,
    details: dict[str, Any] | None = None,
    link: str | None = None,
    actor: str | None = "incident-bot",
) -> TimelineEvent:
    return TimelineEvent(
        incident_id=incident_id, kind=kind, text=text, occurred_at=occurred_at,
        recorded_at=recorded_at, source_key=source_key, details=details or {}, link=link,
        actor=actor,
    )  # fmt: skip


__all__: Sequence[str] = (
    "AlertIntake", "RetryPolicy",
)  # fmt: skip
