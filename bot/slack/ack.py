"""Slack's 3-second rule for slash commands: an answer in time, whatever the backends do.

A command handler calls `ack(text=...)` with its answer as usual. It runs with a budget
(under Slack's 3 s); when the answer is not ready by then (the database or a backend is
slow), Slack gets a placeholder ack, and the real answer follows through the command's
`response_url`, seen by the same person in the same place. Either way the user never
sees Slack's "operation_timeout".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

from bot.workers.tasks import TaskSet

log = structlog.get_logger(__name__)

ACK_BUDGET = 2.0  # seconds; Slack allows 3, the rest is for the network and the socket
PENDING = "Working on it: the answer follows here in a moment."
FAILED = "That failed on the bot's side; its log says why. Nothing was changed by this reply."
Ack = Callable[..., Awaitable[object]]  # slack_bolt's AsyncAck, or our in-budget wrapper


class BudgetedAck:
    """The `ack` a handler sees: the real ack while in budget, `respond` after the placeholder."""

    def __init__(self, ack: Ack, respond: Ack) -> None:
        self._ack, self._respond = ack, respond
        self._lock = asyncio.Lock()
        self._state = "waiting"  # -> "acked" | "placeholder" -> "answered"
        self.sent = asyncio.Event()

    async def __call__(self, text: str = "", **kwargs: Any) -> None:
        async with self._lock:
            if self._state == "waiting":
                await self._ack(text=text, **kwargs)
                self._state = "acked"
                self.sent.set()
            elif self._state == "placeholder":
                self._state = "answered"
                await self._respond(text=text, response_type="ephemeral", replace_original=False)

    async def instead(self, text: str) -> None:
        """Ack with `text` unless the handler has acked already."""
        async with self._lock:
            if self._state == "waiting":
                await self._ack(text=text)
                self._state = "placeholder"
                self.sent.set()


async def ack_within(
    ack: Ack,
    respond: Ack,
    handler: Callable[[Ack], Coroutine[Any, Any, None]],
    *,
    tasks: TaskSet,
    what: str,
    budget: float = ACK_BUDGET,
) -> None:
    """Run `handler(ack)` in the background; return once Slack has been answered."""
    budgeted = BudgetedAck(ack, respond)
    work = tasks.spawn(handler(budgeted), name=what)
    answered = asyncio.ensure_future(budgeted.sent.wait())
    try:
        await asyncio.wait({work, answered}, timeout=budget, return_when=asyncio.FIRST_COMPLETED)
    finally:
        answered.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await answered
    if budgeted.sent.is_set():
        return
    if work.done():  # it ended without answering: it failed (TaskSet logged why)
        await budgeted.instead(FAILED)
        return
    log.info("command answer late: placeholder ack sent", command=what, budget=budget)
    await budgeted.instead(PENDING)
