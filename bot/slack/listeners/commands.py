"""Bolt listeners for the slash commands: ack at once, then do the work and answer in Slack."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.clock import Clock
from bot.core.escaping import mrkdwn
from bot.core.redaction import redact
from bot.core.status_report import Target, UnknownService, how_to_add, resolve_target
from bot.metrics import BotMetrics
from bot.ports import ChatPort
from bot.services.rollback import RollbackService
from bot.services.status import DeploymentMissing, StatusService
from bot.settings import Catalog
from bot.slack.ack import ACK_BUDGET, Ack, ack_within
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore
from bot.workers.tasks import TaskSet
from commands.common import UsageError
from commands.rollback import (
    CANCEL,
    CONFIRM,
    SUGGESTED,
    RollbackArgs,
    parse_rollback,
    parse_suggestion,
)
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
    rollback: RollbackService
    tasks: TaskSet
    ack_budget: float = ACK_BUDGET  # Slack wants the ack within 3 s (bot/slack/ack.py)
    default_namespace: str = "default"  # where a service missing from the catalog is looked for


def catalog_targets(catalog: Catalog) -> dict[str, tuple[str, str | None]]:
    return {name: (s.namespace, s.deployment) for name, s in catalog.services.items()}


def register_commands(app: AsyncApp, deps: CommandDeps) -> None:
    @app.command("/status")
    async def status(ack: AsyncAck, respond: Any, command: dict[str, Any]) -> None:
        await ack_within(
            ack,
            respond,
            lambda a: run_status(deps, a, command),
            tasks=deps.tasks,
            what="/status",
            budget=deps.ack_budget,
        )

    @app.command("/rollback")
    async def rollback(ack: AsyncAck, respond: Any, command: dict[str, Any]) -> None:
        await ack_within(
            ack,
            respond,
            lambda a: run_rollback(deps, a, command),
            tasks=deps.tasks,
            what="/rollback",
            budget=deps.ack_budget,
        )

    @app.action(CONFIRM)
    async def confirm(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        work = deps.rollback.confirm(int(action["value"]), body["user"]["id"])
        deps.tasks.spawn(work, name="rollback confirm")

    @app.action(CANCEL)
    async def cancel(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        work = deps.rollback.cancel(int(action["value"]), body["user"]["id"])
        deps.tasks.spawn(work, name="rollback cancel")

    @app.action(SUGGESTED)
    async def suggested(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        namespace, deployment, revision = parse_suggestion(action["value"])
        args = RollbackArgs(deployment, namespace, revision, False, False, False)
        work = suggested_rollback(deps, body["channel"]["id"], body["user"]["id"], args)
        deps.tasks.spawn(work, name="suggested rollback")


async def suggested_rollback(
    deps: CommandDeps, channel: str, user: str, args: RollbackArgs
) -> None:
    incident = await deps.store.incident_by_channel(channel)
    await deps.rollback.request(channel, user, args, incident)


async def run_status(deps: CommandDeps, ack: Ack, command: dict[str, Any]) -> None:
    started = time.monotonic()
    channel = command["channel_id"]
    try:
        args = parse_status(command.get("text", ""))
        incident = await deps.store.incident_by_channel(channel)
        target = resolve_target(
            catalog_targets(deps.catalog),
            args.service,
            namespace=args.namespace,
            incident_service=incident.service if incident else None,
            extra_namespaces=deps.catalog.rollback.namespaces,
            default_namespace=deps.default_namespace,
        )
    except (UsageError, UnknownService) as e:
        await ack(text=str(e))
        return
    await ack(text=f"Checking {target.service}...")
    work = answer_status(deps, command, target, incident, started)
    deps.tasks.spawn(work, name="/status")


async def answer_status(
    deps: CommandDeps,
    command: dict[str, Any],
    target: Target,
    incident: Incident | None,
    started: float,
) -> None:
    channel, user = command["channel_id"], command["user_id"]
    try:
        since = incident.started_at if incident else None
        result = await deps.status.collect(target, since=since)
        text, blocks = render_status(result.report)
        await deps.chat.post_message(channel, text, blocks)
        if result.chart is not None:
            stamp = deps.clock().strftime("%Y%m%dT%H%M%SZ")
            await deps.chat.upload_file(
                channel,
                result.chart,
                f"status-{target.service}-{stamp}.png",
                title=f"{target.service}: error rate and p95 latency",
            )
    except DeploymentMissing:
        await deps.chat.post_ephemeral(channel, user, how_to_add(target))
        return
    except SlackError as e:
        log.error("could not answer /status in Slack", channel=channel, error=e.error)
        return
    except Exception as e:  # never leave "Checking payments..." without an answer
        log.exception("/status failed", service=target.service)
        await _status_failed(deps, channel, target, e)
        return
    finally:
        deps.metrics.command_latency.labels(command="status").observe(time.monotonic() - started)
    if incident is not None and incident.id is not None:
        now = deps.clock()
        await deps.store.add_event(
            TimelineEvent.record(
                incident.id,
                "status_checked",
                result.report.summary_line(),
                actor=user,
                now=now,
                key=f"slack:command:{command.get('trigger_id') or now.isoformat()}",
                details=result.report.key_figures(),
            )
        )


async def _status_failed(deps: CommandDeps, channel: str, target: Target, error: Exception) -> None:
    what = redact(f"{type(error).__name__}: {error}")  # an error can carry a URL's password
    text = (
        f":x: /status {mrkdwn(target.service)} could not finish: {mrkdwn(what)}. "
        "The bot's log has the details; try again, or check Prometheus and Kubernetes directly."
    )
    try:  # where the answer would have gone, so whoever waits for it sees why it is not there
        await deps.chat.post_message(channel, text)
    except SlackError as e:
        log.error("could not tell the user /status failed", channel=channel, error=e.error)


async def run_rollback(deps: CommandDeps, ack: Ack, command: dict[str, Any]) -> None:
    started = time.monotonic()
    try:
        args = parse_rollback(command.get("text", ""))
    except UsageError as e:
        await ack(text=str(e))
        return
    await ack(text="Looking at the rollout history...")
    deps.tasks.spawn(answer_rollback(deps, command, args, started), name="/rollback")


async def answer_rollback(
    deps: CommandDeps, command: dict[str, Any], args: RollbackArgs, started: float
) -> None:
    channel = command["channel_id"]
    try:
        incident = await deps.store.incident_by_channel(channel)
        await deps.rollback.request(channel, command["user_id"], args, incident)
    finally:
        deps.metrics.command_latency.labels(command="rollback").observe(time.monotonic() - started)
