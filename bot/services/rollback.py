"""/rollback from request to outcome: permission, preview, confirmation, patch, watch, audit.

Nothing reaches the cluster without a confirmation click by the person who
asked, within 15 minutes, on a deployment unchanged since the preview.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.escaping import mention, mrkdwn, mrkdwn_to_plain
from bot.core.rollback import (
    PendingRollback,
    RollbackPlan,
    RollbackRefused,
    RollbackStatus,
    check_click,
    may_roll_back,
    plan_rollback,
)
from bot.core.rollout import revisions, rollout_status
from bot.ports import ChatPort
from bot.services.group_directory import GroupDirectory
from bot.settings import Catalog
from bot.storage.models import Incident, Rollback, TimelineEvent
from bot.storage.store import IncidentStore
from commands.rollback import (
    RollbackArgs,
    plan_summary,
    render_dry_run,
    render_history,
    render_preview,
    render_progress,
)
from integrations.kubernetes import (
    KubernetesConflict,
    KubernetesError,
    KubernetesNotFound,
    KubernetesRefused,
    KubernetesSource,
    label_selector,
)
from integrations.slack import SlackError

log = structlog.get_logger(__name__)
audit = structlog.get_logger("incident_bot.audit")


class RollbackService:
    def __init__(
        self,
        store: IncidentStore,
        chat: ChatPort,
        kubernetes: KubernetesSource | None,
        catalog: Catalog,
        clock: Clock,
        *,
        watch_interval: float = 2.0,
        watch_timeout: float = 600.0,
    ) -> None:
        self.store, self.chat, self.kubernetes = store, chat, kubernetes
        self.catalog, self.clock = catalog, clock
        self.groups = GroupDirectory(chat, clock)
        self.watch_interval, self.watch_timeout = watch_interval, watch_timeout
        self._watches: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in list(self._watches):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def target(self, args: RollbackArgs, incident: Incident | None) -> tuple[str, str] | None:
        """(namespace, deployment): the arguments, else the incident's service from the catalog."""
        service = self.catalog.services.get(incident.service or "") if incident else None
        deployment = args.deployment or (service.deployment if service else None)
        if deployment is None:
            return None
        namespace = args.namespace
        if namespace is None:
            owners = [s for s in self.catalog.services.values() if s.deployment == deployment]
            namespace = (
                owners[0].namespace if owners else (service.namespace if service else "default")
            )
        return namespace, deployment

    async def request(
        self, channel: str, user: str, args: RollbackArgs, incident: Incident | None
    ) -> None:
        where = self.target(args, incident)
        if where is None:
            await self._tell(
                channel, user, "Which deployment? /rollback <deployment> [-n namespace]"
            )
            return
        namespace, name = where
        k8s = self.kubernetes
        if k8s is None:
            await self._tell(
                channel, user, "Kubernetes is not configured for this bot (no kubeconfig)."
            )
            return
        if args.history:
            # Reading the history changes nothing, but it is still only for the namespaces
            # rollbacks are allowed in: not kube-system to anyone who asks.
            allowed = self.catalog.rollback.namespaces
            if namespace not in allowed:
                listed = ", ".join(allowed) or "none configured"
                await self._tell(
                    channel, user,
                    f"Not showing the history: rollbacks are not allowed in namespace "
                    f"{mrkdwn(namespace)} (allowed: {mrkdwn(listed)}).",
                )  # fmt: skip
                return
        elif not await self._permitted(channel, user, namespace, name, incident):
            return
        try:
            deployment = await k8s.deployment(namespace, name)
            selector = label_selector(deployment["spec"]["selector"].get("matchLabels", {}))
            replicasets = await k8s.replicasets(namespace, selector)
        except KubernetesNotFound:
            await self._tell(
                channel, user, f"No deployment {mrkdwn(name)} in namespace {mrkdwn(namespace)}."
            )
            return
        except KubernetesError as e:
            await self._tell(
                channel, user, f"Kubernetes did not answer: {mrkdwn(e)}. Nothing was changed."
            )
            return
        if args.history:
            revs = revisions(deployment, replicasets)
            current = revs[0].number if revs else None
            await self._tell(channel, user, render_history(namespace, name, revs, current))
            return
        try:
            plan = plan_rollback(deployment, replicasets, to_revision=args.to_revision)
        except RollbackRefused as e:
            await self._tell(channel, user, f"Not rolling back: {mrkdwn(e)}")
            await self._note(
                incident, "rollback_refused", mrkdwn(f"Rollback of {name} refused: {e}"), user
            )
            return
        if args.dry_run:
            await self._dry_run(channel, user, plan)
            return
        await self._preview(channel, user, plan, incident, force=args.force)

    async def _permitted(
        self, channel: str, user: str, namespace: str, name: str, incident: Incident | None
    ) -> bool:
        policy = self.catalog.rollback
        groups = await self.groups.groups_of(user, policy.allowed_groups)
        permission = may_roll_back(
            user,
            groups,
            namespace,
            allowed_users=policy.allowed_users,
            allowed_groups=policy.allowed_groups,
            namespaces=policy.namespaces,
        )
        if permission.allowed:
            return True
        audit.warning(
            "rollback refused",
            user=user,
            namespace=namespace,
            deployment=name,
            reason=permission.reason,
        )
        await self._tell(channel, user, f"Not rolling back: {permission.reason}.")
        await self._note(
            incident,
            "rollback_refused",
            f"Rollback of {mrkdwn(namespace)}/{mrkdwn(name)} refused: {permission.reason}",
            user,
        )
        return False

    async def _dry_run(self, channel: str, user: str, plan: RollbackPlan) -> None:
        assert self.kubernetes is not None
        try:
            result = await self.kubernetes.patch_deployment(
                plan.namespace, plan.deployment, list(plan.patch), dry_run=True
            )
        except KubernetesError as e:
            await self._tell(channel, user, f"Dry run refused by the API server: {mrkdwn(e)}")
            return
        template = result.get("spec", {}).get("template", {})
        images = tuple(c.get("image", "") for c in template.get("spec", {}).get("containers", []))
        await self._tell(channel, user, render_dry_run(plan, images))

    async def _preview(
        self, channel: str, user: str, plan: RollbackPlan, incident: Incident | None, *, force: bool
    ) -> None:
        row = await self.store.save(
            Rollback(
                incident_id=incident.id if incident else None,
                channel_id=channel,
                requested_by=user,
                namespace=plan.namespace,
                deployment=plan.deployment,
                resource_version=plan.resource_version,
                from_revision=plan.from_revision,
                to_revision=plan.to_revision,
                from_images=list(plan.from_images),
                to_images=list(plan.to_images),
                patch=list(plan.patch),
                force=force,
                created_at=self.clock(),
                status=RollbackStatus.BLOCKED.value
                if plan.gitops and not force
                else RollbackStatus.PENDING.value,
            )
        )
        assert row.id is not None
        text, blocks = render_preview(plan, rollback_id=row.id, requested_by=user, force=force)
        posted = await self.chat.post_message(channel, text, blocks)
        await self._set(row, message_ts=posted.ts)
        audit.info(
            "rollback requested", rollback=row.id, user=user,
            plan=mrkdwn_to_plain(plan_summary(plan)),
        )  # fmt: skip
        await self._note(
            incident,
            "rollback_requested",
            f"{mention(user)} asked to roll back {plan_summary(plan)}",
            user,
            key=f"rollback:{row.id}:requested",
        )

    async def confirm(self, rollback_id: int, user: str) -> None:
        row = await self.store.get(Rollback, rollback_id)
        if row is None:
            return
        problem = check_click(_pending(row), user, self.clock())
        if problem is not None:
            await self._tell(row.channel_id, user, f"Nothing done: {problem}.")
            return
        assert self.kubernetes is not None
        incident = await self.store.incident(row.incident_id) if row.incident_id else None
        # Asked again at the click: the user may have left the group, or the catalog changed.
        if not await self._permitted(row.channel_id, user, row.namespace, row.deployment, incident):
            return
        now = self.clock()
        # One statement claims the preview: of a double click (or two replicas) one goes on.
        claimed = await self.store.claim_row(
            Rollback, rollback_id, {"status": RollbackStatus.PENDING.value},
            status=RollbackStatus.CONFIRMED.value, confirmed_by=user, confirmed_at=now,
        )  # fmt: skip
        if not claimed:
            await self._tell_lost_claim(rollback_id, user)
            return
        row = await self.store.get(Rollback, rollback_id) or row
        audit.info("rollback confirmed", rollback=row.id, user=user)
        await self._note(
            incident,
            "rollback_confirmed",
            f"{mention(user)} confirmed the rollback of {mrkdwn(row.namespace)}/"
            f"{mrkdwn(row.deployment)}",
            user,
            key=f"rollback:{row.id}:confirmed",
        )
        try:
            current = await self.kubernetes.deployment(row.namespace, row.deployment)
            if current["metadata"].get("resourceVersion") != row.resource_version:
                raise KubernetesConflict("the deployment changed since the preview")
            await self.kubernetes.patch_deployment(row.namespace, row.deployment, row.patch)
        except (KubernetesConflict, KubernetesRefused) as e:
            await self._finish(
                row,
                incident,
                RollbackStatus.STALE,
                f"{mrkdwn(e)}: nothing was changed; run /rollback again",
            )
            return
        except KubernetesError as e:
            await self._finish(
                row, incident, RollbackStatus.FAILED, f"Kubernetes refused the patch: {mrkdwn(e)}"
            )
            return
        row = await self._set(row, status=RollbackStatus.PATCHED.value)
        await self._note(
            incident,
            "rollback_patched",
            mrkdwn(
                f"Patched {row.namespace}/{row.deployment}: revision {row.from_revision} "
                f"({', '.join(row.from_images)}) -> revision {row.to_revision} "
                f"({', '.join(row.to_images)})"
            ),
            user,
            key=f"rollback:{row.id}:patched",
            details={
                "from_revision": row.from_revision,
                "to_revision": row.to_revision,
                "from_images": row.from_images,
                "to_images": row.to_images,
            },
        )
        self._start_watch(row, incident)

    def _start_watch(self, row: Rollback, incident: Incident | None) -> None:
        task = asyncio.create_task(self._watch(row, incident))
        self._watches.add(task)
        task.add_done_callback(self._watches.discard)

    async def resume(self) -> int:
        """After a restart: watch again every rollout that was patched but not yet finished."""
        if self.kubernetes is None:
            return 0
        rows = await self.store.rollbacks_with_status(RollbackStatus.PATCHED.value)
        for row in rows:
            incident = await self.store.incident(row.incident_id) if row.incident_id else None
            self._start_watch(row, incident)
        return len(rows)

    async def cancel(self, rollback_id: int, user: str) -> None:
        row = await self.store.get(Rollback, rollback_id)
        if row is None:
            return
        problem = check_click(_pending(row), user, self.clock(), cancelling=True)
        if problem is not None:
            await self._tell(row.channel_id, user, f"Nothing done: {problem}.")
            return
        claimed = await self.store.claim_row(
            Rollback, rollback_id, {"status": RollbackStatus.PENDING.value},
            status=RollbackStatus.CANCELLED.value, confirmed_by=None,
        )  # fmt: skip
        if not claimed:  # confirmed (or cancelled) a moment ago by another click
            await self._tell_lost_claim(rollback_id, user)
            return
        incident = await self.store.incident(row.incident_id) if row.incident_id else None
        await self._finish(
            row,
            incident,
            RollbackStatus.CANCELLED,
            f"Cancelled by {mention(user)}; nothing was changed",
        )

    async def _tell_lost_claim(self, rollback_id: int, user: str) -> None:
        row = await self.store.get(Rollback, rollback_id)
        if row is not None:
            problem = check_click(_pending(row), user, self.clock(), cancelling=True)
            await self._tell(row.channel_id, user, f"Nothing done: {problem}.")

    async def _watch(self, row: Rollback, incident: Incident | None) -> None:
        """Like `kubectl rollout status`: one message updated in place until done."""
        assert self.kubernetes is not None
        plan_view = _plan_of(row)
        deadline = asyncio.get_running_loop().time() + self.watch_timeout
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
                    await self._finish(row, incident, outcome, mrkdwn(status.message), update=False)
                    return
            if asyncio.get_running_loop().time() > deadline:
                await self._finish(
                    row,
                    incident,
                    RollbackStatus.TIMED_OUT,
                    f"not finished after {self.watch_timeout:g} s",
                    update=False,
                )
                return
            await asyncio.sleep(self.watch_interval)  # the rollout's own pace, not a test wait

    async def _finish(
        self,
        row: Rollback,
        incident: Incident | None,
        status: RollbackStatus,
        detail: str,
        *,
        update: bool = True,
    ) -> None:
        """`detail` is Slack mrkdwn (outside strings already escaped), like timeline texts."""
        row = await self._set(row, status=status.value, detail=detail, finished_at=self.clock())
        audit.info(
            "rollback finished",
            rollback=row.id,
            outcome=status.value,
            detail=detail,
            namespace=row.namespace,
            deployment=row.deployment,
            from_revision=row.from_revision,
            to_revision=row.to_revision,
        )
        icon = {
            RollbackStatus.COMPLETED: ":white_check_mark:",
            RollbackStatus.CANCELLED: ":no_entry_sign:",
        }.get(status, ":x:")
        what = mrkdwn(f"{row.namespace}/{row.deployment} to revision {row.to_revision}")
        text = f"{icon} Rollback of {what}: {status}. {detail}"
        with contextlib.suppress(SlackError):
            if update and row.message_ts:
                await self.chat.update_message(row.channel_id, row.message_ts, text, None)
            else:
                await self.chat.post_message(row.channel_id, text)
        await self._note(
            incident,
            f"rollback_{status}",
            text,
            row.confirmed_by or row.requested_by,
            key=f"rollback:{row.id}:{status}",
        )

    async def _set(self, row: Rollback, **values: Any) -> Rollback:
        assert row.id is not None
        updated = await self.store.update_row(Rollback, row.id, **values)
        assert updated is not None
        return updated

    async def _tell(self, channel: str, user: str, text: str) -> None:
        try:
            await self.chat.post_ephemeral(channel, user, text)
        except SlackError as e:
            log.warning("could not answer the user", channel=channel, error=e.error)

    async def _note(
        self,
        incident: Incident | None,
        kind: str,
        text: str,
        actor: str,
        *,
        key: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if incident is None or incident.id is None:
            return
        now = self.clock()
        await self.store.add_event(
            TimelineEvent.record(
                incident.id,
                kind,
                text,
                actor=actor,
                now=now,
                key=key or f"{kind}:{now.isoformat()}",
                details=details or {},
            )
        )


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


def _pending(row: Rollback) -> PendingRollback:
    return PendingRollback(
        row.requested_by, row.created_at, RollbackStatus(row.status), row.confirmed_by
    )
