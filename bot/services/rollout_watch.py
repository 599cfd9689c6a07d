"""RolloutWatch: after the patch, the rollout followed like `kubectl rollout status`, one
message updated in place until it completes, fails or times out."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from bot.core.escaping import mrkdwn
from bot.core.rollback import RollbackPlan, RollbackStatus
from bot.core.rollout import rollout_status
from bot.ports import ChatPort
from bot.services.rollback_record import RollbackRecord
from bot.storage.models import Incident, Rollback
from commands.rollback import render_progress
from integrations.kubernetes import KubernetesError, KubernetesSource
from integrations.slack import SlackError

log = structlog.get_logger(__name__)


class RolloutWatch:
    def __init__(
        self,
        kubernetes: KubernetesSource | None,
        chat: ChatPort,
        record: RollbackRecord,
        *,
        interval: float,
        timeout: float,
    ) -> None:
        self.kubernetes, self.chat, self.record = kubernetes, chat, record
        self.interval, self.timeout = interval, timeout
        self._watches: set[asyncio.Task[None]] = set()

    def start(self, row: Rollback, incident: Incident | None) -> None:
        task = asyncio.create_task(self._watch(row, incident))
        self._watches.add(task)
        task.add_done_callback(self._watches.discard)

    async def stop(self) -> None:
        for task in list(self._watches):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self, row: Rollback, incident: Incident | None) -> None:
        """Like `kubectl rollout status`: one message updated in place until done."""
        assert self.kubernetes is not None  # only a patched rollback is watched
        plan_view = _plan_of(row)
        deadline = asyncio.get_running_loop().time() + self.timeout
        last = ""
        while True:
            try:
                status = rollout_status(
                    await self.kubernetes.deployment(row.namespace, row.deployment)
                )
            except KubernetesError as e:
                status = None
                log.warning("rollout watch: Kubernetes did not answer", error=str(e))
            if status is not None:
                text, blocks = render_progress(plan_view, status, by=row.confirmed_by or "")
                if text != last and row.message_ts:
                    with contextlib.suppress(SlackError):
                        await self.chat.update_message(row.channel_id, row.message_ts, text, blocks)
                    last = text
                if status.state in ("complete", "failed"):
                    outcome = RollbackStatus.COMPLETED if status.done else RollbackStatus.FAILED
                    await self.record.finish(
                        row, incident, outcome, mrkdwn(status.message), update=False
                    )
                    return
            if asyncio.get_running_loop().time() > deadline:
                await self.record.finish(
                    row,
                    incident,
                    RollbackStatus.TIMED_OUT,
                    f"not finished after {self.timeout:g} s",
                    update=False,
                )
                return
            await asyncio.sleep(self.interval)  # the rollout's own pace, not a test wait


def _plan_of(row: Rollback) -> RollbackPlan:
    return RollbackPlan(
        namespace=row.namespace,
        deployment=row.deployment,
        resource_version=row.resource_version,
        from_revision=row.from_revision,
        from_images=tuple(row.from_images),
        to_revision=row.to_revision,
        to_images=tuple(row.to_images),
        diff=(),
        patch=(),
    )
