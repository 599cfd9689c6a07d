"""Kubernetes adapter: the official client, its blocking calls kept off the event loop.

Objects come back as the API's own JSON (camelCase dicts) so the pure core reads
them as kubectl would; HTTP failures become typed errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")
Obj = dict[str, Any]


class KubernetesError(Exception):
    pass


class KubernetesUnavailable(KubernetesError):
    """The API server did not answer."""


class KubernetesNotFound(KubernetesError):
    pass


class KubernetesConflict(KubernetesError):
    """The object changed since it was read (resourceVersion)."""


class KubernetesRefused(KubernetesError):
    """The API server refused the request (403, 422, ...); the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def api_client_from_environment(kubeconfig: Path | None = None) -> client.ApiClient | None:
    """In-cluster when running in a pod, else the kubeconfig, as every Kubernetes tool does."""
    configuration = client.Configuration()
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        else:
            path = str(kubeconfig) if kubeconfig else None
            config.load_kube_config(config_file=path, client_configuration=configuration)
    except (config.ConfigException, OSError, TypeError):
        return None
    return client.ApiClient(configuration)


class KubernetesSource:
    def __init__(self, api: client.ApiClient, *, timeout: float = 5.0) -> None:
        self.api = api
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self._timeout = timeout

    async def _run(self, call: Callable[[], Any]) -> Any:
        try:
            result = await asyncio.to_thread(call)
        except ApiException as e:
            raise _classify(e) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise KubernetesUnavailable(f"Kubernetes API did not answer: {e}") from e
        return self.api.sanitize_for_serialization(result)

    async def deployment(self, namespace: str, name: str) -> Obj:
        return dict(await self._run(lambda: self.apps.read_namespaced_deployment(
            name, namespace, _request_timeout=self._timeout)))  # fmt: skip

    async def replicasets(self, namespace: str, selector: str) -> list[Obj]:
        data = await self._run(lambda: self.apps.list_namespaced_replica_set(
            namespace, label_selector=selector, _request_timeout=self._timeout))  # fmt: skip
        return list(data.get("items", []))

    async def pods(self, namespace: str, selector: str) -> list[Obj]:
        data = await self._run(lambda: self.core.list_namespaced_pod(
            namespace, label_selector=selector, _request_timeout=self._timeout))  # fmt: skip
        return list(data.get("items", []))

    async def events(self, namespace: str) -> list[Obj]:
        data = await self._run(lambda: self.core.list_namespaced_event(
            namespace, _request_timeout=self._timeout))  # fmt: skip
        return list(data.get("items", []))

    async def pod_log(self, namespace: str, pod: str, *, tail_lines: int = 200) -> str:
        text = await self._run(lambda: self.core.read_namespaced_pod_log(
            pod, namespace, tail_lines=tail_lines, _request_timeout=self._timeout))  # fmt: skip
        return str(text or "")

    async def patch_deployment(
        self, namespace: str, name: str, patch: list[Obj], *, dry_run: bool = False
    ) -> Obj:
        """A JSON patch (RFC 6902), as `kubectl rollout undo` sends."""
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}

        def call() -> Any:
            return self.apps.patch_namespaced_deployment(
                name, namespace, patch, _request_timeout=self._timeout,
                _content_type="application/json-patch+json", **extra,
            )  # fmt: skip

        return dict(await self._run(call))


def label_selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def _classify(e: ApiException) -> KubernetesError:
    status = int(e.status or 0)
    message = str(e.reason or "")
    body = e.body.decode() if isinstance(e.body, bytes) else e.body
    if body:
        with contextlib.suppress(ValueError):
            message = str(json.loads(body).get("message", message))
    if status == 404:
        return KubernetesNotFound(message)
    if status == 409:
        return KubernetesConflict(message)
    if status == 0 or status >= 500:
        return KubernetesUnavailable(f"Kubernetes API error {status}: {message}")
    return KubernetesRefused(status, message)
