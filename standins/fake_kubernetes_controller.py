"""The deployment controller of the fake Kubernetes cluster.

It runs synchronously after each write to a Deployment, so a test sees the result
at once, and follows the real controller where the bot can tell: which ReplicaSet
is "new" (the one whose pod template equals the Deployment's, ignoring
`pod-template-hash`; an old ReplicaSet is reused and gets the next revision, which
is what `kubectl rollout undo` relies on), revision and revision-history
annotations, rolling-update arithmetic (maxSurge, maxUnavailable, unhealthy old
pods scaled down first), paused Deployments, status counters omitted when zero,
the Available/Progressing conditions and `ScalingReplicaSet` events.

How far a rollout goes by itself is the test's choice (`RolloutMode`): `instant`
completes it at once; `manual` waits for `progress()`, one rolling step per call;
`stuck` creates the new pods not ready, so the rollout stalls like one whose image
does not pull, and reports `ProgressDeadlineExceeded`.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Literal

from standins.fake_kubernetes_cluster import Cluster, owner_reference, revision_of, safe_encode
from standins.fake_kubernetes_objects import (
    ANNOTATIONS_NOT_COPIED,
    DEPLOYMENTS,
    DESIRED_REPLICAS,
    HASH_LABEL,
    JSON,
    MAX_REPLICAS,
    REPLICASETS,
    REVISION,
    REVISION_HISTORY,
    rfc3339,
    surge_and_unavailable,
)

RolloutMode = Literal["instant", "manual", "stuck"]
ROLLOUT_MODES: tuple[RolloutMode, ...] = ("instant", "manual", "stuck")


def template_hash(template: JSON, collision_count: int = 0) -> str:
    """A `pod-template-hash` in the real one's shape: fnv32a of the template, safe-encoded."""
    value = 0x811C9DC5
    data = json.dumps(strip_hash(template), sort_keys=True).encode() + str(collision_count).encode()
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(value))


def strip_hash(template: JSON) -> JSON:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


