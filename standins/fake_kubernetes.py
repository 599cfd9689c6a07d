"""A local stand-in for the Kubernetes API server, served over real HTTP.

The official `kubernetes` client (`AppsV1Api`, `CoreV1Api`, `VersionApi`,
`AuthorizationV1Api`), configured with `client_configuration(fake.url)` or with the
kubeconfig `fake.write_kubeconfig(path)` writes, talks to it unchanged: the bot's
`/status` and `/rollback` code is exercised on the wire format, the status codes
and the `Status` error bodies of a real cluster, not on a mocked client.

Why not `kmock` (PyPI, by the author of kopf; 0.8 looked at): it is a fine
scriptable HTTP mock with a generic in-memory object store, but everything this
fake is for would have been written around it anyway: its PATCH is a plain dict
merge for every content type (no RFC 6902 ops, no failed-`test` 422, no
strategic-merge by container name), it has no resourceVersion/uid/generation
bookkeeping, hence no optimistic-concurrency 409, no `dryRun`, no label or field
selectors, no pod logs, no SelfSubjectAccessReview, and no hook for a deployment
controller that creates ReplicaSets and revisions. Its error bodies put a Python
traceback into `Status.details`, and its own README announces breaking changes
before 1.0. Building on it would add attrs, yarl and jsonpatch for a thin layer of
routing that aiohttp already gives; so the fake is written directly on aiohttp.

Layout: `fake_kubernetes_objects.py` (errors, selectors, defaulting, validation),
`fake_kubernetes_patch.py` (JSON, merge and strategic merge patch),
`fake_kubernetes_pods.py` (pod and container statuses), `fake_kubernetes_cluster.py`
(the object store and the ReplicaSet controller), `fake_kubernetes_controller.py`
(the Deployment controller), `fake_kubernetes_api.py` and
`fake_kubernetes_discovery.py` (paths, verbs, RBAC, discovery),
`fake_kubernetes_server.py` (HTTP, auth, faults, recording). This module is the
seeding and inspection API tests use.

The official client is blocking; call it with `asyncio.to_thread` so the fake keeps
serving on the test's event loop.
"""

from __future__ import annotations

import copy
from datetime import datetime

import kubernetes.client

from bot.clock import Clock, system_clock
from standins.fake_kubernetes_api import KubeApi
from standins.fake_kubernetes_cluster import Cluster
from standins.fake_kubernetes_controller import ROLLOUT_MODES, DeploymentController, RolloutMode
from standins.fake_kubernetes_objects import (
    DEPLOYMENTS,
    EVENTS,
    JSON,
    PODS,
    REPLICASETS,
    as_utc,
    default_deployment,
    rfc3339,
    validate_deployment,
)
from standins.fake_kubernetes_patch import strategic_merge_patch
from standins.fake_kubernetes_pods import make_unschedulable, set_container_status
from standins.fake_kubernetes_server import KubeServer, RecordedRequest

__all__ = ["FakeKubernetes", "RecordedRequest", "RolloutMode", "client_configuration"]

_COMPONENTS = {
    "Pod": "kubelet",
    "Deployment": "deployment-controller",
    "ReplicaSet": "replicaset-controller",
}
_KINDS = {"Deployment": DEPLOYMENTS, "ReplicaSet": REPLICASETS, "Pod": PODS}


def client_configuration(url: str, *, token: str | None = None) -> kubernetes.client.Configuration:
    """A client configuration for the fake at `url` (no TLS, no proxy, token if given)."""
    configuration = kubernetes.client.Configuration(host=url)
    configuration.proxy = None  # an HTTP(S)_PROXY in the environment must not catch 127.0.0.1
    if token is not None:
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
    return configuration


