"""Bolt side of silences: `/incident silence|silences|unsilence` and their buttons.

Every check runs before the slash command is answered, so a refusal is the
answer itself; the Alertmanager call runs after the answer (Slack gives a
command 3 s) and reports back in the channel, or privately when it fails.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.clock import Clock
from bot.core.lifecycle import format_duration
from bot.core.silences import format_matchers
from bot.ports import ChatPort
from bot.services.silence import SilencePlan, SilenceService
from bot.slack.ack import Ack
from bot.slack.listeners.command_record import record_incident_command
from bot.storage.models import Incident
from bot.storage.store import IncidentStore
from bot.workers.tasks import TaskSet
from commands.incident import Silence, Silences, Unsilence
from commands.silence import (
    SILENCE_BUTTON,
    UNSILENCE_BUTTON,
    parse_silence_button,
    silences_list,
)
from integrations.slack import SlackError


@dataclass
class SilenceDeps:
    store: IncidentStore
    chat: ChatPort
    silences: SilenceService
    clock: Clock
    tasks: TaskSet


def slack_name(user: dict[str, Any]) -> str:
    """The clicker's Slack name, as Alertmanager's `createdBy` shows it."""
    return str(user.get("username") or user.get("name") or user.get("id") or "someone")


def register_silence_buttons(app: AsyncApp, deps: SilenceDeps) -> None:
    @app.action(SILENCE_BUTTON)
    async def silence_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        incident_id, minutes = parse_silence_button(action["value"])
        user = body["user"]
        work = _silence_from_button(
            deps,
            incident_id,
            user["id"],
            slack_name(user),
            timedelta(minutes=minutes),
            body["channel"]["id"],
        )
        deps.tasks.spawn(work, name="silence button")

    @app.action(UNSILENCE_BUTTON)
    async def unsilence_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        channel, user = body["channel"]["id"], body["user"]["id"]

        async def work() -> None:
            answer = await deps.silences.unsilence_one(int(action["value"]), user, channel)
            await _tell(deps, channel, user, answer)

        deps.tasks.spawn(work(), name="unsilence button")


async def _silence_from_button(
    deps: SilenceDeps, incident_id: int, user: str, name: str, duration: timedelta, channel: str
) -> None:
    incident = await deps.store.incident(incident_id)
    if incident is None:
        return
    plan = await deps.silences.plan(
        incident, user, name, duration, "from the Silence button", False, channel
    )
    if isinstance(plan, str):
        await _tell(deps, channel, user, plan)
        return
    await deps.silences.create(plan)


async def run_silence_command(
    deps: SilenceDeps,
    ack: Ack,
    parsed: Silence | Silences | Unsilence,
    incident: Incident,
    command: dict[str, Any],
) -> None:
    user, channel = command["user_id"], command["channel_id"]
    if isinstance(parsed, Silences):
        await ack(text=silences_list(await deps.silences.of_incident(incident), deps.clock()))
        return
    # Work is spawned before the ack, and the ack comes last: once Slack has its answer,
    # everything the command started is tracked.
    if isinstance(parsed, Unsilence):

        async def expire() -> None:
            answer = await deps.silences.unsilence(incident, user, channel)
            await _tell(deps, channel, user, answer)
            await record_incident_command(deps.store, deps.clock, incident, command, answer)

        deps.tasks.spawn(expire(), name="/incident unsilence")
        await ack(text="Expiring this incident's silences in Alertmanager...")
        return
    name = str(command.get("user_name") or user)
    plan = await deps.silences.plan(
        incident, user, name, parsed.duration, parsed.reason, parsed.keep, channel
    )
    if isinstance(plan, str):
        await record_incident_command(deps.store, deps.clock, incident, command, f"refused: {plan}")
        await ack(text=plan)
        return
    answer = _silencing(plan)
    await record_incident_command(deps.store, deps.clock, incident, command, answer)
    deps.tasks.spawn(deps.silences.create(plan), name="/incident silence")
    await ack(text=answer)


def _silencing(plan: SilencePlan) -> str:
    return (
        f"Silencing `{format_matchers(plan.matchers)}` for {format_duration(plan.duration)}; "
        "the silence will be posted in this channel."
    )


async def _tell(deps: SilenceDeps, channel: str, user: str, text: str) -> None:
    with contextlib.suppress(SlackError):  # a user outside the channel cannot be told there
        await deps.chat.post_ephemeral(channel, user, text)