class DeploymentController:
    """Reconciles Deployments of one `Cluster` in the current `RolloutMode`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.mode: RolloutMode = "instant"

    def sync_deployment(
        self, namespace: str, name: str, *, at: datetime | None = None, step: bool = False
    ) -> None:
        """Reconcile one Deployment; `step` makes one rolling step in `manual` mode."""
        deployment = self.cluster.require(DEPLOYMENTS, namespace, name)
        spec = deployment["spec"]
        template = spec["template"]
        all_rs = self.cluster.replicasets_of(deployment)
        new_rs = next(
            (rs for rs in all_rs if strip_hash(rs["spec"]["template"]) == strip_hash(template)),
            None,
        )
        old_rs = [rs for rs in all_rs if rs is not new_rs]
        if not spec.get("paused"):
            new_revision = max((revision_of(rs) for rs in old_rs), default=0) + 1
            if new_rs is None:
                new_rs = self._create_replicaset(deployment, new_revision, at)
            else:
                self._adopt_revision(deployment, new_rs, new_revision)
            annotations = deployment["metadata"].setdefault("annotations", {})
            annotations[REVISION] = str(revision_of(new_rs))
            self._rollout(deployment, new_rs, old_rs, at=at, step=step)
            self._clean_up_history(deployment, new_rs)
        elif new_rs is not None and not any(rs["spec"]["replicas"] for rs in old_rs):
            self._scale(deployment, new_rs, spec["replicas"], ready=True, at=at)
        self.refresh_deployment(deployment, at=at)

    def _create_replicaset(self, deployment: JSON, revision: int, at: datetime | None) -> JSON:
        meta, spec = deployment["metadata"], deployment["spec"]
        template = copy.deepcopy(spec["template"])
        pod_hash = template_hash(template, spec.get("collisionCount", 0))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        surge, _ = surge_and_unavailable(deployment)
        annotations = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k not in ANNOTATIONS_NOT_COPIED
        }
        annotations |= {
            DESIRED_REPLICAS: str(spec["replicas"]),
            MAX_REPLICAS: str(spec["replicas"] + surge),
            REVISION: str(revision),
        }
        rs: JSON = {
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [owner_reference(deployment)],
                "generation": 1,
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": spec.get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
            "status": {"replicas": 0},
        }
        self.cluster.store(REPLICASETS, rs, at=at)
        self.cluster.refresh_replicaset(rs)
        return rs

    def _adopt_revision(self, deployment: JSON, rs: JSON, revision: int) -> None:
        """An existing ReplicaSet became the new one again (a rollback): it takes the next
        revision and remembers its old number in `revision-history`."""
        annotations = rs["metadata"].setdefault("annotations", {})
        for key, value in (deployment["metadata"].get("annotations") or {}).items():
            if key not in ANNOTATIONS_NOT_COPIED:
                annotations[key] = value
        old = revision_of(rs)
        if old < revision:
            annotations[REVISION] = str(revision)
            if old:
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, str(old)])
        self.cluster.store(REPLICASETS, rs)  # a no-op when nothing changed

    def _scale(
        self, deployment: JSON, rs: JSON, replicas: int, *, ready: bool, at: datetime | None
    ) -> bool:
        before = rs["spec"]["replicas"]
        if before == replicas:
            return False
        self.cluster.scale_replicaset(rs, replicas, ready=ready, at=at)
        direction = "up" if replicas > before else "down"
        message = (
            f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}"
        )
        self.cluster.record_event(deployment, reason="ScalingReplicaSet", message=message, at=at)
        return True

    def _rollout(
        self, deployment: JSON, new_rs: JSON, old_rs: list[JSON], *, at: datetime | None, step: bool
    ) -> None:
        desired = deployment["spec"]["replicas"]
        ready = self.mode != "stuck"
        if self.mode == "instant":
            self.cluster.start_pods(new_rs)  # "becomes fully available at once"
        if self.mode == "instant" or not any(rs["spec"]["replicas"] for rs in old_rs):
            self._scale(deployment, new_rs, desired, ready=ready, at=at)
            if self.mode != "stuck":
                for rs in old_rs:
                    self._scale(deployment, rs, 0, ready=True, at=at)
            return
        if self.mode == "manual" and not step:
            return
        if deployment["spec"].get("strategy", {}).get("type") == "Recreate":
            for rs in old_rs:
                self._scale(deployment, rs, 0, ready=True, at=at)
            self._scale(deployment, new_rs, desired, ready=ready, at=at)
            return
        for _ in range(1 if self.mode == "manual" else 2 * desired + 2):
            if not self._rolling_step(deployment, new_rs, old_rs, ready=ready, at=at):
                break

    def _rolling_step(
        self,
        deployment: JSON,
        new_rs: JSON,
        old_rs: list[JSON],
        *,
        ready: bool,
        at: datetime | None,
    ) -> bool:
        """One pass of the controller's rolloutRolling: scale the new ReplicaSet up as far
        as maxSurge allows, then the old ones down as far as maxUnavailable allows."""
        desired = deployment["spec"]["replicas"]
        surge, unavailable = surge_and_unavailable(deployment)
        everything = [new_rs, *old_rs]
        total = sum(rs["spec"]["replicas"] for rs in everything)
        changed = False
        grow = min(desired + surge - total, desired - new_rs["spec"]["replicas"])
        if grow > 0:
            changed |= self._scale(
                deployment, new_rs, new_rs["spec"]["replicas"] + grow, ready=ready, at=at
            )
        total = sum(rs["spec"]["replicas"] for rs in everything)
        min_available = desired - unavailable
        new_unavailable = new_rs["spec"]["replicas"] - new_rs["status"].get("availableReplicas", 0)
        budget = total - min_available - new_unavailable
        for rs in old_rs:  # unhealthy old pods go first
            broken = rs["spec"]["replicas"] - rs["status"].get("availableReplicas", 0)
            take = min(budget, broken)
            if take > 0:
                changed |= self._scale(
                    deployment, rs, rs["spec"]["replicas"] - take, ready=True, at=at
                )
                budget -= take
        available = sum(rs["status"].get("availableReplicas", 0) for rs in everything)
        surplus = available - min_available
        for rs in old_rs:
            take = min(surplus, rs["spec"]["replicas"])
            if take > 0:
                changed |= self._scale(
                    deployment, rs, rs["spec"]["replicas"] - take, ready=True, at=at
                )
                surplus -= take
        return changed

    def _clean_up_history(self, deployment: JSON, new_rs: JSON) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in self.cluster.replicasets_of(deployment)
            if rs is not new_rs and not rs["spec"]["replicas"] and not self.cluster.pods_of(rs)
        ]
        idle.sort(key=revision_of)
        for rs in idle[: max(0, len(idle) - limit)]:
            self.cluster.delete(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def refresh_deployment(self, deployment: JSON, *, at: datetime | None = None) -> None:
        """Recompute status (counters omitted when zero, as the API does) and conditions."""
        spec = deployment["spec"]
        desired = spec["replicas"]
        all_rs = self.cluster.replicasets_of(deployment)
        new_rs = next(
            (
                rs
                for rs in all_rs
                if strip_hash(rs["spec"]["template"]) == strip_hash(spec["template"])
            ),
            None,
        )
        total = sum(rs["status"].get("replicas", 0) for rs in all_rs)
        updated = new_rs["status"].get("replicas", 0) if new_rs else 0
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in all_rs)
        available = sum(rs["status"].get("availableReplicas", 0) for rs in all_rs)
        previous = deployment.get("status") or {}
        status: JSON = {"observedGeneration": deployment["metadata"]["generation"]}
        counters = {
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
        }
        counters["unavailableReplicas"] = max(0, desired - available)
        status |= {key: value for key, value in counters.items() if value}
        _, max_unavailable = surge_and_unavailable(deployment)
        conditions = {c["type"]: c for c in previous.get("conditions") or []}
        when = rfc3339(at or self.cluster.clock())
        if available >= desired - max_unavailable:
            availability = (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            availability = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        _set_condition(conditions, "Available", *availability, when)
        rs = f'ReplicaSet "{new_rs["metadata"]["name"] if new_rs else ""}"'
        current = conditions.get("Progressing") or {}
        progress: tuple[str, str, str] | None
        if spec.get("paused"):
            progress = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif updated == desired and total == desired and available == desired:
            progress = ("True", "NewReplicaSetAvailable", f"{rs} has successfully progressed.")
        elif current.get("reason") == "NewReplicaSetAvailable" and rs in current["message"]:
            progress = None  # a pod of a finished rollout went unready: it stays finished
        elif self.mode == "stuck":
            progress = ("False", "ProgressDeadlineExceeded", f"{rs} has timed out progressing.")
        else:
            progress = ("True", "ReplicaSetUpdated", f"{rs} is progressing.")
        if progress is not None:
            _set_condition(conditions, "Progressing", *progress, when)
        status["conditions"] = [
            conditions[t] for t in ("Available", "Progressing") if t in conditions
        ]
        if previous.get("collisionCount"):
            status["collisionCount"] = previous["collisionCount"]
        deployment["status"] = status
        self.cluster.store(DEPLOYMENTS, deployment)

    def refresh_owners_of_pod(self, pod: JSON) -> None:
        rs = self.cluster.owner_of(pod, REPLICASETS)
        if rs is None:
            return
        self.cluster.refresh_replicaset(rs)
        deployment = self.cluster.owner_of(rs, DEPLOYMENTS)
        if deployment is not None:
            self.refresh_deployment(deployment)


def _set_condition(
    conditions: dict[str, JSON], type_: str, status: str, reason: str, message: str, when: str
) -> None:
    """SetDeploymentCondition: same status and reason keep the old condition; a changed
    status moves lastTransitionTime."""
    current = conditions.get(type_)
    if current is not None and current["status"] == status and current["reason"] == reason:
        if current["message"] != message:
            current["message"] = message
            current["lastUpdateTime"] = when
        return
    transition = (
        current["lastTransitionTime"]
        if current is not None and current["status"] == status
        else when
    )
    conditions[type_] = {
        "type": type_,
        "status": status,
        "lastUpdateTime": when,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }
