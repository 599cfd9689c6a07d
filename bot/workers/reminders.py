"""Nudges for open incidents: no status update for a while, no commander yet.

What is due is a pure function of the stored incident and `now`; the nudge is
claimed by inserting its key (unique), so with two replicas only one posts it,
and the state lives in the database, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.core.alerts import format_timestamp, parse_timestamp
from bot.core.block_kit import section
from bot.core.incident_rules import IncidentStatus
from bot.core.reminders import Reminder, ReminderInput, ReminderPolicy, due_reminders, snooze
from bot.storage.models import Incident, ReminderSent
from bot.storage.outbox import JobKind
from bot.storage.store import IncidentStore

log = structlog.get_logger(__name__)
SNOOZE = "reminder_snooze"


def reminder_input(incident: Incident) -> ReminderInput:
    state = incident.reminder_state or {}

    def times(name: str) -> dict[str, datetime]:
        raw = state.get(name) or {}
        return {k: t for k, v in raw.items() if (t := parse_timestamp(str(v))) is not None}

    return ReminderInput(
        ref=incident.ref,
        severity=incident.severity,
        status=IncidentStatus(incident.status),
        opened_at=incident.detected_at,
        commander=incident.commander,
        last_status_update_at=incident.last_status_update_at,
        snoozed_until=times("snoozed_until"),
        last_nudged_at=times("last_nudged_at"),
    )


def with_time(state: dict[str, Any], name: str, kind: str, at: datetime) -> dict[str, Any]:
    section = dict(state.get(name) or {})
    section[kind] = format_timestamp(at)
    return {**state, name: section}


def snooze_blocks(reminder: Reminder, incident_id: int) -> list[dict[str, Any]]:
    buttons = [
        {
            "type": "button",
            "action_id": f"{SNOOZE}_{o.minutes}",
            "text": {"type": "plain_text", "text": o.label},
            "value": f"{incident_id}:{reminder.kind.value}:{o.minutes}",
        }
        for o in reminder.snooze_options
    ]
    return [
        section(reminder.text),
        {"type": "actions", "elements": buttons},
    ]


class ReminderWorker:
    def __init__(
        self, store: IncidentStore, clock: Clock, policy: ReminderPolicy | None = None
    ) -> None:
        self.store, self.clock = store, clock
        self.policy = policy or ReminderPolicy()

    async def run_due(self) -> int:
        posted = 0
        now = self.clock()
        for incident in await self.store.incidents(open_only=True):
            if incident.id is None or incident.channel_id is None:
                continue
            for reminder in due_reminders(reminder_input(incident), now=now, policy=self.policy):
                if await self._claim_and_queue(incident, reminder):
                    posted += 1
        return posted

    async def _claim_and_queue(self, incident: Incident, reminder: Reminder) -> bool:
        assert incident.id is not None
        now = self.clock()
        try:
            async with self.store.unit() as unit:
                await unit.add(
                    ReminderSent(
                        key=reminder.key,
                        incident_id=incident.id,
                        kind=reminder.kind.value,
                        due_at=reminder.due_at,
                        posted_at=now,
                    )
                )
                incident.reminder_state = with_time(
                    incident.reminder_state or {},
                    "last_nudged_at",
                    reminder.kind.value,
                    reminder.due_at,
                )
                unit.session.add(incident)
                await unit.enqueue(
                    incident.id,
                    JobKind.POST_MESSAGE,
                    now,
                    {"text": reminder.text, "blocks": snooze_blocks(reminder, incident.id)},
                )
        except IntegrityError:
            return False  # another replica, or an earlier run, posted this one
        log.info("reminder queued", incident=incident.ref, kind=reminder.kind.value)
        return True

    async def snooze(self, incident_id: int, kind: str, minutes: int, user: str) -> datetime | None:
        incident = await self.store.incident(incident_id)
        if incident is None:
            return None
        until = snooze(kind, minutes, self.clock())
        state = with_time(incident.reminder_state or {}, "snoozed_until", kind, until)
        await self.store.update_incident(incident_id, reminder_state=state)
        log.info("reminder snoozed", incident=incident.ref, kind=kind, until=until, by=user)
        return until
