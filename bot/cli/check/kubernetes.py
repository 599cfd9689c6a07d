"""`incident-bot check` for Kubernetes: reachable, and allowing what /status and /rollback do.

`KUBERNETES_PERMISSIONS` is exactly the Role the Helm chart grants per namespace; each is
asked of the API server with a SelfSubjectAccessReview, off the event loop (the client
blocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bot.cli.check.results import CheckResult, mask_url, ok, problem, reason, skipped
from bot.settings import Catalog, Settings
from integrations.kubernetes import api_client_from_environment

RBAC_DOC = "helm/incident-bot/templates/rbac.yaml"


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""

    def __str__(self) -> str:
        name = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {name}"


# Exactly the Role the Helm chart grants per namespace.
KUBERNETES_PERMISSIONS: tuple[Permission, ...] = (
    # Only the verbs the code calls (integrations/kubernetes.py): read one deployment, patch
    # it, list its ReplicaSets and pods, read a pod's log, list events.
    *(Permission(v, "deployments", "apps") for v in ("get", "patch")),
    Permission("list", "replicasets", "apps"),
    Permission("list", "pods"),
    Permission("get", "pods", subresource="log"),
    Permission("list", "events"),
)


def _kubernetes_namespaces(catalog: Catalog) -> list[str]:
    namespaces = set(catalog.rollback.namespaces)
    namespaces |= {s.namespace for s in catalog.services.values() if s.deployment}
    return sorted(namespaces)


def _patch_targets(catalog: Catalog) -> dict[str, str]:
    """Rollback namespace -> a catalog deployment there, to ask `patch` about by name.

    Asking about one named deployment is answered the same with or without the chart's
    `rbac.resourceNames`; a namespace without a catalog deployment is asked about any ("").
    """
    targets = {namespace: "" for namespace in catalog.rollback.namespaces}
    for service, config in sorted(catalog.services.items()):
        if config.namespace in targets and not targets[config.namespace]:
            targets[config.namespace] = config.deployment or service
    return targets


def _api_error(e: ApiException) -> str:
    message = str(e.reason or "")
    body = e.body.decode() if isinstance(e.body, bytes) else e.body
    if body:
        with contextlib.suppress(ValueError, AttributeError):
            message = str(json.loads(body).get("message", message))
    return f"HTTP {e.status}: {message}"


async def check_kubernetes(
    settings: Settings, catalog: Catalog | None, *, timeout: float
) -> list[CheckResult]:
    name = "kubernetes: reachable"
    needed = _kubernetes_namespaces(catalog) if catalog is not None else []
    api = await asyncio.to_thread(api_client_from_environment, settings.kubeconfig)
    if api is None:
        detail = (
            f"no usable kubeconfig at KUBECONFIG {settings.kubeconfig}"
            if settings.kubeconfig
            else "not in a pod and no kubeconfig (~/.kube/config) found"
        )
        if not needed:
            return [skipped(name, f"{detail}; the catalog names no namespace")]
        return [
            problem(
                name,
                detail,
                "set KUBECONFIG to a kubeconfig file, or run in the cluster with the chart's "
                "ServiceAccount",
            ),
            skipped("kubernetes: RBAC", "Kubernetes not configured"),
        ]
    patch_targets = _patch_targets(catalog) if catalog is not None else {}
    try:
        return await _check_cluster(api, needed, timeout=timeout, patch_targets=patch_targets)
    finally:
        api.close()


async def _check_cluster(
    api: Any, namespaces: list[str], *, timeout: float, patch_targets: dict[str, str]
) -> list[CheckResult]:
    name = "kubernetes: reachable"
    host = mask_url(str(api.configuration.host))
    try:
        async with asyncio.timeout(timeout):
            version = await asyncio.to_thread(
                lambda: k8s.VersionApi(api).get_code(_request_timeout=timeout)
            )
    except Exception as e:  # refused, unreachable, timed out, or a TLS problem
        if isinstance(e, ApiException):
            why = _api_error(e)
            fix = (
                "the API server refused the credentials: refresh the kubeconfig's token"
                if e.status == 401
                else f"check the API server at {host}"
            )
        else:
            why = reason(e)
            fix = f"check the API server address ({host}), the network, or KUBECONFIG"
        return [
            problem(name, f"{host}: {why}", fix),
            skipped("kubernetes: RBAC", "Kubernetes unreachable"),
        ]
    rows = [ok(name, f"{host}, Kubernetes {getattr(version, 'git_version', '?')}")]
    if not namespaces:
        return [*rows, skipped("kubernetes: RBAC", "the catalog names no namespace")]
    checks = [
        _check_rbac(api, namespace, timeout, patch_targets.get(namespace))
        for namespace in namespaces
    ]
    for found in await asyncio.gather(*checks):
        rows.append(found)
    return rows


async def _check_rbac(
    api: Any, namespace: str, timeout: float, patch_target: str | None
) -> CheckResult:
    """`patch_target`: None in a read-only namespace (patch is not asked), else the
    deployment to ask about ("" for any)."""
    name = f"kubernetes: RBAC in {namespace}"
    authorization = k8s.AuthorizationV1Api(api)
    needed = [p for p in KUBERNETES_PERMISSIONS if p.verb != "patch" or patch_target is not None]

    def review(permission: Permission) -> bool:
        body = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    namespace=namespace,
                    verb=permission.verb,
                    group=permission.group,
                    resource=permission.resource,
                    subresource=permission.subresource or None,
                    name=(patch_target or None) if permission.verb == "patch" else None,
                )
            )
        )
        answer = authorization.create_self_subject_access_review(body, _request_timeout=timeout)
        return bool(answer.status and answer.status.allowed)

    async def allowed(permission: Permission) -> bool:
        return await asyncio.to_thread(review, permission)

    try:
        async with asyncio.timeout(timeout):
            answers = await asyncio.gather(*(allowed(p) for p in needed))
    except Exception as e:  # refused, unreachable, timed out
        why = _api_error(e) if isinstance(e, ApiException) else reason(e)
        return problem(
            name,
            f"SelfSubjectAccessReview failed: {why}",
            "check that the API server answers and the credentials are valid",
        )
    missing = [str(p) for p, yes in zip(needed, answers, strict=True) if not yes]
    if not missing:
        uses = "/status and /rollback use" if patch_target is not None else "/status uses"
        return ok(name, f"all {len(needed)} permissions {uses}")
    return problem(
        name,
        f"cannot {', '.join(missing)}",
        f"grant it in the Role in namespace {namespace}, see {RBAC_DOC}",
    )
