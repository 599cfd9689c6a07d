"""Bolt listeners for `/incident`, the "Declare incident" shortcut and its modal."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.clock import Clock
from bot.core.alerts import format_timestamp
from bot.core.block_kit import lines_within
from bot.core.escaping import mrkdwn
from bot.core.incident_rules import SEVERITIES
from bot.core.lifecycle import TransitionError, format_duration
from bot.ports import ChatPort
from bot.services.incident import IncidentService
from bot.services.similar import SimilarIncidents
from bot.slack.ack import ACK_BUDGET, Ack, ack_within
from bot.slack.listeners.command_record import record_incident_command
from bot.slack.listeners.silence import SilenceDeps, run_silence_command
from bot.storage.models import Incident
from bot.storage.store import IncidentStore
from bot.workers.reminders import SNOOZE, ReminderWorker
from bot.workers.tasks import TaskSet
from commands.common import UsageError
from commands.incident import (
    Action,
    AssignRole,
    Close,
    Declare,
    Help,
    IncidentCommand,
    List,
    Note,
    Postmortem,
    Reopen,
    SetSeverity,
    SetStatus,
    Silence,
    Silences,
    Similar,
    Timeline,
    Unsilence,
    help_text,
    parse_incident_command,
)
from integrations.slack import SlackError

log = structlog.get_logger(__name__)
SHORTCUT = "declare_incident"
MODAL = "declare_incident_modal"
# A list longer than a couple of screens is read nowhere; the CLI and the API have them all.
LIST_TEXT = 6_000
Reply = Callable[[str], Awaitable[None]]
FileMaker = Callable[[Incident, str], Awaitable[tuple[str, bytes]]]


@dataclass
class IncidentDeps:
    store: IncidentStore
    chat: ChatPort
    service: IncidentService
    clock: Clock
    tasks: TaskSet = field(default_factory=TaskSet)
    reminders: ReminderWorker | None = None
    timeline_file: FileMaker | None = None  # (incident, fmt) -> (filename, content)
    postmortem_file: FileMaker | None = None
    ack_budget: float = ACK_BUDGET  # Slack wants the ack within 3 s (bot/slack/ack.py)
    page_link: Callable[[int, str], str | None] | None = None  # a signed incident-page link
    silence: SilenceDeps | None = None
    similar: SimilarIncidents | None = None


def register_incident(app: AsyncApp, deps: IncidentDeps) -> None:
    @app.command("/incident")
    async def incident(ack: AsyncAck, respond: Any, command: dict[str, Any]) -> None:
        await ack_within(
            ack,
            respond,
            lambda a: run_incident(deps, a, command),
            tasks=deps.tasks,
            what="/incident",
            budget=deps.ack_budget,
        )

    @app.action(re.compile(f"^{SNOOZE}_"))
    async def snoozed(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        incident_id, kind, minutes = action["value"].split(":")
        if deps.reminders is None:
            return
        until = await deps.reminders.snooze(
            int(incident_id), kind, int(minutes), body["user"]["id"]
        )
        if until is not None:
            with contextlib.suppress(SlackError):  # the snooze holds even if Slack won't say so
                await deps.chat.post_ephemeral(
                    body["channel"]["id"],
                    body["user"]["id"],
                    f"Snoozed until {format_timestamp(until)}.",
                )

    @app.action("postmortem_draft")
    async def draft(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        channel = body["channel"]["id"]
        deps.tasks.spawn(upload_postmortem(deps, channel), name="post-mortem draft")

    @app.shortcut(SHORTCUT)
    async def shortcut(ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        text = (shortcut.get("message") or {}).get("text", "")
        await deps.chat.open_view(shortcut["trigger_id"], declare_modal(text[:150]))

    @app.view(MODAL)
    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        title = (values["title"]["title"].get("value") or "").strip()
        if not title:
            await ack(response_action="errors", errors={"title": "A title, please"})
            return
        await ack()
        severity = (values["severity"]["severity"].get("selected_option") or {}).get("value")
        service = (values["service"]["service"].get("value") or "").strip() or None
        user = body["user"]["id"]
        await deps.service.declare(
            Declare(title, severity, service), reporter=user, key=f"slack:view:{view['id']}"
        )


async def upload_postmortem(deps: IncidentDeps, channel: str) -> None:
    incident = await deps.store.incident_by_channel(channel)
    if incident is None or deps.postmortem_file is None:
        return
    filename, content = await deps.postmortem_file(incident, "md")
    await deps.chat.upload_file(channel, content, filename, title=filename)


async def run_incident(deps: IncidentDeps, ack: Ack, command: dict[str, Any]) -> None:
    text, user, channel = command.get("text", ""), command["user_id"], command["channel_id"]
    try:
        parsed = parse_incident_command(text)
    except UsageError as e:
        await ack(text=str(e))
        return
    if isinstance(parsed, Help):
        await ack(text=help_text(deps.service.catalog.incident.roles))
        return
    if isinstance(parsed, List):
        await ack(text=await incident_list(deps))
        return
    if isinstance(parsed, Declare):
        created = await deps.service.declare(
            parsed, reporter=user, key=f"slack:command:{command.get('trigger_id')}"
        )
        await ack(text=f"Declared {created.ref}: opening its channel...")
        return
    incident = await deps.store.incident_by_channel(channel)
    if incident is None:
        await ack(
            text="This is not an incident channel. Run it in the incident's channel, "
            "or `/incident declare <title>` to open one."
        )
        return
    if isinstance(parsed, Similar):
        answer = (
            await deps.similar.similar_text(incident)
            if deps.similar is not None
            else "Similar incidents are not available on this bot."
        )
        await record_incident_command(
            deps.store, deps.clock, incident, command, "listed similar incidents"
        )
        await ack(text=answer)
        return
    if isinstance(parsed, Silence | Silences | Unsilence):
        if deps.silence is None:
            await ack(text="Silences are not available on this bot.")
            return
        await run_silence_command(deps.silence, ack, parsed, incident, command)
        return
    try:
        result = await _dispatch(deps, parsed, incident, user, command)
    except TransitionError as e:
        await ack(text=f"{e}")
        await record_incident_command(deps.store, deps.clock, incident, command, f"refused: {e}")
        return
    await ack(text=result)
    await record_incident_command(deps.store, deps.clock, incident, command, result)


async def _dispatch(
    deps: IncidentDeps,
    parsed: IncidentCommand,
    incident: Incident,
    user: str,
    command: dict[str, Any],
) -> str:
    service = deps.service
    if isinstance(parsed, SetStatus):
        await service.set_status(incident, parsed.status, actor=user, summary=parsed.summary)
        return f"{incident.ref} is now {parsed.status.value}"
    if isinstance(parsed, Reopen):
        await service.set_status(incident, parsed.status, actor=user, reopen=True)
        return f"{incident.ref} reopened ({parsed.status.value})"
    if isinstance(parsed, Close):
        await service.close(incident, actor=user)
        return f"{incident.ref} closed. Archive the channel when you are done with it."
    if isinstance(parsed, SetSeverity):
        await service.set_severity(incident, parsed.severity, actor=user)
        return f"{incident.ref} is now {incident.severity}"
    if isinstance(parsed, AssignRole):
        role = await service.assign(incident, parsed.role, parsed.user, actor=user)
        return f"<@{parsed.user}> is now the {role}"
    if isinstance(parsed, Note):
        key = f"slack:command:{command.get('trigger_id')}"
        await service.note(incident, parsed.text, actor=user, key=key)
        return "Noted in the timeline."
    if isinstance(parsed, Action):
        item = await service.action(incident, parsed, actor=user)
        return f"Action item #{item.id} added."
    if isinstance(parsed, Timeline | Postmortem):
        return await _upload(deps, parsed, incident, command)
    raise TransitionError("that command does nothing here")


async def _upload(
    deps: IncidentDeps, parsed: Timeline | Postmortem, incident: Incident, command: dict[str, Any]
) -> str:
    maker = deps.timeline_file if isinstance(parsed, Timeline) else deps.postmortem_file
    if maker is None:
        raise TransitionError("exports are not available on this bot")
    fmt = parsed.fmt.value if isinstance(parsed, Timeline) else "md"

    link = None
    if isinstance(parsed, Timeline) and deps.page_link is not None and incident.id is not None:
        link = deps.page_link(incident.id, incident.ref)

    async def upload() -> None:
        filename, content = await maker(incident, fmt)
        await deps.chat.upload_file(
            command["channel_id"], content, filename, title=filename, comment=link
        )

    deps.tasks.spawn(upload(), name="/incident export")
    reply = "Preparing the file; it will appear in this channel."
    return reply if link is None else f"{reply}\n{link}"


async def incident_list(deps: IncidentDeps) -> str:
    rows = await deps.store.incidents(open_only=True)
    if not rows:
        return "No open incidents."
    now = deps.clock()
    lines = ["*Open incidents*"]
    for row in rows:
        lead = f"<@{row.commander}>" if row.commander else "no commander"
        where = f"<#{row.channel_id}>" if row.channel_id else "channel pending"
        age = format_duration(now - row.started_at)
        head = f"• *{row.ref}* {mrkdwn(row.severity)} {mrkdwn(row.title)}"
        lines.append(f"{head} · {row.status} · {age} old · {lead} · {where}")
    return lines_within(lines, LIST_TEXT, _more_incidents)


def _more_incidents(count: int) -> str:
    return f"… and {count} more: `incident-bot incidents --open` lists them all"


def declare_modal(title: str) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": s}, "value": s} for s in SEVERITIES]
    return {
        "type": "modal",
        "callback_id": MODAL,
        "title": {"type": "plain_text", "text": "Declare incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Title"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "title",
                    "initial_value": title,
                },
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "severity",
                    "options": options,
                    "initial_option": options[2],
                },
            },
            {
                "type": "input",
                "block_id": "service",
                "optional": True,
                "label": {"type": "plain_text", "text": "Service"},
                "element": {"type": "plain_text_input", "action_id": "service"},
            },
        ],
    }
