"""The incident as people work it: declare, status, severity, roles, notes, action items.

Each operation reads the incident, asks the pure lifecycle rules, writes the new
state and its timeline events, then queues the Slack side (topic, digest,
channel message) on the durable outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from bot.clock import Clock
from bot.core.escaping import mention, mrkdwn
from bot.core.incident_rules import IncidentStatus
from bot.core.lifecycle import (
    LifecycleEvent,
    LifecycleState,
    TransitionResult,
    acknowledge,
    assign_role,
    change_severity,
    durations,
    format_duration,
    role_duties,
    transition,
)
from bot.settings import Catalog
from bot.storage.models import ActionItem, Incident, TimelineEvent
from bot.storage.outbox import JobKind
from bot.storage.store import IncidentStore, Unit
from commands.incident import Action, Declare

log = structlog.get_logger(__name__)
_STATE_FIELDS = (
    "acknowledged_at",
    "identified_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "commander",
    "resolution_summary",
)


def state_of(incident: Incident) -> LifecycleState:
    return LifecycleState(
        status=IncidentStatus(incident.status),
        severity=incident.severity,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        **{name: getattr(incident, name) for name in _STATE_FIELDS},
    )


def _apply(incident: Incident, state: LifecycleState) -> None:
    incident.status = state.status.value
    incident.severity = state.severity
    for name in _STATE_FIELDS:
        setattr(incident, name, getattr(state, name))


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        catalog: Catalog,
        clock: Clock,
        wake: Callable[[], None],
        *,
        on_resolved: Sequence[Callable[[Incident, str], object]] = (),
    ) -> None:
        self.store, self.catalog, self.clock, self._wake = store, catalog, clock, wake
        # Called after a resolve (the silences made for the incident are expired there).
        self.on_resolved = list(on_resolved)

    async def declare(self, command: Declare, *, reporter: str, key: str) -> Incident:
        now = self.clock()
        incident = Incident(
            title=command.title,
            severity=command.severity or "sev3",
            service=command.service,
            started_at=now,
            detected_at=now,
            acknowledged_at=now,
            source="slack",
            reporter=reporter,
            last_status_update_at=now,
        )
        async with self.store.unit() as unit:
            await unit.add(incident)
            assert incident.id is not None
            await unit.add_event(
                TimelineEvent.record(
                    incident.id,
                    "incident_declared",
                    f"{mention(reporter)} declared {incident.ref}: {mrkdwn(incident.title)}",
                    actor=reporter,
                    now=now,
                    key=f"incident:{incident.id}:declared",
                    details={"severity": incident.severity, "service": incident.service},
                )
            )
            await unit.enqueue(
                incident.id,
                JobKind.OPEN_CHANNEL,
                now,
                {"declared": {"reporter": reporter, "source_key": key}},
            )
        self._wake()
        return incident

    async def _change(
        self,
        incident: Incident,
        actor: str,
        change: Callable[[LifecycleState], TransitionResult],
        *,
        announce: bool = True,
        now: datetime | None = None,
    ) -> TransitionResult:
        """Apply a lifecycle change (acknowledging first); raises TransitionError untouched.

        `now` is the time the change was computed with: acknowledging at a later
        clock reading would put the acknowledgement after the change itself."""
        assert incident.id is not None
        now = now or self.clock()
        first = acknowledge(state_of(incident), now, actor)
        result = change(first.state)
        _apply(incident, result.state)
        incident.last_status_update_at = now
        async with self.store.unit() as unit:
            unit.session.add(incident)
            for event in (*first.events, *result.events):
                await unit.add_event(self._row(incident, event, actor, now))
            if announce:
                text = "\n".join(e.text for e in result.events)
                await unit.enqueue(incident.id, JobKind.POST_MESSAGE, now, {"text": text})
            await unit.enqueue(incident.id, JobKind.SYNC_INCIDENT, now)
        self._wake()
        return result

    def _row(
        self, incident: Incident, event: LifecycleEvent, actor: str, now: datetime
    ) -> TimelineEvent:
        assert incident.id is not None
        stamp = event.occurred_at.isoformat()
        return TimelineEvent.record(
            incident.id,
            event.kind.value,
            event.text,
            actor=actor,
            now=now,
            key=f"incident:{incident.id}:{event.kind.value}:{stamp}:{event.text[:40]}",
            details=dict(event.details),
            occurred_at=event.occurred_at,
        )

    async def set_status(
        self,
        incident: Incident,
        to: IncidentStatus,
        *,
        actor: str,
        summary: str | None = None,
        reopen: bool = False,
    ) -> TransitionResult:
        now = self.clock()
        result = await self._change(
            incident,
            actor,
            lambda s: transition(s, to, now=now, actor=actor, summary=summary, reopen=reopen),
            announce=to is not IncidentStatus.RESOLVED,
            now=now,
        )
        if to is IncidentStatus.RESOLVED:
            await self._post(incident, closing_message(incident, result.state), blocks=True)
            for hook in self.on_resolved:
                hook(incident, actor)
        return result

    async def set_severity(self, incident: Incident, severity: str, *, actor: str) -> None:
        now = self.clock()
        allowed = tuple(self.catalog.incident.severities)
        await self._change(
            incident,
            actor,
            lambda s: change_severity(s, severity, now=now, actor=actor, allowed=allowed),
            now=now,
        )

    async def assign(self, incident: Incident, role: str, user: str, *, actor: str) -> str:
        """Returns the role's name; the assignee is invited and told the duties."""
        assert incident.id is not None
        now = self.clock()
        extra = tuple(self.catalog.incident.roles)
        roles, event = assign_role(
            incident.roles or {}, role, user, now=now, actor=actor, extra_roles=extra
        )
        name = str(event.details["role"])
        incident.roles = roles
        if name == "commander":
            incident.commander = user

        def commit(state: LifecycleState) -> TransitionResult:
            return TransitionResult(state, (event,))

        await self._change(incident, actor, commit)
        await self._invite_and_tell(
            incident, user, f"<@{user}>, you are the {name} of {incident.ref}: {role_duties(name)}"
        )
        return name

    async def _invite_and_tell(self, incident: Incident, user: str, text: str) -> None:
        assert incident.id is not None
        async with self.store.unit() as unit:
            await unit.enqueue(
                incident.id, JobKind.POST_MESSAGE, self.clock(), {"text": text, "invite": [user]}
            )
        self._wake()

    async def note(self, incident: Incident, text: str, *, actor: str, key: str) -> bool:
        """A timeline note; one starting with TODO is also an action item."""
        assert incident.id is not None
        now = self.clock()
        first = acknowledge(state_of(incident), now, actor)
        _apply(incident, first.state)
        incident.last_status_update_at = now
        async with self.store.unit() as unit:
            unit.session.add(incident)
            for event in first.events:
                await unit.add_event(self._row(incident, event, actor, now))
            # Timeline texts are Slack mrkdwn; the note came in as plain text (parse unescaped it).
            added = await unit.add_event(
                TimelineEvent.record(
                    incident.id, "note", mrkdwn(text), actor=actor, now=now, key=key
                )
            )
            if added and text.lstrip().upper().startswith("TODO"):
                body = text.lstrip()[4:].lstrip(" :-")
                await unit.add(
                    ActionItem(
                        incident_id=incident.id,
                        text=body or text,
                        source="note",
                        created_by=actor,
                        created_at=now,
                    )
                )
        return added

    async def action(self, incident: Incident, command: Action, *, actor: str) -> ActionItem:
        assert incident.id is not None
        now = self.clock()
        item = ActionItem(
            incident_id=incident.id,
            text=command.text,
            owner=command.owner,
            due=command.due.isoformat() if command.due else None,
            created_by=actor,
            created_at=now,
        )
        async with self.store.unit() as unit:
            await unit.add(item)
            owner = f" (owner {mention(command.owner)})" if command.owner else ""
            await unit.add_event(
                TimelineEvent.record(
                    incident.id,
                    "action_item",
                    f"Action item: {mrkdwn(command.text)}{owner}",
                    actor=actor,
                    now=now,
                    key=f"action:{item.id}",
                )
            )
        return item

    async def close(self, incident: Incident, *, actor: str) -> None:
        now = self.clock()
        await self._change(
            incident,
            actor,
            lambda s: transition(s, IncidentStatus.CLOSED, now=now, actor=actor),
            now=now,
        )

    async def _post(self, incident: Incident, text: str, *, blocks: bool = False) -> None:
        assert incident.id is not None
        async with self.store.unit() as unit:
            await unit.enqueue(
                incident.id,
                JobKind.POST_MESSAGE,
                self.clock(),
                {"text": text, "postmortem_button": blocks},
            )
        self._wake()


def closing_message(incident: Incident, state: LifecycleState) -> str:
    d = durations(state)
    return (
        f":white_check_mark: *{incident.ref} resolved*: {mrkdwn(state.resolution_summary)}\n"
        f"Time to acknowledge {format_duration(d.time_to_acknowledge)} · "
        f"to mitigate {format_duration(d.time_to_mitigate)} · "
        f"to resolve {format_duration(d.time_to_resolve)}\n"
        "The channel stays open until someone runs `/incident close`."
    )


async def record_command(
    unit: Unit, incident_id: int, text: str, actor: str, now: datetime, key: str, result: str
) -> None:
    """Every command run in an incident channel, and what came of it, is on the record."""
    await unit.add_event(
        TimelineEvent.record(
            incident_id,
            "command",
            f"{text} -> {result}",
            actor=actor,
            now=now,
            key=key,
            details={"command": text, "result": result},
        )
    )
