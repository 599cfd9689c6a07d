"""Bolt listeners for the slash commands: ack at once, then do the work and answer in Slack."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from bot.clock import Clock
from bot.core.status_report import UnknownService, how_to_add, resolve_target
from bot.metrics import BotMetrics
from bot.models import TimelineEvent
from bot.ports import ChatPort
from bot.settings import Catalog
from bot.status_service import DeploymentMissing, StatusService
from bot.store import IncidentStore
from commands.common import UsageError
from commands.status import parse_status, render_status
from integrations.slack import SlackError

log = structlog.get_logger(__name__)


@dataclass
class CommandDeps:
    store: IncidentStore
    chat: ChatPort
    catalog: Catalog
    clock: Clock
    metrics: BotMetrics
    status: StatusService


def catalog_targets(catalog: Catalog) -> dict[str, tuple[str, str | None]]:
    return {name: (s.namespace, s.deployment) for name, s in catalog.services.items()}


def register_commands(app: AsyncApp, deps: CommandDeps) -> None:
    @app.command("/status")
    async def status(ack: Any, command: dict[str, Any]) -> None:
        await run_status(deps, ack, command)


async def run_status(deps: CommandDeps, ack: Any, command: dict[str, Any]) -> None:
    started = time.monotonic()
    channel, user = command["channel_id"], command["user_id"]
    try:
        args = parse_status(command.get("text", ""))
        incident = await deps.store.incident_by_channel(channel)
        target = resolve_target(
            catalog_targets(deps.catalog), args.service, namespace=args.namespace,
            incident_service=incident.service if incident else None,
        )  # fmt: skip
    except (UsageError, UnknownService) as e:
        await ack(text=str(e))
        return
    await ack(text=f"Checking {target.service}...")
    try:
        since = incident.started_at if incident else None
        result = await deps.status.collect(target, since=since)
        text, blocks = render_status(result.report)
        await deps.chat.post_message(channel, text, blocks)
        if result.chart is not None:
            stamp = deps.clock().strftime("%Y%m%dT%H%M%SZ")
            await deps.chat.upload_file(
                channel, result.chart, f"status-{target.service}-{stamp}.png",
                title=f"{target.service}: error rate and p95 latency",
            )  # fmt: skip
    except DeploymentMissing:
        await deps.chat.post_ephemeral(channel, user, how_to_add(target))
        return
    except SlackError as e:
        log.error("could not answer /status in Slack", channel=channel, error=e.error)
        return
    finally:
        deps.metrics.command_latency.labels(command="status").observe(time.monotonic() - started)
    if incident is not None and incident.id is not None:
        now = deps.clock()
        await deps.store.add_event(
            TimelineEvent(
                incident_id=incident.id, kind="status_checked", actor=user,
                text=result.report.summary_line(), occurred_at=now, recorded_at=now,
                details=result.report.key_figures(),
                source_key=f"slack:command:{command.get('trigger_id') or now.isoformat()}",
            )
        )  # fmt: skip
