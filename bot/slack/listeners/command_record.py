"""What an `/incident` command run in Slack leaves on its incident's timeline: the command
as typed, who ran it, and what came of it (the `/incident` and silence listeners' one way)."""

from __future__ import annotations

from typing import Any

from bot.clock import Clock
from bot.services.incident import record_command
from bot.storage.models import Incident
from bot.storage.store import IncidentStore


async def record_incident_command(
    store: IncidentStore, clock: Clock, incident: Incident, command: dict[str, Any], result: str
) -> None:
    if incident.id is None:
        return
    async with store.unit() as unit:
        await record_command(
            unit,
            incident.id,
            f"/incident {command.get('text', '')}".strip(),
            command["user_id"],
            clock(),
            f"slack:command-result:{command.get('trigger_id')}",
            result,
        )
