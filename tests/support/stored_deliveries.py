"""The webhook deliveries the bot stored, read straight from its database."""

from __future__ import annotations

from sqlmodel import select

from bot.runtime import BotRuntime
from bot.storage.models import WebhookDelivery


async def deliveries(bot: BotRuntime) -> list[WebhookDelivery]:
    async with bot.store.unit() as unit:
        return list((await unit.session.exec(select(WebhookDelivery))).all())
