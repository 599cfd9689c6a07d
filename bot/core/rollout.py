"""Reading a Deployment the way kubectl does: revisions, rollout status, pod trouble.

Inputs are the JSON shapes the Kubernetes API returns (camelCase dicts), so the
same functions serve `/status`, `/rollback` and the suspected-deploy hint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.alerts import parse_timestamp
from bot.core.redaction import mask_secrets

__all__ = ["mask_secrets"]  # re-exported: /status masks log lines with it

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
Obj = Mapping[str, Any]


def _get(obj: Obj, *path: str, default: Any = None) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return default
        current = current[key]
    return current


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_timestamp(value) if isinstance(value, str) and value else None


def revision_of(obj: Obj) -> int | None:
    raw = _get(obj, "metadata", "annotations", REVISION_ANNOTATION)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def images_of(template: Obj) -> tuple[str, ...]:
    return tuple(str(c.get("image", "")) for c in _get(template, "spec", "containers", default=[]))


def owned_replicasets(deployment: Obj, replicasets: Iterable[Obj]) -> list[Obj]:
    """The ReplicaSets this Deployment controls, by owner reference (as kubectl finds them)."""
    uid = _get(deployment, "metadata", "uid")
    owned = []
    for rs in replicasets:
        for ref in _get(rs, "metadata", "ownerReferences", default=[]) or []:
            if ref.get("uid") == uid and ref.get("controller", False):
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
        number = revision_of(rs)
        if number is None:
            continue
        template = _get(rs, "spec", "template", default={})
        found.append(
            Revision(
                number=number,
                replicaset=str(_get(rs, "metadata", "name", default="")),
                images=images_of(template),
                created_at=_time(_get(rs, "metadata", "creationTimestamp")),
                replicas=int(_get(rs, "status", "replicas", default=0) or 0),
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
    name = _get(deployment, "metadata", "name", default="deployment")
    desired = int(_get(deployment, "spec", "replicas", default=1) or 0)
    status = _get(deployment, "status", default={}) or {}
    updated = int(status.get("updatedReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    paused = bool(_get(deployment, "spec", "paused", default=False))

    def result(state: str, message: str) -> RolloutStatus:
        return RolloutStatus(desired, updated, ready, available, paused, state, message)

    if paused:
        return result("paused", f'deployment "{name}" is paused')
    generation = int(_get(deployment, "metadata", "generation", default=0) or 0)
    if generation > int(status.get("observedGeneration") or 0):
        return result("progressing", "Waiting for deployment spec update to be observed...")
    for condition in status.get("conditions") or []:
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
class PodTrouble:
    name: str
    ready: bool
    restarts: int
    reason: str | None
    last_restart_at: datetime | None


def pod_trouble(pods: Iterable[Obj], *, now: datetime, window: timedelta) -> list[PodTrouble]:
    """Pods not ready, or restarted within the window, with the reason Kubernetes gives."""
    trouble = []
    for pod in pods:
        statuses = _get(pod, "status", "containerStatuses", default=[]) or []
        ready = bool(statuses) and all(s.get("ready") for s in statuses)
        restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
        reason, last = None, None
        for s in statuses:
            reason = reason or _get(s, "state", "waiting", "reason")
            ended = _time(_get(s, "lastState", "terminated", "finishedAt"))
            if ended and (last is None or ended > last):
                last = ended
                reason = reason or _get(s, "lastState", "terminated", "reason")
        recent = last is not None and now - last <= window
        if not ready or recent:
            name = str(_get(pod, "metadata", "name", default=""))
            trouble.append(PodTrouble(name, ready, restarts, reason, last))
    return trouble


@dataclass(frozen=True)
class EventLine:
    at: datetime | None
    object: str
    reason: str
    message: str
    count: int


def warning_events(events: Iterable[Obj], names: set[str], *, limit: int = 5) -> list[EventLine]:
    """The newest Warning events about the given objects (deployment, its RS and pods)."""
    found = []
    for event in events:
        involved = _get(event, "involvedObject", "name", default="")
        if event.get("type") != "Warning" or involved not in names:
            continue
        at = _time(event.get("lastTimestamp") or event.get("eventTime"))
        at = at or _time(_get(event, "metadata", "creationTimestamp"))
        kind = _get(event, "involvedObject", "kind", default="")
        found.append(
            EventLine(at, f"{kind}/{involved}", str(event.get("reason", "")),
                      str(event.get("message", "")), int(event.get("count") or 1))
        )  # fmt: skip
    found.sort(key=lambda e: e.at.timestamp() if e.at else 0.0, reverse=True)
    return found[:limit]


_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL|PANIC|Exception|Traceback)\b")


def error_lines(log: str, *, limit: int = 10, width: int = 300) -> list[str]:
    """The last ERROR-looking lines of a log, shortened and with secrets masked."""
    lines = [line for line in log.splitlines() if _ERROR.search(line)]
    return [mask_secrets(line)[:width] for line in lines[-limit:]]


def rollouts_between(revs: Sequence[Revision], start: datetime, end: datetime) -> list[Revision]:
    """Revisions whose ReplicaSet was created in [start, end], newest first."""
    return [r for r in revs if r.created_at is not None and start <= r.created_at <= end]
