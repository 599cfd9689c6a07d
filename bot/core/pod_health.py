"""Which pods of a deployment are in trouble, and why, as `kubectl describe pod` would say.

Each container (init containers first) with its image and state; a pod's reason is
the first thing that stops it: not scheduled (Unschedulable, with the scheduler's
message or its FailedScheduling event), a container waiting (ImagePullBackOff with
the image, CrashLoopBackOff, ...), an init container that failed, the last crash
(OOMKilled, Error), or the pod's own status (Evicted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.kube_objects import Obj, dig, mappings, number, text, time_of

# Waiting reasons that only say "on its way", never why a pod is stuck.
_ROUTINE = frozenset({"PodInitializing"})


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str
    init: bool
    state: str  # "running" | "waiting" | "terminated" | "unknown"
    reason: str | None
    message: str | None
    ready: bool
    restarts: int
    last_reason: str | None  # how the previous instance ended (OOMKilled, Error, ...)
    last_exit_code: int | None
    last_finished_at: datetime | None

    @property
    def restarted(self) -> bool:
        return self.restarts > 0 or self.last_finished_at is not None

    @property
    def has_log(self) -> bool:
        """A current instance exists (running, or ended and not replaced yet): its log reads."""
        return self.state in ("running", "terminated") or self.restarted

    @property
    def completed(self) -> bool:
        return self.state == "terminated" and self.reason == "Completed"

    @property
    def failing(self) -> bool:
        if self.init:
            return not self.completed and (self.restarted or self.state != "running")
        return not self.ready


@dataclass(frozen=True)
class PodTrouble:
    name: str
    ready: bool
    restarts: int
    reason: str | None
    last_restart_at: datetime | None
    message: str | None = None
    phase: str | None = None
    containers: tuple[ContainerState, ...] = ()


def container_states(pod: Obj) -> tuple[ContainerState, ...]:
    """Init containers, then containers, in spec order; a status without spec still counts."""
    found: list[ContainerState] = []
    for init, spec_key, status_key in (
        (True, "initContainers", "initContainerStatuses"),
        (False, "containers", "containerStatuses"),
    ):
        statuses = {
            text(s, "name") or f"#{i}": s for i, s in enumerate(mappings(pod, "status", status_key))
        }
        names = [text(c, "name") or "?" for c in mappings(pod, "spec", spec_key)]
        images = {text(c, "name"): text(c, "image") for c in mappings(pod, "spec", spec_key)}
        names += [n for n in statuses if n not in names]
        for name in names:
            status = statuses.get(name, {})
            image = images.get(name) or text(status, "image") or "?"
            found.append(_state(name, image, init, status))
    return tuple(found)


def _state(name: str, image: str, init: bool, status: Obj) -> ContainerState:
    state, reason, message = "unknown", None, None
    for kind in ("waiting", "running", "terminated"):
        detail = dig(status, "state", kind)
        if isinstance(detail, Mapping):
            state, reason, message = kind, text(detail, "reason"), text(detail, "message")
            break
    last = dig(status, "lastState", "terminated", default={})
    exit_code = dig(last, "exitCode")
    return ContainerState(
        name=name,
        image=image,
        init=init,
        state=state,
        reason=reason,
        message=message,
        ready=dig(status, "ready") is True,
        restarts=number(status, "restartCount"),
        last_reason=text(last, "reason"),
        last_exit_code=exit_code if isinstance(exit_code, int) else None,
        last_finished_at=time_of(dig(last, "finishedAt")),
    )


def _is_ready(pod: Obj, containers: Sequence[ContainerState]) -> bool:
    for condition in mappings(pod, "status", "conditions"):
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    regular = [c for c in containers if not c.init]
    return bool(regular) and all(c.ready for c in regular)


def _unscheduled(pod: Obj, scheduling: Mapping[str, str]) -> tuple[str, str | None] | None:
    for condition in mappings(pod, "status", "conditions"):
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            name = text(pod, "metadata", "name") or ""
            message = text(condition, "message") or scheduling.get(name)
            return text(condition, "reason") or "Unschedulable", message
    name = text(pod, "metadata", "name") or ""
    if text(pod, "status", "phase") == "Pending" and name in scheduling:
        return "FailedScheduling", scheduling[name]
    return None


def _reason(
    pod: Obj, containers: Sequence[ContainerState], scheduling: Mapping[str, str]
) -> tuple[str | None, str | None]:
    unscheduled = _unscheduled(pod, scheduling)
    if unscheduled is not None:
        return unscheduled
    for c in containers:
        if c.failing and c.state == "waiting" and c.reason and c.reason not in _ROUTINE:
            prefix = "Init:" if c.init else ""
            return prefix + c.reason, c.message
    for c in containers:
        if c.failing and c.state == "terminated" and not c.completed:
            return ("Init:" if c.init else "") + (c.reason or "Terminated"), c.message
    restarted = [c for c in containers if c.last_finished_at is not None]
    if restarted:
        latest = max(
            restarted, key=lambda c: c.last_finished_at.timestamp() if c.last_finished_at else 0.0
        )
        return latest.last_reason, None
    return text(pod, "status", "reason"), text(pod, "status", "message")


def scheduling_failures(events: Iterable[Obj]) -> dict[str, str]:
    """pod name -> the newest FailedScheduling message among the events."""
    found: dict[str, tuple[str, str]] = {}
    for event in events:
        if text(event, "reason") != "FailedScheduling":
            continue
        name, message = text(event, "involvedObject", "name"), text(event, "message")
        stamp = text(event, "lastTimestamp") or text(event, "eventTime") or ""
        if name and message and stamp >= found.get(name, ("", ""))[0]:
            found[name] = (stamp, message)
    return {name: message for name, (_, message) in found.items()}


def pod_trouble(
    pods: Iterable[Obj],
    *,
    now: datetime,
    window: timedelta,
    events: Iterable[Obj] = (),
) -> list[PodTrouble]:
    """Pods not ready, or restarted within the window, worst first: not ready before
    restarted, then by restarts, then by the latest restart."""
    scheduling = scheduling_failures(events)
    trouble = []
    for pod in pods:
        containers = container_states(pod)
        ready = _is_ready(pod, containers)
        ends = [c.last_finished_at for c in containers if c.last_finished_at is not None]
        last = max(ends, default=None)
        recent = last is not None and now - last <= window
        if ready and not recent:
            continue
        reason, message = _reason(pod, containers, scheduling)
        trouble.append(
            PodTrouble(
                name=text(pod, "metadata", "name") or "?",
                ready=ready,
                restarts=sum(c.restarts for c in containers),
                reason=reason,
                last_restart_at=last,
                message=message,
                phase=text(pod, "status", "phase"),
                containers=containers,
            )
        )
    trouble.sort(key=_severity)
    return trouble


def _severity(p: PodTrouble) -> tuple[bool, int, float, str]:
    restarted = p.last_restart_at.timestamp() if p.last_restart_at else 0.0
    return p.ready, -p.restarts, -restarted, p.name
