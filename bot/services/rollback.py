"""/rollback from request to patch: permission, preview, confirmation, the patch; the watch
of the rollout after it is `rollout_watch`, what is said and kept on the way `rollback_record`.

Nothing reaches the cluster without a confirmation click by the person who
asked, within 15 minutes, on a deployment unchanged since the preview.
"""

from __future__ import annotations

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
from bot.core.rollout import revisions
from bot.ports import ChatPort
from bot.services.group_directory import GroupDirectory
from bot.services.rollback_record import RollbackRecord
from bot.services.rollout_watch import RolloutWatch
from bot.settings import Catalog
from bot.storage.models import Incident, Rollback
from bot.storage.store import IncidentStore
from commands.rollback import (
    RollbackArgs,
    plan_summary,
    render_dry_run,
    render_history,
    render_preview,
)
from integrations.kubernetes import (
    KubernetesConflict,
    KubernetesError,
    KubernetesNotFound,
    KubernetesRefused,
    KubernetesSource,
    label_selector,
)

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
        self.record = RollbackRecord(store, chat, clock)
        self.watch = RolloutWatch(
            kubernetes, chat, self.record, interval=watch_interval, timeout=watch_timeout
        )

    async def stop(self) -> None:
        await self.watch.stop()

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
            await self.record.tell(
                channel, user, "Which deployment? /rollback <deployment> [-n namespace]"
            )
            return
        namespace, name = where
        k8s = self.kubernetes
        if k8s is None:
            await self.record.tell(
                channel, user, "Kubernetes is not configured for this bot (no kubeconfig)."
            )
            return
        if args.history:
            # Reading the history changes nothing, but it is still only for the namespaces
            # rollbacks are allowed in: not kube-system to anyone who asks.
            allowed = self.catalog.rollback.namespaces
            if namespace not in allowed:
                listed = ", ".join(allowed) or "none configured"
                await self.record.tell(
                    channel,
                    user,
                    f"Not showing the history: rollbacks are not allowed in namespace "
                    f"{mrkdwn(namespace)} (allowed: {mrkdwn(listed)}).",
                )
                return
        elif not await self._permitted(channel, user, namespace, name, incident):
            return
        try:
            deployment = await k8s.deployment(namespace, name)
            selector = label_selector(deployment["spec"]["selector"].get("matchLabels", {}))
            replicasets = await k8s.replicasets(namespace, selector)
        except KubernetesNotFound:
            await self.record.tell(
                channel, user, f"No deployment {mrkdwn(name)} in namespace {mrkdwn(namespace)}."
            )
            return
        except KubernetesError as e:
            await self.record.tell(
                channel, user, f"Kubernetes did not answer: {mrkdwn(e)}. Nothing was changed."
            )
            return
        if args.history:
            revs = revisions(deployment, replicasets)
            current = revs[0].number if revs else None
            await self.record.tell(channel, user, render_history(namespace, name, revs, current))
            return
        try:
            plan = plan_rollback(deployment, replicasets, to_revision=args.to_revision)
        except RollbackRefused as e:
            await self.record.tell(channel, user, f"Not rolling back: {mrkdwn(e)}")
            await self.record.note(
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
        await self.record.tell(channel, user, f"Not rolling back: {permission.reason}.")
        await self.record.note(
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
            await self.record.tell(channel, user, f"Dry run refused by the API server: {mrkdwn(e)}")
            return
        template = result.get("spec", {}).get("template", {})
        images = tuple(c.get("image", "") for c in template.get("spec", {}).get("containers", []))
        await self.record.tell(channel, user, render_dry_run(plan, images))

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
        await self.record.set(row, message_ts=posted.ts)
        audit.info(
            "rollback requested",
            rollback=row.id,
            user=user,
            plan=mrkdwn_to_plain(plan_summary(plan)),
        )
        await self.record.note(
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
            await self.record.tell(row.channel_id, user, f"Nothing done: {problem}.")
            return
        assert self.kubernetes is not None
        incident = await self.store.incident(row.incident_id) if row.incident_id else None
        # Asked again at the click: the user may have left the group, or the catalog changed.
        if not await self._permitted(row.channel_id, user, row.namespace, row.deployment, incident):
            return
        now = self.clock()
        # One statement claims the preview: of a double click (or two replicas) one goes on.
        claimed = await self.store.claim_row(
            Rollback,
            rollback_id,
            {"status": RollbackStatus.PENDING.value},
            status=RollbackStatus.CONFIRMED.value,
            confirmed_by=user,
            confirmed_at=now,
        )
        if not claimed:
            await self._tell_lost_claim(rollback_id, user)
            return
        row = await self.store.get(Rollback, rollback_id) or row
        audit.info("rollback confirmed", rollback=row.id, user=user)
        await self.record.note(
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
            await self.record.finish(
                row,
                incident,
                RollbackStatus.STALE,
                f"{mrkdwn(e)}: nothing was changed; run /rollback again",
            )
            return
        except KubernetesError as e:
            await self.record.finish(
                row, incident, RollbackStatus.FAILED, f"Kubernetes refused the patch: {mrkdwn(e)}"
            )
            return
        row = await self.record.set(row, status=RollbackStatus.PATCHED.value)
        await self.record.note(
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
        self.watch.start(row, incident)

    async def resume(self) -> int:
        """After a restart: watch again every rollout that was patched but not yet finished."""
        if self.kubernetes is None:
            return 0
        rows = await self.store.rollbacks_with_status(RollbackStatus.PATCHED.value)
        for row in rows:
            incident = await self.store.incident(row.incident_id) if row.incident_id else None
            self.watch.start(row, incident)
        return len(rows)

    async def cancel(self, rollback_id: int, user: str) -> None:
        row = await self.store.get(Rollback, rollback_id)
        if row is None:
            return
        problem = check_click(_pending(row), user, self.clock(), cancelling=True)
        if problem is not None:
            await self.record.tell(row.channel_id, user, f"Nothing done: {problem}.")
            return
        claimed = await self.store.claim_row(
            Rollback,
            rollback_id,
            {"status": RollbackStatus.PENDING.value},
            status=RollbackStatus.CANCELLED.value,
            confirmed_by=None,
        )
        if not claimed:  # confirmed (or cancelled) a moment ago by another click
            await self._tell_lost_claim(rollback_id, user)
            return
        incident = await self.store.incident(row.incident_id) if row.incident_id else None
        await self.record.finish(
            row,
            incident,
            RollbackStatus.CANCELLED,
            f"Cancelled by {mention(user)}; nothing was changed",
        )

    async def _tell_lost_claim(self, rollback_id: int, user: str) -> None:
        row = await self.store.get(Rollback, rollback_id)
        if row is not None:
            problem = check_click(_pending(row), user, self.clock(), cancelling=True)
            await self.record.tell(row.channel_id, user, f"Nothing done: {problem}.")


def _pending(row: Rollback) -> PendingRollback:
    return PendingRollback(
        row.requested_by, row.created_at, RollbackStatus(row.status), row.confirmed_by
    )
