"""Kubernetes adapter: the official client, its blocking calls kept off the event loop.

Objects come back as the API's own JSON (camelCase dicts) so the pure core reads
them as kubectl would; HTTP failures become typed errors. Reads skip the client's
models (`_preload_content=False`): those refuse an object that lacks a field they
require (an older or newer API server can leave one out, e.g. a container status
without `imageID`), and one such pod would cost the whole list.
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


class KubernetesMalformed(KubernetesError):
    """The answer is not the JSON object expected."""


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


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def current_namespace(
    kubeconfig: Path | None = None, *, in_cluster_file: Path = SERVICE_ACCOUNT_NAMESPACE
) -> str:
    """The namespace kubectl would use: the pod's own in a cluster, else the kubeconfig's
    current context's, else `default`."""
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return in_cluster_file.read_text(encoding="utf-8").strip() or "default"
        path = str(kubeconfig) if kubeconfig else None
        _, active = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError, TypeError, ValueError):
        return "default"
    namespace = (active or {}).get("context", {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else "default"


class KubernetesSource:
    def __init__(self, api: client.ApiClient, *, timeout: float = 5.0) -> None:
        self.api = api
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self._timeout = timeout

    async def _call(self, call: Callable[[], Any]) -> Any:
        # The blocking client runs in a thread that a cancelled caller (a /status budget)
        # cannot stop: the answer it gets later is closed then, never left to the garbage
        # collector with its socket open.
        answer = asyncio.get_running_loop().run_in_executor(None, call)
        try:
            return await asyncio.shield(answer)
        except asyncio.CancelledError:
            answer.add_done_callback(_close_abandoned)
            raise
        except ApiException as e:
            raise _classify(e) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise KubernetesUnavailable(f"Kubernetes API did not answer: {e}") from e

    async def _read(self, call: Callable[[], Any], what: str) -> Obj:
        """The raw JSON object of a read; `call` passes `_preload_content=False`."""
        response = await self._call(call)
        try:
            data = json.loads(_body(response))
        except (ValueError, AttributeError) as e:
            raise KubernetesMalformed(f"{what}: the answer is not JSON") from e
        if not isinstance(data, dict):
            raise KubernetesMalformed(f"{what}: the answer is not a JSON object")
        return data

    async def _items(self, call: Callable[[], Any], what: str) -> list[Obj]:
        items = (await self._read(call, what)).get("items")
        if not isinstance(items, list):
            raise KubernetesMalformed(f"{what}: the list has no items")
        return [item for item in items if isinstance(item, dict)]

    async def deployment(self, namespace: str, name: str) -> Obj:
        return await self._read(
            lambda: self.apps.read_namespaced_deployment(
                name,
                namespace,
                _request_timeout=self._timeout,
                _preload_content=False,
            ),
            f"deployment {namespace}/{name}",
        )

    async def replicasets(self, namespace: str, selector: str) -> list[Obj]:
        return await self._items(
            lambda: self.apps.list_namespaced_replica_set(
                namespace,
                label_selector=selector,
                _request_timeout=self._timeout,
                _preload_content=False,
            ),
            "ReplicaSet list",
        )

    async def pods(self, namespace: str, selector: str) -> list[Obj]:
        return await self._items(
            lambda: self.core.list_namespaced_pod(
                namespace,
                label_selector=selector,
                _request_timeout=self._timeout,
                _preload_content=False,
            ),
            "pod list",
        )

    async def events(self, namespace: str) -> list[Obj]:
        return await self._items(
            lambda: self.core.list_namespaced_event(
                namespace,
                _request_timeout=self._timeout,
                _preload_content=False,
            ),
            "event list",
        )

    async def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        previous: bool = False,
        tail_lines: int = 200,
        timeout: float | None = None,
    ) -> str:
        """`kubectl logs [--previous] [-c container] --tail=N`; undecodable bytes replaced."""
        extra: dict[str, Any] = {"container": container} if container else {}

        def call() -> Any:
            return self.core.read_namespaced_pod_log(
                pod,
                namespace,
                previous=previous,
                tail_lines=tail_lines,
                _request_timeout=timeout or self._timeout,
                _preload_content=False,
                **extra,
            )

        response = await self._call(call)
        return _body(response).decode("utf-8", errors="replace")

    async def patch_deployment(
        self, namespace: str, name: str, patch: list[Obj], *, dry_run: bool = False
    ) -> Obj:
        """A JSON patch (RFC 6902), as `kubectl rollout undo` sends."""
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}

        def call() -> Any:
            return self.apps.patch_namespaced_deployment(
                name,
                namespace,
                patch,
                _request_timeout=self._timeout,
                _content_type="application/json-patch+json",
                _preload_content=False,
                **extra,
            )

        return await self._read(call, f"deployment {namespace}/{name}")


def _body(response: Any) -> bytes:
    """The whole body of a raw (`_preload_content=False`) answer; its connection goes back to
    the pool, never left open for the garbage collector."""
    try:
        data = response.data
    finally:
        release = getattr(response, "release_conn", None)
        if release is not None:
            release()
    return data if isinstance(data, bytes) else str(data or "").encode()


def _close_abandoned(answer: asyncio.Future[Any]) -> None:
    if answer.cancelled() or answer.exception() is not None:
        return
    response = answer.result()
    for name in ("close", "release_conn"):  # close: never read a body nobody wants
        method = getattr(response, name, None)
        if callable(method):
            with contextlib.suppress(Exception):
                method()


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
