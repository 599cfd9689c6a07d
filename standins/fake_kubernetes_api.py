"""The REST surface of the fake Kubernetes API server: paths, verbs, RBAC, answers.

`KubeApi.answer()` turns one request (method, path, query, parsed body) into
(status, body) or raises `KubeError`; `fake_kubernetes.py` does the HTTP around it.
Served: discovery (`/version`, `/api`, `/apis`, group and resource lists),
Deployments (list, get, status, PATCH in all three flavours, PUT), ReplicaSets,
Pods with `/log`, Events, Namespaces (read only) and SelfSubjectAccessReviews.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.fake_kubernetes_cluster import Cluster
from standins.fake_kubernetes_controller import DeploymentController
from standins.fake_kubernetes_discovery import VERBS_BY_RESOURCE, discovery_document
from standins.fake_kubernetes_objects import (
    DEPLOYMENTS,
    EVENTS,
    JSON,
    NAMESPACES,
    PODS,
    REPLICASETS,
    KubeError,
    Resource,
    as_utc,
    bad_request,
    conflict,
    default_deployment,
    fields_match,
    labels_match,
    not_found,
    parse_field_selector,
    parse_label_selector,
    parse_time,
    validate_deployment,
)
from standins.fake_kubernetes_patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from standins.fake_kubernetes_pods import waiting_to_start

Answer = tuple[int, JSON | str]

_RESOURCES = {r.plural: r for r in (DEPLOYMENTS, REPLICASETS, PODS, EVENTS)}
_NAMESPACED = re.compile(
    r"^/(?:api|apis/apps)/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<plural>[a-z]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?/?$"
)
_NAMESPACES = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+))?/?$")
_SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_PATCH_TYPES = frozenset(
    {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    }
)
_GENERIC_404 = "the server could not find the requested resource"


def _method_not_allowed() -> KubeError:
    message = "the server does not allow this method on the requested resource"
    return KubeError(405, "MethodNotAllowed", message)


class KubeApi:
    """Requests in, answers out, against one `Cluster`; RBAC denials live here too."""

    def __init__(
        self, cluster: Cluster, controller: DeploymentController, *, user: str, address: str
    ) -> None:
        self.cluster = cluster
        self.controller = controller
        self.user = user
        self.address = address  # host:port, for /api's serverAddressByClientCIDRs
        self.denied: set[tuple[str, str, str | None]] = set()  # verb, resource[/sub], namespace

    def is_allowed(self, verb: str, resource: str, namespace: str | None) -> bool:
        return not any(
            v in (verb, "*") and r in (resource, "*") and ns in (None, namespace)
            for v, r, ns in self.denied
        )

    # -- dispatch -------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: Mapping[str, str], body: Any, content_type: str
    ) -> Answer:
        discovery = discovery_document(path, self.address) if method == "GET" else None
        if discovery is not None:
            return 200, discovery
        if path.rstrip("/") == _SSAR:
            if method != "POST":
                raise _method_not_allowed()
            return self._access_review(body)
        if match := _NAMESPACES.match(path):
            return self._namespaces(method, match["name"])
        match = _NAMESPACED.match(path)
        if match is None or match["plural"] not in _RESOURCES:
            raise KubeError(404, "NotFound", _GENERIC_404, {})
        resource = _RESOURCES[match["plural"]]
        namespace, name, sub = match["ns"], match["name"], match["sub"]
        if (resource.group == "apps") != path.startswith("/apis/apps/") or (
            name and namespace is None
        ):
            raise KubeError(404, "NotFound", _GENERIC_404, {})
        verb = self._verb(method, name, query)
        full = f"{resource.plural}/{sub}" if sub else resource.plural
        if full not in VERBS_BY_RESOURCE:
            raise KubeError(404, "NotFound", _GENERIC_404, {})
        if verb not in VERBS_BY_RESOURCE[full]:
            raise _method_not_allowed()
        self._authorize(verb, resource, full, namespace, name)
        if name is None:
            return 200, self._list(resource, namespace, query)
        assert namespace is not None
        if sub == "log":
            return 200, self._pod_log(namespace, name, query)
        if verb == "get":
            return 200, copy.deepcopy(self.cluster.require(resource, namespace, name))
        dry_run = self._dry_run(query)
        current = self.cluster.require(DEPLOYMENTS, namespace, name)
        if verb == "patch":
            candidate = self._patched(current, body, content_type)
        else:
            if not isinstance(body, dict):
                raise bad_request("the body of the request was in an unknown format")
            candidate = copy.deepcopy(body)
        return 200, self.update_deployment(
            current, candidate, dry_run=dry_run, replace=verb == "update"
        )

    @staticmethod
    def _verb(method: str, name: str | None, query: Mapping[str, str]) -> str:
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                raise bad_request("watch is not supported by the fake Kubernetes API server")
            return "get" if name else "list"
        return {"PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}.get(
            method, method.lower()
        )

    def _authorize(
        self, verb: str, resource: Resource, full: str, namespace: str | None, name: str | None
    ) -> None:
        if self.is_allowed(verb, full, namespace):
            return
        subject = f'{resource.qualified} "{name}"' if name else resource.qualified
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{full}"'
            f' in API group "{resource.group}"{where}'
        )
        details = {"kind": resource.plural, "group": resource.group} | (
            {"name": name} if name else {}
        )
        raise KubeError(403, "Forbidden", message, details)

    @staticmethod
    def _dry_run(query: Mapping[str, str]) -> bool:
        value = query.get("dryRun")
        if value is None:
            return False
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return True

    # -- reads ----------------------------------------------------------------------

    def _list(self, resource: Resource, namespace: str | None, query: Mapping[str, str]) -> JSON:
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""), resource)
        items = []
        for obj in self.cluster.all(resource, namespace):
            if labels_match(obj["metadata"].get("labels"), labels) and fields_match(obj, fields):
                item = copy.deepcopy(obj)
                item.pop("kind", None)  # list items carry no kind/apiVersion, as from the apiserver
                item.pop("apiVersion", None)
                items.append(item)
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(self.cluster.resource_version)},
            "items": items,
        }

    def _pod_log(self, namespace: str, name: str, query: Mapping[str, str]) -> str:
        pod = self.cluster.require(PODS, namespace, name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        init_containers = [c["name"] for c in pod["spec"].get("initContainers") or []]
        container = query.get("container")
        if container is None:
            if len(containers) != 1:
                choices = " ".join(containers)
                raise bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{choices}]"
                )
            container = containers[0]
        elif container not in containers + init_containers:
            raise bad_request(f"container {container} is not valid for pod {name}")
        previous = query.get("previous") in ("true", "1")
        if not previous and (waiting := waiting_to_start(pod, container)) is not None:
            raise bad_request(waiting)
        lines = self.cluster.logs.get((namespace, name, container, previous))
        if previous and lines is None:
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        lines = list(lines or [])
        try:
            if "sinceSeconds" in query:
                cutoff = as_utc(self.cluster.clock()) - timedelta(
                    seconds=int(query["sinceSeconds"])
                )
                lines = [(t, line) for t, line in lines if t >= cutoff]
            if "sinceTime" in query:
                since = parse_time(query["sinceTime"])
                lines = [(t, line) for t, line in lines if t >= since]
            if "tailLines" in query:
                tail = int(query["tailLines"])
                lines = lines[len(lines) - tail :] if 0 <= tail < len(lines) else lines
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
        except ValueError as e:
            raise bad_request(f"invalid log options: {e}") from None
        stamp = query.get("timestamps") in ("true", "1")
        text = "".join(
            (t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z ") if stamp else "") + line + "\n"
            for t, line in lines
        )
        if limit is not None:
            text = text.encode()[:limit].decode(errors="ignore")
        return text

    def _namespaces(self, method: str, name: str | None) -> Answer:
        if method != "GET":
            raise _method_not_allowed()
        self._authorize("get" if name else "list", NAMESPACES, "namespaces", None, name)

        def namespace(ns: str) -> JSON:
            return {
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }

        if name is None:
            items = [namespace(ns) for ns in sorted(self.cluster.namespaces())]
            meta = {"resourceVersion": str(self.cluster.resource_version)}
            return 200, {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": meta,
                "items": items,
            }
        if name not in self.cluster.namespaces():
            raise not_found(NAMESPACES, name)
        return 200, {"kind": "Namespace", "apiVersion": "v1"} | namespace(name)

    # -- writes ---------------------------------------------------------------------

    def _access_review(self, body: Any) -> Answer:
        spec = body.get("spec") if isinstance(body, dict) else None
        attributes = spec.get("resourceAttributes") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or (attributes is None) == (
            spec.get("nonResourceAttributes") is None
        ):
            message = (
                "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec: Invalid value: ...:"
                " exactly one of nonResourceAttributes or resourceAttributes must be specified"
            )
            raise KubeError(
                422,
                "Invalid",
                message,
                {"group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview"},
            )
        allowed = True
        if isinstance(attributes, dict):
            resource = str(attributes.get("resource", ""))
            if attributes.get("subresource"):
                resource += f"/{attributes['subresource']}"
            allowed = self.is_allowed(
                str(attributes.get("verb", "")), resource, attributes.get("namespace")
            )
        review = copy.deepcopy(body)
        review.setdefault("metadata", {})["creationTimestamp"] = None
        review["apiVersion"], review["kind"] = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
        review["status"] = {"allowed": allowed}
        return 201, review

    def _patched(self, current: JSON, body: Any, content_type: str) -> JSON:
        if content_type not in _PATCH_TYPES:
            accepted = ", ".join(sorted(_PATCH_TYPES))
            message = (
                "the body of the request was in an unknown format"
                f" - accepted media types include: {accepted}"
            )
            raise KubeError(415, "UnsupportedMediaType", message)
        if content_type == "application/json-patch+json":
            try:
                return json_patch(current, body)
            except PatchError:
                # What the apiserver answers for a patch that does not apply (a failed `test`):
                # NewGenericServerResponse(422, ...), whose message drops the cause.
                message = "the server rejected our request due to an error in our request"
                raise KubeError(422, "Invalid", message, {}) from None
        if not isinstance(body, dict):
            raise bad_request(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        if content_type == "application/merge-patch+json":
            result = merge_patch(current, body)
        else:
            result = strategic_merge_patch(current, body)
        assert isinstance(result, dict)
        return result

    def update_deployment(
        self,
        current: JSON,
        candidate: JSON,
        *,
        dry_run: bool,
        replace: bool = False,
        at: datetime | None = None,
    ) -> JSON:
        """The apiserver's update path: preconditions, defaulting, validation, system
        fields kept, generation bumped on spec changes; then the controller reacts."""
        meta = candidate.get("metadata")
        current_meta = current["metadata"]
        name, namespace = current_meta["name"], current_meta["namespace"]
        if not isinstance(meta, dict):
            raise bad_request("metadata: must be an object")
        if meta.get("name", name if not replace else None) != name:
            given = meta.get("name")
            raise bad_request(
                f"the name of the object ({given}) does not match the name on the URL ({name})"
            )
        if meta.get("namespace", namespace) != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent"
                " on the request"
            )
        if meta.get("resourceVersion") not in (None, "", current_meta["resourceVersion"]):
            raise conflict(DEPLOYMENTS, name)
        if meta.get("uid") not in (None, "", current_meta["uid"]):
            raise conflict(DEPLOYMENTS, name)
        candidate = default_deployment(candidate)
        validate_deployment(candidate, current)
        meta.update(
            name=name,
            namespace=namespace,
            uid=current_meta["uid"],
            creationTimestamp=current_meta["creationTimestamp"],
            generation=current_meta["generation"] + (candidate["spec"] != current["spec"]),
            resourceVersion=current_meta["resourceVersion"],
        )
        candidate["status"] = copy.deepcopy(current.get("status") or {})
        candidate["kind"], candidate["apiVersion"] = DEPLOYMENTS.kind, DEPLOYMENTS.api_version
        if dry_run:
            return candidate
        self.cluster.store(DEPLOYMENTS, candidate, at=at)
        self.controller.sync_deployment(namespace, name, at=at)
        return copy.deepcopy(self.cluster.require(DEPLOYMENTS, namespace, name))
