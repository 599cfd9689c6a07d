"""Reading a Deployment the way kubectl does: revisions, rollout status, pod trouble.

Inputs are the JSON shapes the Kubernetes API returns (camelCase dicts), so the
same functions serve `/status`, `/rollback` and the suspected-deploy hint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.kube_objects import Obj, dig, mappings, number, text, time_of

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def revision_of(obj: Obj) -> int | None:
    raw = dig(obj, "metadata", "annotations", REVISION_ANNOTATION)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def images_of(template: Obj) -> tuple[str, ...]:
    return tuple(text(c, "image") or "" for c in mappings(template, "spec", "containers"))


def owned_replicasets(deployment: Obj, replicasets: Iterable[Obj]) -> list[Obj]:
    """The ReplicaSets this Deployment controls, by owner reference (as kubectl finds them)."""
    uid = dig(deployment, "metadata", "uid")
    owned = []
    for rs in replicasets:
        for ref in mappings(rs, "metadata", "ownerReferences"):
            if uid is not None and ref.get("uid") == uid and ref.get("controller", False):
                owned.append(rs)
                break
    return owned


@dataclass(frozen=True)
class Revision:
    number: int
    replicaset: str
    images: tuple[str, ...]
    created_at: datetime | None
    replicas: int
    template: Obj


def revisions(deployment: Obj, replicasets: Iterable[Obj]) -> list[Revision]:
    """Newest first."""
    found = []
    for rs in owned_replicasets(deployment, replicasets):
        revision = revision_of(rs)
        if revision is None:
            continue
        template = dig(rs, "spec", "template", default={})
        found.append(
            Revision(
                number=revision,
                replicaset=text(rs, "metadata", "name") or "",
                images=images_of(template),
                created_at=time_of(dig(rs, "metadata", "creationTimestamp")),
                replicas=number(rs, "status", "replicas"),
                template=template,
            )
        )
    return sorted(found, key=lambda r: r.number, reverse=True)


@dataclass(frozen=True)
class RolloutStatus:
    desired: int
    updated: int
    ready: int
    available: int
    paused: bool
    state: str  # "complete" | "progressing" | "failed" | "paused"
    message: str

    @property
    def done(self) -> bool:
        return self.state == "complete"


def rollout_status(deployment: Obj) -> RolloutStatus:
    """What `kubectl rollout status` would say about this Deployment right now."""
    name = text(deployment, "metadata", "name") or "deployment"
    desired = number(deployment, "spec", "replicas", default=1)
    status = dig(deployment, "status", default={})
    updated = number(status, "updatedReplicas")
    ready = number(status, "readyReplicas")
    available = number(status, "availableReplicas")
    total = number(status, "replicas")
    paused = dig(deployment, "spec", "paused") is True

    def result(state: str, message: str) -> RolloutStatus:
        return RolloutStatus(desired, updated, ready, available, paused, state, message)

    if paused:
        return result("paused", f'deployment "{name}" is paused')
    generation = number(deployment, "metadata", "generation")
    if generation > number(status, "observedGeneration"):
        return result("progressing", "Waiting for deployment spec update to be observed...")
    for condition in mappings(status, "conditions"):
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return result("failed", f'deployment "{name}" exceeded its progress deadline')
    if updated < desired:
        return result(
            "progressing", f"{updated} out of {desired} new replicas have been updated..."
        )
    if total > updated:
        return result("progressing", f"{total - updated} old replicas are pending termination...")
    if available < updated:
        return result("progressing", f"{available} of {updated} updated replicas are available...")
    return result("complete", f'deployment "{name}" successfully rolled out')


@dataclass(frozen=True)
class EventLine:
    at: datetime | None
    object: str
    reason: str
    message: str
    count: int


def warning_events(
    events: Iterable[Obj], names: set[str], *, prefixes: tuple[str, ...] = (), limit: int = 5
) -> list[EventLine]:
    """The newest Warning events about the given objects (deployment, its RS and pods), or
    about objects named with one of `prefixes` (`<replicaset>-`: its pods, even unlisted)."""
    found = []
    for event in events:
        involved = text(event, "involvedObject", "name") or ""
        ours = involved in names or (bool(prefixes) and involved.startswith(prefixes))
        if dig(event, "type") != "Warning" or not ours:
            continue
        at = time_of(dig(event, "lastTimestamp")) or time_of(dig(event, "eventTime"))
        at = at or time_of(dig(event, "metadata", "creationTimestamp"))
        kind = text(event, "involvedObject", "kind") or ""
        found.append(
            EventLine(
                at,
                f"{kind}/{involved}",
                text(event, "reason") or "",
                text(event, "message") or "",
                number(event, "count", default=1) or 1,
            )
        )
    found.sort(key=lambda e: e.at.timestamp() if e.at else 0.0, reverse=True)
    return found[:limit]


def rollouts_between(revs: Sequence[Revision], start: datetime, end: datetime) -> list[Revision]:
    """Revisions whose ReplicaSet was created in [start, end], newest first."""
    return [r for r in revs if r.created_at is not None and start <= r.created_at <= end]
