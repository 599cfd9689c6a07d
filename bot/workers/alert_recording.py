"""What one Alertmanager notification does to its group's incident, inside a unit of work.

It opens the incident (or finds it), records every alert change as a timeline row with
the alert's own time, moves the lifecycle (mitigated, reopened), and queues the Slack
work: the channel for a new incident, one change summary, a refresh of the digest.
The decisions are `bot.core.incident_rules`; this writes what they decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.core.alerts import AlertStatus, KnownAlert, Notification, format_timestamp
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
from bot.metrics import BotMetrics
from bot.settings import Catalog
from bot.storage.models import Incident, TimelineEvent
from bot.storage.outbox import JobKind
from bot.storage.unit import StoredAlert, Unit

BOT = "incident-bot"


class NotificationRecorder:
    def __init__(self, catalog: Catalog, clock: Clock, metrics: BotMetrics | None) -> None:
        self.catalog = catalog
        self.clock = clock
        self.metrics = metrics

    async def apply(self, unit: Unit, notification: Notification, delivery_id: int) -> str:
        """Write what the notification changes; returns the delivery's outcome."""
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
        incident = Incident(
            group_key=notification.group_key,
            title=incident_title(notification, self.catalog.incident.service_label),
            severity=severity_from_label(notification.label("severity")),
            service=notification.label(self.catalog.incident.service_label),
            group_labels=dict(notification.group_labels),
            alertname=notification.label("alertname"),
            started_at=min(a.starts_at for a in firing),
            detected_at=now,
        )
        await unit.add(incident)
        assert incident.id is not None
        if self.metrics is not None:
            self.metrics.incidents_opened.labels(source="alertmanager").inc()
        opened = TimelineEvent.record(
            incident.id,
            "incident_opened",
            f"Incident {incident.ref} opened from Alertmanager: {mrkdwn(incident.title)}",
            actor=BOT,
            now=now,
            key=f"incident:{incident.id}:opened",
            details={"group_key": notification.group_key, "severity": incident.severity},
        )
        await unit.add_event(opened)
        dumped = notification.model_dump(mode="json", by_alias=True)
        await unit.enqueue(incident.id, JobKind.OPEN_CHANNEL, now, {"notification": dumped})
        return incident

    async def _record(
        self, unit: Unit, incident: Incident, notification: Notification, *, opened: bool
    ) -> None:
        assert incident.id is not None
        now = self.clock()
        rows = await unit.known_alerts(incident.id)
        known = {fp: KnownAlert(fp, AlertStatus(r.status), r.starts_at) for fp, r in rows.items()}
        changes = diff_alerts(
            known,
            notification.alerts,
            now=now,
            group_labels=notification.group_labels,
            common_labels=notification.common_labels,
        )
        keys: set[str] = set()
        unique: list[AlertChange] = []
        for change in changes:  # a key twice in one notification: its first change counts
            if change.source_key not in keys:
                keys.add(change.source_key)
                unique.append(change)
        new_keys = await unit.add_event_rows([_change_event(incident, c, now) for c in unique])
        new_changes = [c for c in unique if c.source_key in new_keys]
        await unit.save_alerts(incident.id, _changed_alerts(rows, notification))
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
        event = TimelineEvent.record(
            incident.id,
            kind,
            text,
            actor=BOT,
            now=now,
            key=key,
            occurred_at=occurred,
            details={"from": before.status.value, "to": after.status.value},
        )
        await unit.add_event(event)


def _snapshot(incident: Incident | None) -> IncidentSnapshot | None:
    if incident is None or incident.id is None:
        return None
    return IncidentSnapshot(incident.id, IncidentStatus(incident.status), incident.mitigated_at)


def _changed_alerts(
    stored: dict[str, StoredAlert], notification: Notification
) -> list[StoredAlert]:
    """The notification's alerts whose state differs from what is stored (most of a
    group's alerts are unchanged from one notification to the next)."""
    changed = []
    for alert in notification.alerts:
        state = StoredAlert(
            alert.fingerprint,
            alert.status.value,
            alert.starts_at,
            alert.ends_at,
            dict(alert.labels),
            dict(alert.annotations),
            alert.generator_url,
        )
        if stored.get(alert.fingerprint) != state:
            changed.append(state)
    return changed


def _change_event(incident: Incident, change: AlertChange, now: datetime) -> dict[str, Any]:
    assert incident.id is not None
    alert = change.alert
    details: dict[str, Any] = {
        "fingerprint": alert.fingerprint,
        "identity": change.identity,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": format_timestamp(alert.starts_at),
        "ends_at": format_timestamp(alert.ends_at) if alert.ends_at else None,
    }
    return TimelineEvent.row(
        incident.id,
        change.kind.value,
        change.text,
        actor="alertmanager",
        now=now,
        key=change.source_key,
        occurred_at=change.occurred_at,
        details=details,
        link=alert.generator_url or None,
    )


def _truncated_event(incident: Incident, count: int, now: datetime) -> TimelineEvent:
    assert incident.id is not None
    return TimelineEvent.record(
        incident.id,
        "alerts_truncated",
        f"Alertmanager left out {count} alert(s) of this group",
        actor=BOT,
        now=now,
        key=f"incident:{incident.id}:truncated:{count}",
        details={"truncated_alerts": count},
    )
