"""The fake Kubernetes: what /status needs of it beyond the basics, seen through the official
client: faults (a resource answering 500, answers with fields missing), previous-container
logs, several containers, init containers, Pending/FailedScheduling, ImagePullBackOff."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import kubernetes.client as k8s
import pydantic
import pytest
from kubernetes.client.exceptions import ApiException

from standins.fake_kubernetes import FakeKubernetes, client_configuration
from tests.support.bots import Clock

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
NS, NAME = "prod", "payment-service"
CONTAINERS = [
    {"name": "app", "image": "registry/payments:v2.3.0"},
    {"name": "proxy", "image": "envoy:1.30"},
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeKubernetes]:
    kube = FakeKubernetes(clock=Clock(T0))
    kube.add_deployment(
        NS, NAME, image="registry/payments:v2.3.0", replicas=2, containers=CONTAINERS, created_at=T0
    )
    await kube.start()
    yield kube
    await kube.stop()


@pytest.fixture
def core(fake: FakeKubernetes) -> Iterator[k8s.CoreV1Api]:
    with k8s.ApiClient(client_configuration(fake.url)) as client:
        yield k8s.CoreV1Api(client)


async def raw(call: Any, *args: Any, **kwargs: Any) -> Any:
    response = await asyncio.to_thread(
        call, *args, _request_timeout=5, _preload_content=False, **kwargs
    )
    data = response.data
    response.release_conn()
    return json.loads(data) if "log" not in call.__name__ else data.decode()


def pod_names(fake: FakeKubernetes) -> list[str]:
    return [p["metadata"]["name"] for p in fake.pods(NS, NAME)]


async def test_a_field_missing_breaks_the_clients_models_but_not_a_raw_read(
    fake: FakeKubernetes, core: k8s.CoreV1Api
) -> None:
    fake.drop_fields("/pods", "items[].status.containerStatuses[].imageID")
    with pytest.raises(pydantic.ValidationError, match="imageID"):
        await asyncio.to_thread(core.list_namespaced_pod, NS, _request_timeout=5)
    body = await raw(core.list_namespaced_pod, NS)
    statuses = [s for p in body["items"] for s in p["status"]["containerStatuses"]]
    assert len(statuses) == 4 and all("imageID" not in s for s in statuses)
    assert all("image" in s for s in statuses)  # only the named field went


async def test_a_resource_answering_500(fake: FakeKubernetes, core: k8s.CoreV1Api) -> None:
    fake.fail_next("GET", f"/namespaces/{NS}/pods", count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            await asyncio.to_thread(core.list_namespaced_pod, NS, _request_timeout=5)
        assert caught.value.status == 500
    assert len((await raw(core.list_namespaced_pod, NS))["items"]) == 2


async def test_previous_and_current_logs_of_each_container(
    fake: FakeKubernetes, core: k8s.CoreV1Api
) -> None:
    pod = pod_names(fake)[0]
    fake.add_pod_status(
        NS, pod, ready=False, restarts=6, reason="CrashLoopBackOff", container="app"
    )
    fake.set_pod_log(NS, pod, "ERROR crashed before\n", container="app", previous=True)
    fake.set_pod_log(NS, pod, "ERROR crashed now\n", container="app")
    fake.set_pod_log(NS, pod, "proxy up\n", container="proxy")
    read = core.read_namespaced_pod_log
    assert await raw(read, pod, NS, container="app", previous=True) == "ERROR crashed before\n"
    assert await raw(read, pod, NS, container="app") == "ERROR crashed now\n"
    assert await raw(read, pod, NS, container="proxy") == "proxy up\n"
    with pytest.raises(ApiException) as caught:  # the proxy never restarted
        await raw(read, pod, NS, container="proxy", previous=True)
    assert caught.value.status == 400
    (status,) = [
        s
        for s in (await raw(core.read_namespaced_pod, pod, NS))["status"]["containerStatuses"]
        if s["name"] == "app"
    ]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["restartCount"] == 6


async def test_image_pull_backoff_names_the_image_and_has_no_log(
    fake: FakeKubernetes, core: k8s.CoreV1Api
) -> None:
    fake.roll_out(NS, NAME, image="registry/payments:v2.3.2", container="app")
    pod = pod_names(fake)[-1]
    fake.add_pod_status(NS, pod, ready=False, reason="ImagePullBackOff", container="app")
    body = await raw(core.read_namespaced_pod, pod, NS)
    (app,) = [s for s in body["status"]["containerStatuses"] if s["name"] == "app"]
    assert app["state"]["waiting"] == {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "registry/payments:v2.3.2"',
    }
    with pytest.raises(ApiException) as caught:
        await raw(core.read_namespaced_pod_log, pod, NS, container="app")
    assert caught.value.status == 400
    assert "is waiting to start: trying and failing to pull image" in caught.value.body


async def test_init_containers(fake: FakeKubernetes, core: k8s.CoreV1Api) -> None:
    template = {"spec": {"initContainers": [{"name": "migrate", "image": "migrate:v7"}]}}
    fake.roll_out(NS, NAME, template_patch=template)
    pod = pod_names(fake)[-1]
    body = await raw(core.read_namespaced_pod, pod, NS)
    (migrate,) = body["status"]["initContainerStatuses"]
    assert migrate["state"]["terminated"]["reason"] == "Completed"

    fake.add_pod_status(
        NS, pod, ready=False, restarts=3, reason="CrashLoopBackOff", container="migrate"
    )
    fake.set_pod_log(NS, pod, "ERROR migration 42 failed\n", container="migrate", previous=True)
    body = await raw(core.read_namespaced_pod, pod, NS)
    assert body["status"]["phase"] == "Pending"
    (migrate,) = body["status"]["initContainerStatuses"]
    assert migrate["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert {s["state"]["waiting"]["reason"] for s in body["status"]["containerStatuses"]} == {
        "PodInitializing"
    }
    conditions = {c["type"]: c for c in body["status"]["conditions"]}
    assert conditions["Initialized"]["status"] == "False"
    log = await raw(core.read_namespaced_pod_log, pod, NS, container="migrate", previous=True)
    assert log == "ERROR migration 42 failed\n"


async def test_unschedulable_pod(fake: FakeKubernetes, core: k8s.CoreV1Api) -> None:
    pod = pod_names(fake)[0]
    fake.set_unschedulable(NS, pod, "0/3 nodes are available: 3 Insufficient cpu.")
    body = await raw(core.read_namespaced_pod, pod, NS)
    assert body["status"]["phase"] == "Pending"
    assert "containerStatuses" not in body["status"] and "nodeName" not in body["spec"]
    (scheduled,) = body["status"]["conditions"]
    assert (scheduled["type"], scheduled["status"], scheduled["reason"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    events = (await raw(core.list_namespaced_event, NS))["items"]
    failed = [e for e in events if e["reason"] == "FailedScheduling"]
    assert failed[0]["involvedObject"]["name"] == pod
    assert failed[0]["type"] == "Warning"
    assert failed[0]["source"]["component"] == "default-scheduler"
