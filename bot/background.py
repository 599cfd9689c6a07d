"""The loops that do accepted work after the HTTP answer: deliveries, then Slack jobs.

A wake-up event makes them react at once; a short poll picks up what another
replica or a previous run of this process left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from bot.alert_intake import AlertIntake
from bot.slack_worker import SlackWorker

log = structlog.get_logger(__name__)
Step = Callable[[], Awaitable[object]]


class BackgroundWork:
    def __init__(
        self,
        intake: AlertIntake,
        worker: SlackWorker,
        *,
        poll_interval: float = 1.0,
        periodic: Sequence[tuple[Step, float]] = (),
    ) -> None:
        self.intake = intake
        self.worker = worker
        self.poll_interval = poll_interval
        self.periodic = list(periodic)
        self._deliveries = asyncio.Event()
        self._jobs = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._deliveries.set()

    def wake_jobs(self) -> None:
        self._jobs.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(self._deliveries, self._process_deliveries)),
            asyncio.create_task(self._loop(self._jobs, self.worker.run_due)),
        ]
        for step, interval in self.periodic:
            self._tasks.append(asyncio.create_task(self._loop(asyncio.Event(), step, interval)))
        self.wake()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _process_deliveries(self) -> int:
        done = await self.intake.process_pending()
        if done:
            self._jobs.set()
        return done

    async def _loop(self, event: asyncio.Event, step: Step, interval: float | None = None) -> None:
        while True:
            event.clear()
            try:
                await step()
            except Exception:
                # The database or Slack is having a moment; the work stays stored for next time.
                log.exception(
                    "background step failed; will retry", step=getattr(step, "__name__", "")
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), interval or self.poll_interval)
