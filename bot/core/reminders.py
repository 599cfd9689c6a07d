"""Which nudges are due for an open incident: pure, `now` passed in.

The shell keeps what this needs in the database (the last status update, the
last nudge and any snooze per kind) and runs `due_reminders` on a schedule, on
every replica. A reminder's `key` depends only on the incident's stored state,
never on `now`, so two replicas that find the same reminder due produce the same
key and a unique constraint lets one of them post it.

When a reminder is due:
- `status_update`: N minutes (by severity) after the later of the opening and the
  last status update; repeated every N minutes after the last nudge while nobody
  updates. A snooze taken after a nudge sets the next one to the snooze's end.
- `no_commander`: M minutes after the opening while nobody leads, once (again at
  the end of a snooze taken after it).
Snoozed reminders wait until the snooze ends. Resolved and closed incidents get none.
Record `reminder.due_at` (or the time it was posted) as the kind's last nudge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.alerts import format_timestamp
from bot.core.incident_rules import IncidentStatus
from bot.core.lifecycle import format_duration, mention


class ReminderKind(StrEnum):
    STATUS_UPDATE = "status_update"
    NO_COMMANDER = "no_commander"


def default_status_minutes() -> dict[str, int | None]:
    """Minutes without a status update before the nudge, by severity (None: never)."""
    return {"sev1": 30, "sev2": 60, "sev3": 120, "sev4": None}


@dataclass(frozen=True)
class ReminderPolicy:
    """Minutes before each nudge; None turns a nudge off. Severities not listed get none."""

    status_update_minutes: Mapping[str, int | None] = field(default_factory=default_status_minutes)
    no_commander_minutes: int | None = 10
    snooze_minutes: tuple[int, ...] = (15, 60)

    def __post_init__(self) -> None:
        values = [*self.status_update_minutes.values(), self.no_commander_minutes]
        values += self.snooze_minutes
        if any(v is not None and v <= 0 for v in values):
            raise ValueError("reminder minutes must be positive (or None to turn one off)")


@dataclass(frozen=True)
class ReminderInput:
    ref: str
    severity: str
    status: IncidentStatus
    opened_at: datetime
    commander: str | None = None
    last_status_update_at: datetime | None = None
    snoozed_until: Mapping[str, datetime] = field(default_factory=dict)
    last_nudged_at: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class SnoozeOption:
    minutes: int
    label: str


@dataclass(frozen=True)
class Reminder:
    kind: ReminderKind
    key: str
    due_at: datetime
    text: str
    snooze_options: tuple[SnoozeOption, ...]


def due_reminders(
    incident: ReminderInput, *, now: datetime, policy: ReminderPolicy
) -> list[Reminder]:
    """The reminders to post now, earliest first."""
    if not incident.status.is_open:
        return []
    reminders = [
        r
        for r in (
            _status_update(incident, now=now, policy=policy),
            _no_commander(incident, now=now, policy=policy),
        )
        if r is not None
    ]
    return sorted(reminders, key=lambda r: (r.due_at, r.kind))


def snooze(kind: ReminderKind | str, minutes: int, now: datetime) -> datetime:
    """When a reminder of `kind` snoozed now for `minutes` comes back."""
    ReminderKind(kind)  # refuses a kind that does not exist
    if minutes <= 0:
        raise ValueError("snooze minutes must be positive")
    return now + timedelta(minutes=minutes)


def snooze_label(minutes: int) -> str:
    return f"Snooze {format_duration(timedelta(minutes=minutes))}"


def _status_update(
    incident: ReminderInput, *, now: datetime, policy: ReminderPolicy
) -> Reminder | None:
    minutes = policy.status_update_minutes.get(incident.severity)
    if minutes is None:
        return None
    kind = ReminderKind.STATUS_UPDATE
    start = max(incident.opened_at, incident.last_status_update_at or incident.opened_at)
    interval = timedelta(minutes=minutes)
    due = _next_due(incident, kind, start=start, interval=interval, repeat=interval)
    if due is None or due > now:
        return None
    text = (
        f"{_who(incident)} {incident.ref} ({incident.severity}, {incident.status}) has had "
        f"no status update for {format_duration(now - start)}. Post one: "
        "`/incident status <status> <what changed>`"
    )
    return _reminder(incident, kind, due, text, policy)


def _no_commander(
    incident: ReminderInput, *, now: datetime, policy: ReminderPolicy
) -> Reminder | None:
    minutes = policy.no_commander_minutes
    if minutes is None or incident.commander is not None:
        return None
    kind = ReminderKind.NO_COMMANDER
    interval = timedelta(minutes=minutes)
    due = _next_due(incident, kind, start=incident.opened_at, interval=interval, repeat=None)
    if due is None or due > now:
        return None
    text = (
        f"<!here> {incident.ref} ({incident.severity}) has had no commander for "
        f"{format_duration(now - incident.opened_at)}. "
        "Someone take the lead: `/incident lead @you`"
    )
    return _reminder(incident, kind, due, text, policy)


def _next_due(
    incident: ReminderInput,
    kind: ReminderKind,
    *,
    start: datetime,
    interval: timedelta,
    repeat: timedelta | None,
) -> datetime | None:
    """When the reminder of `kind` is next due, from stored state only (never `now`)."""
    nudged = incident.last_nudged_at.get(kind)
    snoozed = incident.snoozed_until.get(kind)
    if nudged is None or nudged < start:
        due = start + interval
        return due if snoozed is None else max(due, snoozed)
    if snoozed is not None and snoozed > nudged:
        return snoozed
    return None if repeat is None else nudged + repeat


def _reminder(
    incident: ReminderInput,
    kind: ReminderKind,
    due: datetime,
    text: str,
    policy: ReminderPolicy,
) -> Reminder:
    return Reminder(
        kind=kind,
        key=f"{incident.ref}:{kind}:{format_timestamp(due)}",
        due_at=due,
        text=text,
        snooze_options=tuple(SnoozeOption(m, snooze_label(m)) for m in policy.snooze_minutes),
    )


def _who(incident: ReminderInput) -> str:
    return mention(incident.commander) if incident.commander else "<!here>"
