"""Talking to the running bot as Slack does (see standins/slack_requests.py)."""

from __future__ import annotations

from typing import Any

from bot.runtime import BotRuntime
from standins.slack_requests import SlackRequests, SocketRequests
from tests.support.bots import FAKES, SIGNING_SECRET


def as_slack(bot: BotRuntime) -> SlackRequests | SocketRequests:
    """Slack towards this bot: signed HTTP requests, or envelopes when it runs in Socket Mode."""
    if bot.socket is not None:
        return SocketRequests(FAKES[bot.settings.slack_api_url])
    fake = FAKES.get(bot.settings.slack_api_url)
    return SlackRequests(bot.url, SIGNING_SECRET, response_urls=fake)


def as_http_slack(bot: BotRuntime) -> SlackRequests:
    return SlackRequests(bot.url, SIGNING_SECRET)


async def post_signed(bot: BotRuntime, body: str, content_type: str) -> tuple[int, dict[str, Any]]:
    return await as_http_slack(bot).post(body, content_type)


async def slash(
    bot: BotRuntime, command: str, text: str, *, channel: str, user: str = "U0ONCALL1"
) -> str:
    return await as_slack(bot).slash(command, text, channel=channel, user=user)


async def click(bot: BotRuntime, action_id: str, value: str, *, channel: str, user: str) -> None:
    await as_slack(bot).click(action_id, value, channel=channel, user=user)


async def event(bot: BotRuntime, payload: dict[str, Any], *, event_id: str | None = None) -> str:
    """Delivers an event; returns what identifies the delivery (event id, or envelope id)."""
    return await as_slack(bot).event(payload, event_id=event_id)


async def deliver_again(bot: BotRuntime, payload: dict[str, Any], delivery: str) -> None:
    """Slack's duplicate: the same event id again over HTTP, the same envelope over a socket."""
    slack = as_slack(bot)
    if isinstance(slack, SocketRequests):
        await slack.resend(delivery)
    else:
        await slack.event(payload, event_id=delivery)
