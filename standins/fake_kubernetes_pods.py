"""Pods of the fake Kubernetes cluster, shaped like the kubelet reports them.

A pod is made from its ReplicaSet's template; its container statuses carry what
`/status` reads: `ready`, `restartCount`, `state.waiting.reason` (CrashLoopBackOff,
ImagePullBackOff, ...) and `lastState.terminated` (OOMKilled, Error, ...).
"""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime
from typing import Any

from standins.fake_kubernetes_objects import JSON, rfc3339

# A container in one of these was terminated; the others are reasons of waiting.
TERMINATED_REASONS = frozenset(
    {"OOMKilled", "Error", "Completed", "ContainerCannotRun", "DeadlineExceeded", "StartError"}
)
# Waiting before the container ever ran: the pod is still Pending.
_NEVER_STARTED = frozenset(
    {
        "ContainerCreating",
        "PodInitializing",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "InvalidImageName",
    }
)
_EXIT_CODES = {"OOMKilled": 137, "Completed": 0, "ContainerCannotRun": 128, "DeadlineExceeded": 137}
NODE_NAME = "fake-node-1"
HOST_IP = "10.0.0.10"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _running(since: str) -> JSON:
    return {"running": {"startedAt": since}}


def _terminated(reason: str, container_id: str, finished: str) -> JSON:
    return {
        "terminated": {
            "exitCode": _EXIT_CODES.get(reason, 1),
            "reason": reason,
            "startedAt": finished,
            "finishedAt": finished,
            "containerID": container_id,
        }
    }


def _waiting(reason: str, container: JSON, pod: JSON) -> JSON:
    image, name = container.get("image", ""), container["name"]
    meta = pod["metadata"]
    messages = {
        "CrashLoopBackOff": (
            f"back-off 5m0s restarting failed container={name} pod={meta['name']}_"
            f"{meta['namespace']}({meta.get('uid', '')})"
        ),
        "ImagePullBackOff": f'Back-off pulling image "{image}"',
        "ErrImagePull": (
            "rpc error: code = NotFound desc = failed to pull and unpack image"
            f' "{image}": not found'
        ),
    }
    waiting: JSON = {"reason": reason}
    if reason in messages:
        waiting["message"] = messages[reason]
    return {"waiting": waiting}


def make_pod(rs: JSON, name: str, owner: JSON, *, ready: bool, when: datetime, serial: int) -> JSON:
    """A pod of `rs`, running and ready, or (`ready=False`) still creating its containers."""
    template = rs["spec"]["template"]
    since = rfc3339(when)
    spec = copy.deepcopy(template.get("spec") or {})
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec["nodeName"] = NODE_NAME
    pod_ip = f"10.244.{serial // 250 % 250}.{serial % 250 + 2}"
    template_meta = template.get("metadata") or {}
    pod: JSON = {
        "metadata": {
            "name": name,
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"]["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [owner],
        },
        "spec": spec,
        "status": {
            "phase": "Running" if ready else "Pending",
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": since,
            "qosClass": "BestEffort",
            "containerStatuses": [],
        },
    }
    if template_meta.get("annotations"):
        pod["metadata"]["annotations"] = dict(template_meta["annotations"])
    # Init containers ran to completion before the containers started.
    init_statuses = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": f"{c.get('image', '').split(':')[0]}@sha256:{_digest(c.get('image', ''))}",
            "containerID": f"containerd://{_digest(name + c['name'])}",
            "ready": True,
            "started": False,
            "restartCount": 0,
            "state": _terminated("Completed", f"containerd://{_digest(name + c['name'])}", since),
            "lastState": {},
        }
        for c in spec.get("initContainers") or []
    ]
    if init_statuses:
        pod["status"]["initContainerStatuses"] = init_statuses
    for container in spec.get("containers") or []:
        image = container.get("image", "")
        container_id = f"containerd://{_digest(name + container['name'])}"
        pod["status"]["containerStatuses"].append(
            {
                "name": container["name"],
                "image": image,
                "imageID": f"{image.split(':')[0]}@sha256:{_digest(image)}",
                "containerID": container_id,
                "ready": ready,
                "started": ready,
                "restartCount": 0,
                "state": _running(since)
                if ready
                else _waiting("ContainerCreating", container, pod),
                "lastState": {},
            }
        )
    refresh_pod_conditions(pod, since)
    return pod


