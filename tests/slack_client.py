"""Talking to the running bot as Slack does: signed slash commands, clicks and events."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

import aiohttp

from bot.runtime import BotRuntime
from tests.conftest import SIGNING_SECRET
from tests.slack_signing import button_click, command_body, event_body, signed_headers

FORM = "application/x-www-form-urlencoded"
_ids = itertools.count(1)


async def post_signed(bot: BotRuntime, body: str, content_type: str) -> tuple[int, dict[str, Any]]:
    headers = signed_headers(SIGNING_SECRET, body, content_type=content_type)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.url + "/slack/events", data=io.BytesIO(body.encode()), headers=headers
        ) as response,
    ):
        text = await response.text()
        return response.status, (json.loads(text) if text.startswith("{") else {"text": text})


async def slash(
    bot: BotRuntime, command: str, text: str, *, channel: str, user: str = "U0ONCALL1"
) -> str:
    """Runs a slash command; returns the ephemeral text of the ack ("" when none)."""
    body = command_body(command, text, user_id=user, channel_id=channel)
    body += f"&trigger_id=t{next(_ids)}"
    status, answer = await post_signed(bot, body, FORM)
    assert status == 200, answer
    return str(answer.get("text", ""))


async def click(bot: BotRuntime, action_id: str, value: str, *, channel: str, user: str) -> None:
    status, answer = await post_signed(
        bot, button_click(action_id, value, user_id=user, channel_id=channel), FORM
    )
    assert status == 200, answer


async def event(bot: BotRuntime, payload: dict[str, Any], *, event_id: str | None = None) -> None:
    body = event_body(payload, event_id=event_id or f"Ev{next(_ids):06d}")
    status, answer = await post_signed(bot, body, "application/json")
    assert status == 200, answer
