"""Decisions about incidents, each a pure function of (state, input, now).

Alertmanager re-sends the whole group on every notification, so what changed is
found by diffing against what the store remembers, and duplicates fall out
naturally: a repeated notification yields no change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.alert_identity import alert_identity
from bot.core.alerts import Alert, AlertStatus, KnownAlert, format_timestamp
from bot.core.escaping import mrkdwn

DEFAULT_REOPEN_WINDOW = timedelta(hours=1)


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)


class Route(StrEnum):
    OPEN = "open"  # a new incident for this group
    APPEND = "append"  # the group's latest incident takes it
    IGNORE = "ignore"  # nothing to attach it to (a resolved group we never saw firing)


@dataclass(frozen=True)
class IncidentSnapshot:
    """The part of an incident that routing looks at."""

    id: int
    status: IncidentStatus
    mitigated_at: datetime | None


@dataclass(frozen=True)
class Routing:
    route: Route
    incident_id: int | None
    reason: str


def route_notification(
    latest: IncidentSnapshot | None,
    *,
    has_firing: bool,
    now: datetime,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> Routing:
    """Which incident a notification for a group belongs to."""
    if latest is None:
        if has_firing:
            return Routing(Route.OPEN, None, "first notification of this alert group")
        return Routing(Route.IGNORE, None, "resolved group with no incident on record")
    if not latest.status.is_open:
        if has_firing:
            return Routing(Route.OPEN, None, f"INC-{latest.id} was resolved by a human")
        return Routing(Route.IGNORE, latest.id, f"INC-{latest.id} is already resolved")
    if latest.mitigated_at is None or not has_firing:
        return Routing(Route.APPEND, latest.id, f"INC-{latest.id} is open")
    if now - latest.mitigated_at <= reopen_window:
        return Routing(Route.APPEND, latest.id, f"INC-{latest.id} fires again within the window")
    return Routing(Route.OPEN, None, f"INC-{latest.id} was mitigated more than the window ago")


class ChangeKind(StrEnum):
    FIRING = "alert_firing"
    FIRING_AGAIN = "alert_firing_again"
    RESOLVED = "alert_resolved"


@dataclass(frozen=True)
class AlertChange:
    kind: ChangeKind
    alert: Alert
    occurred_at: datetime
    identity: str = ""  # the labels that tell this alert from the rest of its group

    @property
    def source_key(self) -> str:
        """Unique per alert occurrence and state: fingerprint + startsAt + status."""
        status = "resolved" if self.kind is ChangeKind.RESOLVED else "firing"
        return f"alert:{self.alert.fingerprint}:{format_timestamp(self.alert.starts_at)}:{status}"

    @property
    def text(self) -> str:
        """Slack mrkdwn (as every timeline text): the alert's name and labels escaped."""
        name = mrkdwn(self.alert.name)
        where = f" ({mrkdwn(self.identity)})" if self.identity else ""
        if self.kind is ChangeKind.FIRING:
            return f"New alert {name} firing{where}"
        if self.kind is ChangeKind.FIRING_AGAIN:
            return f"Alert {name} firing again{where}"
        return f"Alert {name} resolved{where}"


def diff_alerts(
    known: Mapping[str, KnownAlert],
    alerts: Sequence[Alert],
    *,
    now: datetime,
    group_labels: Mapping[str, str] | None = None,
    common_labels: Mapping[str, str] | None = None,
) -> list[AlertChange]:
    """What this notification says that the stored state does not already know; each change
    names its alert by the labels outside the notification's group and common labels."""
    changes: list[AlertChange] = []
    for alert in alerts:
        before = known.get(alert.fingerprint)
        identity = alert_identity(
            alert.labels, group_labels=group_labels or {}, common_labels=common_labels or {}
        )
        if alert.status is AlertStatus.FIRING:
            if before is None:
                changes.append(AlertChange(ChangeKind.FIRING, alert, alert.starts_at, identity))
            elif before.status is AlertStatus.RESOLVED or before.starts_at != alert.starts_at:
                changes.append(
                    AlertChange(ChangeKind.FIRING_AGAIN, alert, alert.starts_at, identity)
                )
            continue
        ended = alert.ends_at or now
        if before is None:
            # Fired and resolved between two notifications: both halves belong on the record.
            changes.append(AlertChange(ChangeKind.FIRING, alert, alert.starts_at, identity))
            changes.append(AlertChange(ChangeKind.RESOLVED, alert, ended, identity))
        elif before.status is AlertStatus.FIRING or before.starts_at != alert.starts_at:
            changes.append(AlertChange(ChangeKind.RESOLVED, alert, ended, identity))
    return changes


def apply_changes(
    known: Mapping[str, KnownAlert], changes: Sequence[AlertChange]
) -> dict[str, KnownAlert]:
    state = dict(known)
    for change in changes:
        status = AlertStatus.RESOLVED if change.kind is ChangeKind.RESOLVED else AlertStatus.FIRING
        alert = change.alert
        state[alert.fingerprint] = KnownAlert(alert.fingerprint, status, alert.starts_at)
    return state


@dataclass(frozen=True)
class Lifecycle:
    status: IncidentStatus
    mitigated_at: datetime | None


def next_lifecycle(
    current: Lifecycle, state: Mapping[str, KnownAlert], changes: Sequence[AlertChange]
) -> Lifecycle:
    """Mitigated when every alert of the group resolved; back to work when one fires again."""
    if not current.status.is_open or not changes:
        return current
    fired = any(c.kind is not ChangeKind.RESOLVED for c in changes)
    all_resolved = bool(state) and all(a.status is AlertStatus.RESOLVED for a in state.values())
    if all_resolved and current.mitigated_at is None:
        ended = max(c.occurred_at for c in changes if c.kind is ChangeKind.RESOLVED)
        status = current.status
        if status in (IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED):
            status = IncidentStatus.MONITORING
        return Lifecycle(status, ended)
    if fired and not all_resolved and current.mitigated_at is not None:
        return Lifecycle(IncidentStatus.INVESTIGATING, None)
    return current


_SEVERITY_BY_LABEL = {
    "critical": "sev1",
    "page": "sev1",
    "high": "sev2",
    "error": "sev2",
    "major": "sev2",
    "warning": "sev3",
    "minor": "sev3",
    "info": "sev4",
    "low": "sev4",
}


# The one list of severities, most severe first (the catalog may narrow it, never widen it).
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")


def severity_from_label(label: str | None, *, default: str = "sev3") -> str:
    """Map the alert's `severity` label onto sev1..sev4 (sevN passes through)."""
    if label is None:
        return default
    value = label.strip().lower()
    if value in SEVERITIES:
        return value
    return _SEVERITY_BY_LABEL.get(value, default)
