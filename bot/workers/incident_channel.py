"""IncidentChannel: the incident's Slack channel made under a free name (or, on a retry, the
one a crashed run made adopted), written with its timeline row in one transaction, and its
responders (people and user groups of the service) invited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlmodel import col

from bot.clock import Clock
from bot.core.alerts import Notification
from bot.core.channel_names import incident_channel_name
from bot.ports import ChatPort
from bot.settings import Catalog
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore
from bot.workers.slack_once import SlackOnce
from integrations.slack import SlackPermanentError

MAX_NAME_ATTEMPTS = 20
# (incident id, kind, text, key=..., details=...): a line of the bot's on the timeline.
Note = Callable[..., Awaitable[None]]


class IncidentChannel:
    def __init__(
        self,
        store: IncidentStore,
        chat: ChatPort,
        catalog: Catalog,
        clock: Clock,
        once: SlackOnce,
        note: Note,
    ) -> None:
        self.store, self.chat, self.catalog, self.clock = store, chat, catalog, clock
        self.once, self.note = once, note

    async def create(
        self, incident: Incident, notification: Notification | None, *, retried: bool
    ) -> None:
        assert incident.id is not None
        prefix = self.catalog.incident.channel_prefix
        name_of = notification.label("alertname") if notification else incident.title
        parts = (incident.service, name_of)
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            suffix = None if attempt == 1 else attempt
            name = incident_channel_name(prefix, incident.started_at, *parts, suffix=suffix)
            # Held before Slack is asked (and kept): an incident of the same name creating
            # its channel side by side never takes ours for the one it lost to a crash.
            if not await self.store.reserve_channel_name(incident.id, name):
                continue
            try:
                channel_id, channel_name = await self.chat.create_channel(name)
            except SlackPermanentError as e:
                if e.error != "name_taken":
                    raise
                adopted = await self.once.adoptable(incident, name) if retried else None
                if adopted is None:
                    continue
                channel_id, channel_name = adopted
            incident.channel_id, incident.channel_name = channel_id, channel_name
            now = self.clock()
            async with self.store.unit() as unit:  # the channel and its row, or neither
                await unit.session.exec(
                    sa.update(Incident)
                    .where(col(Incident.id) == incident.id)
                    .values(channel_id=channel_id, channel_name=channel_name)
                )
                opened = TimelineEvent.record(
                    incident.id,
                    "channel_opened",
                    f"Incident channel #{channel_name} opened",
                    actor="incident-bot",
                    now=now,
                    key=f"incident:{incident.id}:channel",
                    details={"channel_id": channel_id},
                )
                await unit.add_event(opened)
            return
        raise SlackPermanentError("conversations.create", "name_taken")

    async def invite_responders(self, incident: Incident) -> None:
        assert incident.id is not None
        assert incident.channel_id is not None
        users: list[str] = [incident.reporter] if incident.reporter else []
        service = self.catalog.services.get(incident.service or "")
        for responder in service.responders if service else []:
            if responder.startswith("S"):
                try:
                    users += await self.chat.usergroup_members(responder)
                except SlackPermanentError as e:
                    await self.note(
                        incident.id,
                        "slack_error",
                        f"Could not resolve user group {responder}: {e.error}",
                        key=f"incident:{incident.id}:group:{responder}",
                    )
            else:
                users.append(responder)
        bot_user = await self.once.bot_user()
        invitees = sorted({u for u in users if u != bot_user})
        try:
            await self.chat.invite(incident.channel_id, invitees)
        except SlackPermanentError as e:
            await self.note(
                incident.id,
                "slack_error",
                f"Could not invite {', '.join(invitees)}: {e.error}",
                key=f"incident:{incident.id}:invite",
            )
            return
        if invitees:
            await self.note(
                incident.id,
                "responders_invited",
                "Invited " + ", ".join(f"<@{u}>" for u in invitees),
                key=f"incident:{incident.id}:invited",
                details={"users": invitees},
            )
