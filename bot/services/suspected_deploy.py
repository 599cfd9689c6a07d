"""The "suspected cause" hint on a new incident: a rollout of its service just before it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.core.escaping import mrkdwn
from bot.core.lifecycle import format_duration
from bot.core.messages import suspected_deploy_blocks
from bot.core.rollout import revisions, rollouts_between
from bot.settings import Catalog
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore
from commands.rollback import suggestion_button
from integrations.kubernetes import KubernetesSource, label_selector

SUSPECT_WINDOW = timedelta(minutes=30)


class SuspectedDeploy:
    def __init__(
        self,
        store: IncidentStore,
        kubernetes: KubernetesSource | None,
        catalog: Catalog,
        clock: Clock,
    ) -> None:
        self.store, self.kubernetes, self.catalog, self.clock = store, kubernetes, catalog, clock

    async def blocks(self, incident: Incident) -> list[dict[str, Any]]:
        """Rollouts (ReplicaSet creations) in [start - 30 min, start]; the newest is suspected."""
        service = self.catalog.services.get(incident.service or "")
        if service is None or service.deployment is None or self.kubernetes is None:
            return []
        ns, name = service.namespace, service.deployment
        deployment = await self.kubernetes.deployment(ns, name)
        selector = label_selector(deployment["spec"]["selector"].get("matchLabels", {}))
        revs = revisions(deployment, await self.kubernetes.replicasets(ns, selector))
        start = incident.started_at
        recent = rollouts_between(revs, start - SUSPECT_WINDOW, start)
        if not recent:
            return []
        suspect = recent[0]
        assert suspect.created_at is not None
        older = [r for r in revs if r.number < suspect.number]
        minutes = max(0, round((start - suspect.created_at).total_seconds() / 60))
        ago = format_duration(timedelta(minutes=minutes))  # whole minutes are enough here
        before = "the alert" if incident.source == "alertmanager" else "the incident was declared"
        text = (
            f"Suspected cause: {mrkdwn(name)} revision {suspect.number} (image "
            f"{mrkdwn(', '.join(suspect.images))}) rolled out {ago} before {before}"
        )
        button = suggestion_button(ns, name, older[0].number) if older else None
        if incident.id is not None:
            now = self.clock()
            details = {
                "namespace": ns,
                "deployment": name,
                "revision": suspect.number,
                "images": list(suspect.images),
                "rolled_out_at": suspect.created_at.isoformat(),
                "minutes_before": minutes,
                "rollback_to": older[0].number if older else None,
            }
            await self.store.add_event(
                TimelineEvent.record(
                    incident.id,
                    "suspected_deploy",
                    text,
                    actor="incident-bot",
                    now=now,
                    key=f"incident:{incident.id}:suspected_deploy",
                    occurred_at=suspect.created_at,
                    details=details,
                )
            )
        return suspected_deploy_blocks(text, button)
