"""Talking to the running bot as Slack does (see bot/standins/slack_requests.py)."""

from __future__ import annotations

from typing import Any

from bot.runtime import BotRuntime
from bot.standins.slack_requests import SlackRequests
from tests.conftest import SIGNING_SECRET


def as_slack(bot: BotRuntime) -> SlackRequests:
    return SlackRequests(bot.url, SIGNING_SECRET)


async def post_signed(bot: BotRuntime, body: str, content_type: str) -> tuple[int, dict[str, Any]]:
    return await as_slack(bot).post(body, content_type)


async def slash(
    bot: BotRuntime, command: str, text: str, *, channel: str, user: str = "U0ONCALL1"
) -> str:
    return await as_slack(bot).slash(command, text, channel=channel, user=user)


async def click(bot: BotRuntime, action_id: str, value: str, *, channel: str, user: str) -> None:
    await as_slack(bot).click(action_id, value, channel=channel, user=user)


async def event(bot: BotRuntime, payload: dict[str, Any], *, event_id: str | None = None) -> None:
    await as_slack(bot).event(payload, event_id=event_id)
