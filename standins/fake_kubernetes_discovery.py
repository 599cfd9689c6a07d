"""Discovery documents of the fake Kubernetes API server: `/version`, `/api`,
`/apis`, the groups and their resource lists (what `VersionApi`, `CoreApi`,
`ApisApi` and `get_api_resources()` read, and what `kubectl` would use)."""

from __future__ import annotations

from standins.fake_kubernetes_objects import JSON

VERBS_BY_RESOURCE = {
    "deployments": ["get", "list", "patch", "update"],
    "deployments/status": ["get"],
    "replicasets": ["get", "list"],
    "pods": ["get", "list"],
    "pods/log": ["get"],
    "events": ["get", "list"],
    "namespaces": ["get", "list"],
}
_KINDS = {
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "pods": "Pod",
    "events": "Event",
    "namespaces": "Namespace",
}


def _resource_list(group_version: str, names: list[str]) -> JSON:
    resources = []
    for name in names:
        plural = name.split("/")[0]
        resources.append(
            {
                "name": name,
                "singularName": _KINDS[plural].lower() if "/" not in name else "",
                "namespaced": plural != "namespaces",
                "kind": _KINDS[plural],
                "verbs": VERBS_BY_RESOURCE[name],
            }
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _group(name: str) -> JSON:
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [version],
        "preferredVersion": version,
    }


def discovery_document(path: str, address: str) -> JSON | None:
    """What GET `path` answers if it is a discovery path, else None."""
    path = path.rstrip("/") or "/"
    if path == "/version":
        return {
            "major": "1",
            "minor": "31",
            "gitVersion": "v1.31.0",
            "gitCommit": "9edcffcde5595e8a5b1a35f88c421764e575afce",
            "gitTreeState": "clean",
            "buildDate": "2024-08-13T07:28:49Z",
            "goVersion": "go1.22.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if path == "/api":
        cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs}
    if path == "/apis":
        groups = [_group("apps"), _group("authorization.k8s.io")]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if path in ("/apis/apps", "/apis/authorization.k8s.io"):
        return _group(path.removeprefix("/apis/"))
    if path == "/api/v1":
        return _resource_list("v1", ["pods", "pods/log", "events", "namespaces"])
    if path == "/apis/apps/v1":
        return _resource_list("apps/v1", ["deployments", "deployments/status", "replicasets"])
    if path == "/apis/authorization.k8s.io/v1":
        ssar = {
            "name": "selfsubjectaccessreviews",
            "singularName": "selfsubjectaccessreview",
            "namespaced": False,
            "kind": "SelfSubjectAccessReview",
            "verbs": ["create"],
        }
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "authorization.k8s.io/v1",
            "resources": [ssar],
        }
    return None