def set_container_status(
    pod: JSON,
    *,
    container: str | None,
    ready: bool,
    restarts: int,
    reason: str | None,
    last_terminated_at: datetime | None,
    now: datetime,
) -> None:
    """What the kubelet would report: `reason` OOMKilled/Error/... is the last termination
    (and CrashLoopBackOff while not ready); other reasons are why the container waits."""
    statuses = pod["status"].get("containerStatuses") or []
    init_statuses = pod["status"].get("initContainerStatuses") or []
    chosen = [s for s in statuses if container in (None, s["name"])]
    chosen += [s for s in init_statuses if container is not None and s["name"] == container]
    if not chosen:
        raise KeyError(f"pod {pod['metadata']['name']} has no container {container!r}")
    if ready and reason is not None and reason not in TERMINATED_REASONS:
        raise ValueError(f"a container waiting with {reason} is never ready")
    containers = {
        c["name"]: c
        for c in (pod["spec"].get("containers") or []) + (pod["spec"].get("initContainers") or [])
    }
    since = rfc3339(now)
    finished = rfc3339(last_terminated_at or now)
    for status in chosen:
        spec = containers.get(status["name"], {"name": status["name"]})
        status["ready"], status["restartCount"] = ready, restarts
        status["lastState"] = {}
        if reason in TERMINATED_REASONS:
            status["lastState"] = _terminated(reason, status["containerID"], finished)
            status["state"] = _running(since) if ready else _waiting("CrashLoopBackOff", spec, pod)
        elif reason is not None:
            status["state"] = _waiting(reason, spec, pod)
            if restarts or last_terminated_at is not None:
                status["lastState"] = _terminated("Error", status["containerID"], finished)
        else:
            status["state"] = _running(since)
            if last_terminated_at is not None:
                status["lastState"] = _terminated("Error", status["containerID"], finished)
        status["started"] = "running" in status["state"]
    for status in init_statuses:
        if status in chosen and "running" in status["state"] and reason is None and ready:
            # An init container that is fine has run to completion.
            status["state"] = _terminated("Completed", status["containerID"], since)
    initialized = all(
        s["state"].get("terminated", {}).get("reason") == "Completed" for s in init_statuses
    )
    if not initialized:
        for status in statuses:  # the containers wait for the init containers
            status["ready"], status["started"] = False, False
            status["state"] = {"waiting": {"reason": "PodInitializing"}}
    never_started = not initialized or all(
        s["state"].get("waiting", {}).get("reason") in _NEVER_STARTED and not s["restartCount"]
        for s in statuses
    )
    pod["status"]["phase"] = "Pending" if never_started else "Running"
    refresh_pod_conditions(pod, since)


def refresh_pod_conditions(pod: JSON, when: str) -> None:
    statuses = pod["status"].get("containerStatuses") or []
    unready = [s["name"] for s in statuses if not s["ready"]]
    init_statuses = pod["status"].get("initContainerStatuses") or []
    uninitialized = [
        s["name"]
        for s in init_statuses
        if s["state"].get("terminated", {}).get("reason") != "Completed"
    ]
    previous = {c["type"]: c for c in pod["status"].get("conditions") or []}

    def condition(type_: str, ok: bool) -> JSON:
        status = "True" if ok else "False"
        old = previous.get(type_)
        since = old["lastTransitionTime"] if old is not None and old["status"] == status else when
        result: JSON = {
            "type": type_,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": since,
        }
        if not ok:
            result["reason"] = "ContainersNotReady"
            result["message"] = f"containers with unready status: [{' '.join(unready)}]"
        return result

    initialized = condition("Initialized", not uninitialized)
    if uninitialized:
        initialized["reason"] = "ContainersNotInitialized"
        initialized["message"] = f"containers with incomplete status: [{' '.join(uninitialized)}]"
    pod["status"]["conditions"] = [
        condition("PodReadyToStartContainers", True),
        initialized,
        condition("Ready", not unready),
        condition("ContainersReady", not unready),
        condition("PodScheduled", True),
    ]


def pod_is_ready(pod: JSON) -> bool:
    conditions: list[Any] = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def make_unschedulable(pod: JSON, message: str, when: str) -> None:
    """What a pod the scheduler cannot place looks like: Pending, no node, no container
    statuses at all, and PodScheduled False with the scheduler's reason and message."""
    spec, status = pod["spec"], pod["status"]
    spec.pop("nodeName", None)
    for key in (
        "hostIP",
        "hostIPs",
        "podIP",
        "podIPs",
        "startTime",
        "containerStatuses",
        "initContainerStatuses",
    ):
        status.pop(key, None)
    status["phase"] = "Pending"
    status["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": when,
            "reason": "Unschedulable",
            "message": message,
        }
    ]


def waiting_to_start(pod: JSON, container: str) -> str | None:
    """The apiserver's 400 for the log of a container that never ran, else None."""
    for status in (pod["status"].get("containerStatuses") or []) + (
        pod["status"].get("initContainerStatuses") or []
    ):
        if status["name"] != container:
            continue
        waiting = status["state"].get("waiting")
        if waiting is not None and not status["restartCount"]:
            detail = {
                "ImagePullBackOff": "trying and failing to pull image",
                "ErrImagePull": "trying and failing to pull image",
            }.get(waiting.get("reason", ""), waiting.get("reason", "ContainerCreating"))
            return (
                f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to start:'
                f" {detail}"
            )
    if not pod["status"].get("containerStatuses") and pod["status"].get("phase") == "Pending":
        return f'container "{container}" in pod "{pod["metadata"]["name"]}" is not available'
    return None
