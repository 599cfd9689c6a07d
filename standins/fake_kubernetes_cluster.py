"""The state of the fake Kubernetes cluster: objects, events, logs, and the
ReplicaSet controller that keeps each ReplicaSet's pods and status in step.

Objects are stored as the plain JSON dicts the API returns. Every change bumps one
global resourceVersion counter; a write that changes nothing keeps the old one.
The Deployment controller is in `fake_kubernetes_controller.py`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from datetime import datetime

from bot.clock import Clock
from standins.fake_kubernetes_objects import (
    EVENTS,
    JSON,
    PODS,
    REPLICASETS,
    REVISION,
    Resource,
    labels_match,
    not_found,
    rfc3339,
    selector_requirements,
)
from standins.fake_kubernetes_pods import make_pod, pod_is_ready, set_container_status

# k8s.io/apimachinery/pkg/util/rand: the alphabet of generated name suffixes.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(text: str) -> str:
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in text.encode())


def revision_of(obj: JSON) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def owned_by(obj: JSON, owner: JSON) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def owner_reference(owner: JSON) -> JSON:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class Cluster:
    """All objects of the fake cluster, and the ReplicaSet controller acting on them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.objects: dict[tuple[str, str, str], JSON] = {}  # (plural, namespace, name)
        self.logs: dict[tuple[str, str, str, bool], list[tuple[datetime, str]]] = {}
        self.resource_version = 1000  # the last one handed out
        self._fingerprints: dict[tuple[str, str, str], str] = {}
        self.starting: set[tuple[str, str]] = set()  # pods made not ready by `stuck` mode
        self._names = itertools.count(1)

    # -- storage ----------------------------------------------------------------------

    def next_resource_version(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def get(self, resource: Resource, namespace: str, name: str) -> JSON | None:
        return self.objects.get((resource.plural, namespace, name))

    def require(self, resource: Resource, namespace: str, name: str) -> JSON:
        obj = self.get(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def store(self, resource: Resource, obj: JSON, *, at: datetime | None = None) -> JSON:
        """Create or replace `obj`: kind, uid, creationTimestamp and a new resourceVersion."""
        meta = obj["metadata"]
        key = (resource.plural, meta.get("namespace", ""), meta["name"])
        existing = self.objects.get(key)
        obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
        if existing is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", rfc3339(at or self.clock()))
        else:
            meta["uid"] = existing["metadata"]["uid"]
            meta["creationTimestamp"] = existing["metadata"]["creationTimestamp"]
        previous = existing["metadata"].get("resourceVersion") if existing is not None else None
        meta.pop("resourceVersion", None)
        fingerprint = json.dumps(obj, sort_keys=True)
        if previous is not None and self._fingerprints.get(key) == fingerprint:
            meta["resourceVersion"] = previous  # a no-op write keeps it
        else:
            meta["resourceVersion"] = self.next_resource_version()
        self._fingerprints[key] = fingerprint
        self.objects[key] = obj
        return obj

    def delete(self, resource: Resource, namespace: str, name: str) -> None:
        self.objects.pop((resource.plural, namespace, name), None)
        self._fingerprints.pop((resource.plural, namespace, name), None)

    def all(self, resource: Resource, namespace: str | None = None) -> list[JSON]:
        found = [
            obj
            for (plural, ns, _), obj in self.objects.items()
            if plural == resource.plural and namespace in (None, ns)
        ]
        return sorted(
            found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    def namespaces(self) -> set[str]:
        return {"default", "kube-system"} | {ns for _, ns, _ in self.objects if ns}

    def unique_suffix(self, length: int = 5) -> str:
        digest = hashlib.sha256(str(next(self._names)).encode()).hexdigest()
        return safe_encode(digest)[:length]

    # -- relations ----------------------------------------------------------------------

    def replicasets_of(self, deployment: JSON) -> list[JSON]:
        """ReplicaSets the Deployment controls, oldest first (as the controller sorts them)."""
        namespace = deployment["metadata"]["namespace"]
        owned = [rs for rs in self.all(REPLICASETS, namespace) if owned_by(rs, deployment)]
        return sorted(
            owned, key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"])
        )

    def pods_of(self, replicaset: JSON) -> list[JSON]:
        namespace = replicaset["metadata"]["namespace"]
        owned = [p for p in self.all(PODS, namespace) if owned_by(p, replicaset)]
        return sorted(
            owned, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"])
        )

    def owner_of(self, obj: JSON, resource: Resource) -> JSON | None:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == resource.kind and ref.get("controller"):
                return self.get(resource, obj["metadata"]["namespace"], ref["name"])
        return None

    # -- events -------------------------------------------------------------------------

    def record_event(
        self,
        involved: JSON,
        *,
        reason: str,
        message: str,
        type: str = "Normal",
        component: str = "deployment-controller",
        at: datetime | None = None,
    ) -> JSON:
        moment = at or self.clock()
        when = rfc3339(moment)
        meta = involved["metadata"]
        # Named like the real ones, after the time in hex, so they list in order.
        name = f"{meta['name']}.{int(moment.timestamp() * 1e9) + next(self._names):x}"
        event: JSON = {
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": involved.get("kind"),
                "namespace": meta["namespace"],
                "name": meta["name"],
                "apiVersion": involved.get("apiVersion"),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": when,
            "lastTimestamp": when,
            "count": 1,
            "type": type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        for key in ("uid", "resourceVersion"):
            if key in meta:
                event["involvedObject"][key] = meta[key]
        return self.store(EVENTS, event, at=at)

    # -- the ReplicaSet controller ------------------------------------------------------

    def scale_replicaset(
        self, rs: JSON, replicas: int, *, ready: bool, at: datetime | None
    ) -> None:
        """Set spec.replicas and create or delete pods to match (newest deleted first)."""
        if rs["spec"]["replicas"] != replicas:
            rs["spec"]["replicas"] = replicas
            rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        pods = self.pods_of(rs)
        for pod in pods[replicas:][::-1]:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.delete(PODS, *key)
            self.starting.discard(key)
            self.logs = {k: v for k, v in self.logs.items() if k[:2] != key}
        for _ in range(replicas - len(pods)):
            name = f"{rs['metadata']['name']}-{self.unique_suffix()}"
            pod = make_pod(
                rs,
                name,
                owner_reference(rs),
                ready=ready,
                when=at or self.clock(),
                serial=next(self._names),
            )
            self.store(PODS, pod, at=at)
            if not ready:
                self.starting.add((pod["metadata"]["namespace"], name))
        self.refresh_replicaset(rs)

    def refresh_replicaset(self, rs: JSON) -> None:
        pods = self.pods_of(rs)
        ready = sum(1 for p in pods if pod_is_ready(p))
        status: JSON = {"replicas": len(pods)}
        if pods:
            status["fullyLabeledReplicas"] = len(pods)
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        rs["status"] = status
        self.store(REPLICASETS, rs)

    def deployment_pods(self, deployment: JSON) -> list[JSON]:
        requirements = selector_requirements(deployment["spec"]["selector"])
        namespace = deployment["metadata"]["namespace"]
        return [
            p
            for p in self.all(PODS, namespace)
            if labels_match(p["metadata"].get("labels"), requirements)
        ]

    def start_pods(self, rs: JSON) -> None:
        """Pods that `stuck` mode left creating their containers get running and ready."""
        for pod in self.pods_of(rs):
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            if key in self.starting:
                self.starting.discard(key)
                set_container_status(
                    pod,
                    container=None,
                    ready=True,
                    restarts=0,
                    reason=None,
                    last_terminated_at=None,
                    now=self.clock(),
                )
                self.store(PODS, pod)
        self.refresh_replicaset(rs)
