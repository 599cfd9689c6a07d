"""The loops that do accepted work after the HTTP answer: deliveries, then Slack jobs.

A wake-up event makes them react at once; a short poll picks up what another
replica or a previous run of this process left behind.

Stopping (SIGTERM) takes no new work and lets the step in flight finish, for at
most `grace` seconds (the Helm chart's terminationGracePeriodSeconds covers it);
what is cancelled after that gives its claim back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from bot.workers.intake import AlertIntake
from bot.workers.slack_outbox import SlackWorker

log = structlog.get_logger(__name__)
Step = Callable[[], Awaitable[object]]
COALESCE_SECONDS = 0.05


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
        self._events = [self._deliveries, self._jobs]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        intake.should_stop = worker.should_stop = self.stopping
        worker.lanes.on_done = self.wake_jobs  # an incident's lane ended: it may have more

    def stopping(self) -> bool:
        return self._stopping

    def wake(self) -> None:
        self._deliveries.set()

    def wake_jobs(self) -> None:
        self._jobs.set()

    def start(self) -> None:
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._loop(self._deliveries, self._process_deliveries)),
            asyncio.create_task(self._loop(self._jobs, self.worker.run_due)),
        ]
        for step, interval in self.periodic:
            event = asyncio.Event()
            self._events.append(event)
            self._tasks.append(asyncio.create_task(self._loop(event, step, interval)))
        self.wake()

    async def stop(self, *, grace: float = 10.0) -> None:
        """Finish the step in flight (at most `grace` seconds), then stop."""
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + grace
        for event in self._events:
            event.set()  # a loop waiting for work returns now
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                log.warning("background step still running at stop; cancelled")
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # The incidents' Slack lanes finish their step in flight within the same grace.
        await self.worker.lanes.stop(max(0.0, deadline - asyncio.get_running_loop().time()))
        self._tasks = []

    async def _process_deliveries(self) -> int:
        done = await self.intake.process_pending()
        if done:
            self._jobs.set()
            # In a storm, let deliveries gather for a moment: one pass and one commit for
            # many, instead of a pass per webhook competing with intake for the CPU.
            await asyncio.sleep(COALESCE_SECONDS)
        return done

    async def _loop(self, event: asyncio.Event, step: Step, interval: float | None = None) -> None:
        while not self._stopping:
            event.clear()
            try:
                await step()
            except Exception:
                # The database or Slack is having a moment; the work stays stored for next time.
                log.exception(
                    "background step failed; will retry", step=getattr(step, "__name__", "")
                )
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), interval or self.poll_interval)