class FakeKubernetes(KubeServer):
    """The fake API server: cluster state, a deployment controller, served over HTTP."""

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        token: str | None = None,
        user: str = "system:serviceaccount:incident-bot:incident-bot",
    ) -> None:
        self.clock = clock
        self._cluster = Cluster(clock)
        self._controller = DeploymentController(self._cluster)
        api = KubeApi(self._cluster, self._controller, user=user, address="127.0.0.1:0")
        super().__init__(api, token=token)

    # -- behaviour (fail_next and set_down come from KubeServer) -------------------------

    def set_rollout_mode(self, mode: RolloutMode) -> None:
        """instant: rollouts complete at once; manual: one rolling step per `progress()`;
        stuck: new pods never get ready and Progressing turns ProgressDeadlineExceeded.
        Every Deployment is reconciled in the new mode (so `instant` finishes rollouts)."""
        if mode not in ROLLOUT_MODES:
            raise ValueError(f"unknown rollout mode {mode!r}")
        self._controller.mode = mode
        for deployment in self._cluster.all(DEPLOYMENTS):
            meta = deployment["metadata"]
            self._controller.sync_deployment(meta["namespace"], meta["name"])

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """RBAC says no to `verb` on `resource` (e.g. "patch", "deployments"; "get",
        "pods/log"; "*" matches all) in `namespace` (None: everywhere): both in
        SelfSubjectAccessReviews and as 403 Forbidden on the requests themselves."""
        self._api.denied.add((verb, resource, namespace))

    # -- seeding -------------------------------------------------------------------------

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        replicas: int = 3,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        paused: bool = False,
        env: dict[str, str] | None = None,
        containers: list[JSON] | None = None,
        created_at: datetime | None = None,
    ) -> JSON:
        """A Deployment that has rolled out revision 1 (ReplicaSet and pods ready), and
        then been paused if `paused`. `containers` replaces the one built from `image`/`env`."""
        if self._cluster.get(DEPLOYMENTS, namespace, name) is not None:
            raise ValueError(f"deployment {namespace}/{name} exists")
        labels = labels or {"app": name}
        if containers is None:
            container: JSON = {"name": name, "image": image}
            if env:
                container["env"] = [{"name": k, "value": v} for k, v in env.items()]
            containers = [container]
        else:
            containers = [{"image": image} | copy.deepcopy(c) for c in containers]
        deployment = default_deployment(
            {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(labels),
                    "annotations": dict(annotations or {}),
                    "generation": 1,
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": containers},
                    },
                },
            }
        )
        validate_deployment(deployment, None)
        self._cluster.store(DEPLOYMENTS, deployment, at=created_at)
        self._controller.sync_deployment(namespace, name, at=created_at)
        if paused:
            stored = self._cluster.require(DEPLOYMENTS, namespace, name)
            stored["spec"]["paused"] = True
            stored["metadata"]["generation"] += 1
            self._controller.sync_deployment(namespace, name, at=created_at)
        return self.deployment(namespace, name)

    def roll_out(
        self,
        namespace: str,
        name: str,
        *,
        image: str | None = None,
        template_patch: JSON | None = None,
        at: datetime | None = None,
        container: str | None = None,
        change_cause: str | None = None,
    ) -> JSON:
        """What `kubectl set image` (or `kubectl patch` of the template) does: change the
        pod template; the controller makes the next revision unless the Deployment is paused.
        `image` goes to `container` (default: the first one)."""
        deployment = copy.deepcopy(self._cluster.require(DEPLOYMENTS, namespace, name))
        template = deployment["spec"]["template"]
        if image is not None:
            target = [c for c in template["spec"]["containers"] if container in (None, c["name"])]
            if not target:
                raise KeyError(f"deployment {namespace}/{name} has no container {container!r}")
            target[0]["image"] = image
        if template_patch is not None:
            deployment["spec"]["template"] = strategic_merge_patch(
                template, template_patch, "template"
            )
        if change_cause is not None:
            deployment["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = (
                change_cause
            )
        current = self._cluster.require(DEPLOYMENTS, namespace, name)
        self._api.update_deployment(current, deployment, dry_run=False, at=at)
        return self.deployment(namespace, name)

    def progress(self, namespace: str, name: str, *, at: datetime | None = None) -> JSON:
        """In `manual` rollout mode: one rolling-update step (scale new up, old down)."""
        self._controller.sync_deployment(namespace, name, at=at, step=True)
        return self.deployment(namespace, name)

    def add_pod_status(
        self,
        namespace: str,
        pod_name: str,
        *,
        ready: bool,
        restarts: int = 0,
        reason: str | None = None,
        last_terminated_at: datetime | None = None,
        container: str | None = None,
    ) -> JSON:
        """Report container state like the kubelet: `reason` CrashLoopBackOff,
        ImagePullBackOff, ... is why it waits; OOMKilled, Error, ... its last termination
        (then it waits in CrashLoopBackOff unless `ready`). Applies to every container
        unless `container` names one. ReplicaSet and Deployment status follow."""
        pod = self._cluster.require(PODS, namespace, pod_name)
        self._cluster.starting.discard((namespace, pod_name))  # the test says how it is now
        set_container_status(
            pod,
            container=container,
            ready=ready,
            restarts=restarts,
            reason=reason,
            last_terminated_at=last_terminated_at,
            now=self.clock(),
        )
        self._cluster.store(PODS, pod)
        self._controller.refresh_owners_of_pod(pod)
        return copy.deepcopy(pod)

    def set_unschedulable(
        self,
        namespace: str,
        pod_name: str,
        message: str = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes"
        " are available: 3 No preemption victims found for incoming pod.",
    ) -> JSON:
        """The scheduler cannot place the pod: Pending, no node, no container statuses,
        PodScheduled False (Unschedulable) and a FailedScheduling warning event."""
        pod = self._cluster.require(PODS, namespace, pod_name)
        self._cluster.starting.discard((namespace, pod_name))
        now = self.clock()
        make_unschedulable(pod, message, rfc3339(now))
        self._cluster.store(PODS, pod)
        self._controller.refresh_owners_of_pod(pod)
        self._cluster.record_event(
            pod,
            reason="FailedScheduling",
            message=message,
            type="Warning",
            component="default-scheduler",
            at=now,
        )
        return copy.deepcopy(pod)

    def add_event(
        self,
        namespace: str,
        *,
        involved_kind: str,
        involved_name: str,
        reason: str,
        message: str,
        type: str = "Warning",  # the API's field name
        at: datetime | None = None,
    ) -> JSON:
        """A core/v1 Event about an object (its uid filled in when the object exists)."""
        resource = _KINDS.get(involved_kind)
        involved = self._cluster.get(resource, namespace, involved_name) if resource else None
        if involved is None:
            api_version = resource.api_version if resource else "v1"
            involved = {
                "kind": involved_kind,
                "apiVersion": api_version,
                "metadata": {"name": involved_name, "namespace": namespace},
            }
        component = _COMPONENTS.get(involved_kind, "fake")
        event = self._cluster.record_event(
            involved, reason=reason, message=message, type=type, component=component, at=at
        )
        return copy.deepcopy(event)

    def set_pod_log(
        self,
        namespace: str,
        pod_name: str,
        text: str,
        *,
        container: str | None = None,
        previous: bool = False,
        at: datetime | None = None,
    ) -> None:
        """The pod's log (its first container unless `container`, which may name an init
        container; `previous`: of the
        terminated instance, what `kubectl logs --previous` reads), lines stamped `at`."""
        pod = self._cluster.require(PODS, namespace, pod_name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        names += [c["name"] for c in pod["spec"].get("initContainers") or []]
        chosen = container or names[0]
        if chosen not in names:
            raise KeyError(f"pod {pod_name} has no container {chosen!r}")
        when = as_utc(at or self.clock())
        self._cluster.logs[(namespace, pod_name, chosen, previous)] = [
            (when, line) for line in text.splitlines()
        ]

    # -- inspection ----------------------------------------------------------------------

    def deployment(self, namespace: str, name: str) -> JSON:
        return copy.deepcopy(self._cluster.require(DEPLOYMENTS, namespace, name))

    def replicasets(self, namespace: str, deployment_name: str) -> list[JSON]:
        """The Deployment's ReplicaSets, oldest first."""
        deployment = self._cluster.require(DEPLOYMENTS, namespace, deployment_name)
        return copy.deepcopy(self._cluster.replicasets_of(deployment))

    def pods(self, namespace: str, deployment_name: str) -> list[JSON]:
        """Pods matching the Deployment's selector, by name."""
        deployment = self._cluster.require(DEPLOYMENTS, namespace, deployment_name)
        return copy.deepcopy(self._cluster.deployment_pods(deployment))

    def events(self, namespace: str, *, involved_name: str | None = None) -> list[JSON]:
        events = self._cluster.all(EVENTS, namespace)
        return copy.deepcopy(
            [e for e in events if involved_name in (None, e["involvedObject"]["name"])]
        )
