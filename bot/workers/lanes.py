"""Lanes: work for many keys side by side, one lane per key, a bounded number at once.

The Slack outbox runs each incident's jobs in order, but one incident's slow answer from
Slack (or a storm's two hundred new channels) must not hold back another incident: each
incident gets a lane (a task) of its own, at most `width` of them run at once, and a
pass of the worker starts lanes only for incidents that have none running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

import structlog

log = structlog.get_logger(__name__)


class Lanes:
    def __init__(self, width: int, *, on_done: Callable[[], None] = lambda: None) -> None:
        self._gate = asyncio.Semaphore(width)
        self._running: dict[Hashable, asyncio.Task[int]] = {}
        self._finished = 0
        self.on_done = on_done  # called as each lane ends: its key may have more work

    def busy(self, key: Hashable) -> bool:
        return key in self._running

    def start(self, key: Hashable, work: Callable[[], Awaitable[int]]) -> None:
        """Run `work` (returning how many things it finished) in the lane of `key`."""
        if key in self._running:
            raise RuntimeError(f"lane {key!r} is already running")
        task = asyncio.create_task(self._run(work), name=f"lane {key}")
        self._running[key] = task
        task.add_done_callback(lambda t: self._ended(key, t))

    def take_finished(self) -> int:
        """How many things the lanes finished since the last call."""
        finished, self._finished = self._finished, 0
        return finished

    async def stop(self, grace: float) -> None:
        """Let the running lanes end (at most `grace` seconds), then cancel what is left."""
        tasks = list(self._running.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, work: Callable[[], Awaitable[int]]) -> int:
        async with self._gate:
            return await work()

    def _ended(self, key: Hashable, task: asyncio.Task[int]) -> None:
        self._running.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # The database or Slack is having a moment; the jobs stay stored for next time.
            log.error("slack lane failed; will retry", lane=str(key), exc_info=error)
        else:
            self._finished += task.result()
        self.on_done()
