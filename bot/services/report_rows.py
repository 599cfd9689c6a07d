"""Database rows to the report core's records: pure mapping, no I/O.

`bot.services.reports` reads the rows (which ones each part of a post-mortem draft comes
from is listed there); these functions turn them into the records of
`bot.core.exports` and `bot.core.postmortem`. People show as Slack mentions
(`@U0LEAD`), never as bare ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from bot.core.exports import EventRecord, IncidentRecord
from bot.core.lifecycle import mention
from bot.core.people import label_mentions
from bot.core.postmortem import (
    ActionItem,
    CommandRun,
    RoleAssignment,
    SeverityChange,
    StatusFigures,
    action_items_from_notes,
)
from bot.core.silences import format_matchers
from bot.storage.models import ActionItem as ActionItemRow
from bot.storage.models import Incident, IncidentAlert, Rollback, Silence, TimelineEvent

SECTION_LIMIT = 500  # rows read for each other section of the draft
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def incident_record(incident: Incident) -> IncidentRecord:
    return IncidentRecord(
        ref=incident.ref,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        service=incident.service,
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        acknowledged_at=incident.acknowledged_at,
        identified_at=incident.identified_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        commander=incident.commander,
        summary=incident.resolution_summary,
    )


def event_record(event: TimelineEvent, names: Mapping[str, str] | None = None) -> EventRecord:
    """The row as the report core reads it; with `names`, people named (`<@U1|dana>`)."""
    names = names or {}
    return EventRecord(
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        kind=event.kind,
        actor=event.actor,
        text=label_mentions(event.text, names),
        details=event.details or {},
        link=event.link,
        actor_name=names.get(event.actor) if event.actor else None,
    )


def who(user: str | None) -> str | None:
    """A Slack user as a mention; nobody -> None."""
    return mention(user) if user else None


def severity_history(incident: Incident, events: list[TimelineEvent]) -> list[SeverityChange]:
    first = str(events[0].details.get("from") or incident.severity) if events else incident.severity
    by = "alertmanager" if incident.source == "alertmanager" else who(incident.reporter)
    history = [SeverityChange(incident.detected_at, None, first, by)]
    for event in events:
        details = event.details
        history.append(
            SeverityChange(
                event.occurred_at,
                _text(details.get("from")),
                str(details.get("to") or "?"),
                who(_text(details.get("actor")) or event.actor),
            )
        )
    return history


def role_assignments(incident: Incident, events: list[TimelineEvent]) -> list[RoleAssignment]:
    roles: list[RoleAssignment] = []
    for event in events:
        role, user = _text(event.details.get("role")), _text(event.details.get("user"))
        if role and user:
            roles.append(RoleAssignment(role, mention(user), event.occurred_at))
    holders = {(r.role, r.user) for r in roles}
    current = dict(incident.roles or {})
    if incident.commander:
        current.setdefault("commander", incident.commander)
    since = incident.acknowledged_at or incident.detected_at
    for role, user in current.items():
        if user and (role, mention(user)) not in holders:
            roles.append(RoleAssignment(role, mention(user), since))
    return sorted(roles, key=lambda r: r.assigned_at)


def silence_record(row: Silence) -> dict[str, Any]:
    return {
        "by": who(row.created_by),
        "matchers": format_matchers(row.matchers),
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "expired_at": row.expired_at,
        "reason": row.reason,
        "keep": row.keep,
    }


def rollback_record(row: Rollback) -> dict[str, Any]:
    return {
        "deployment": row.deployment,
        "namespace": row.namespace,
        "from_revision": row.from_revision,
        "from_images": list(row.from_images),
        "to_revision": row.to_revision,
        "to_images": list(row.to_images),
        "by": who(row.confirmed_by or row.requested_by),
        "at": row.confirmed_at or row.created_at,
        "outcome": _outcome(row),
    }


def _outcome(row: Rollback) -> str:
    outcome = row.status if not row.detail else f"{row.status}: {row.detail}"
    return outcome if len(outcome) <= 200 else outcome[:199] + "…"


def suspected_record(event: TimelineEvent) -> dict[str, Any]:
    """The event's details, times made datetimes (the draft shows them in UTC with `Z`)."""
    details = {key: _maybe_time(value) for key, value in (event.details or {}).items()}
    details.setdefault("reason", event.text)
    return details


def _maybe_time(value: Any) -> Any:
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed if parsed.tzinfo is not None else value
    return value


def status_figures(event: TimelineEvent) -> StatusFigures:
    details = event.details or {}
    names = {
        "error_rate": "error_rate",
        "latency_p95": "latency_p95_s",
        "request_rate": "request_rate",
    }
    figures = {shown: _number(details.get(key)) for key, shown in names.items()}
    return StatusFigures(event.occurred_at, figures)


def alert_record(row: IncidentAlert) -> dict[str, Any]:
    return {
        "name": row.labels.get("alertname", row.fingerprint),
        "labels": dict(row.labels),
        "generator_url": row.generator_url or None,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at if row.status == "resolved" else None,
    }


def command_runs(
    kinds: dict[str, list[TimelineEvent]], rollbacks: Sequence[Rollback]
) -> list[CommandRun]:
    """`command` events (what `/incident` records), `/status` runs (`status_checked`) and
    every `/rollback` asked for (the `rollbacks` table), in time order."""
    runs = [_command(e) for e in kinds["command"]]
    for event in kinds["status_checked"]:
        command, _, result = event.text.partition(": ")
        runs.append(CommandRun(event.occurred_at, who(event.actor), command, result or None))
    for row in rollbacks:
        command = f"/rollback {row.deployment} -n {row.namespace} --to-revision {row.to_revision}"
        runs.append(CommandRun(row.created_at, who(row.requested_by), command, _outcome(row)))
    return sorted(runs, key=lambda run: run.at)[:SECTION_LIMIT]


def _command(event: TimelineEvent) -> CommandRun:
    details = event.details or {}
    return CommandRun(
        event.occurred_at,
        who(event.actor),
        _text(details.get("command")) or event.text,
        _text(details.get("result")),
    )


def action_items(rows: Sequence[ActionItemRow], notes: Sequence[TimelineEvent]) -> list[ActionItem]:
    """`/incident action` items, then TODO notes as the core reads them (owner, due), each
    text once. The table's rows for TODO notes are skipped: the core's parse is richer."""
    items = [_action(row) for row in rows if row.source != "note"]
    seen = {item.text.casefold() for item in items}
    for item in action_items_from_notes(event_record(n) for n in notes):
        if item.text.casefold() not in seen:
            seen.add(item.text.casefold())
            items.append(item)
    return items


def _action(row: ActionItemRow) -> ActionItem:
    due: date | None = None
    if row.due:
        try:
            due = date.fromisoformat(row.due)
        except ValueError:
            due = None
    return ActionItem(row.text, who(row.owner), due, "action")


def participants(
    actors: Iterable[str], roles: Iterable[RoleAssignment], rollbacks: Iterable[Rollback]
) -> list[str]:
    people = [mention(a) for a in actors if _SLACK_USER.match(a)]
    people += [r.user for r in roles]
    for row in rollbacks:
        people += [mention(u) for u in (row.requested_by, row.confirmed_by) if u]
    return list(dict.fromkeys(people))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
