"""The fake Kubernetes API server must behave like one for the official `kubernetes` client.

The client is blocking, so every call runs in a thread (`asyncio.to_thread`) while
the fake serves on the test's event loop; every call has a short timeout so a
broken fake fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes.client as k8s
import kubernetes.config
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from standins.fake_kubernetes import FakeKubernetes, RolloutMode, client_configuration
from standins.fake_kubernetes_patch import PatchError, json_patch
from tests.support.bots import Clock

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
NS = "prod"
NAME = "payment-service"
IMAGE = "registry.example.com/payments"
REVISION = "deployment.kubernetes.io/revision"
TIMEOUT = 5.0
# What `kubectl rollout undo` keeps from the Deployment rather than from the ReplicaSet.
UNDO_SKIPPED = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}


@pytest.fixture
def clock_at_t0() -> Clock:
    """The fake's clock, from T0, when the deployment was created."""
    return Clock(T0)


@pytest.fixture
async def fake(clock_at_t0: Clock) -> AsyncIterator[FakeKubernetes]:
    kube = FakeKubernetes(clock=clock_at_t0)
    kube.add_deployment(NS, NAME, image=f"{IMAGE}:1.0", env={"MODE": "live"}, created_at=T0)
    await kube.start()
    yield kube
    await kube.stop()


@pytest.fixture
def api(fake: FakeKubernetes) -> Iterator[k8s.ApiClient]:
    with k8s.ApiClient(client_configuration(fake.url)) as client:
        yield client


async def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(method, *args, _request_timeout=TIMEOUT, **kwargs)


async def api_error(method: Callable[..., Any], *args: Any, **kwargs: Any) -> ApiException:
    with pytest.raises(ApiException) as info:
        await call(method, *args, **kwargs)
    return info.value


def status_body(error: ApiException) -> dict[str, Any]:
    body = json.loads(error.body)
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == error.status
    return body  # type: ignore[no-any-return]


def revisions(fake: FakeKubernetes) -> dict[str, int]:
    """Image -> revision of each ReplicaSet."""
    return {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: int(
            rs["metadata"]["annotations"][REVISION]
        )
        for rs in fake.replicasets(NS, NAME)
    }


def condition(deployment: Any, type_: str) -> Any:
    return next(c for c in deployment.status.conditions if c.type == type_)


async def undo_patch(api: k8s.ApiClient, to_revision: int) -> list[dict[str, Any]]:
    """The JSON patch `kubectl rollout undo --to-revision` sends, built the way kubectl does."""
    apps = k8s.AppsV1Api(api)
    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    replicasets = await call(apps.list_namespaced_replica_set, NS, label_selector=selector)
    rs = next(
        r
        for r in replicasets.items
        if r.metadata.annotations[REVISION] == str(to_revision)
        and any(o.uid == deployment.metadata.uid for o in r.metadata.owner_references)
    )
    template = api.sanitize_for_serialization(rs.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = {k: v for k, v in deployment.metadata.annotations.items() if k in UNDO_SKIPPED}
    annotations |= {k: v for k, v in rs.metadata.annotations.items() if k not in UNDO_SKIPPED}
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


# -- discovery and reads -------------------------------------------------------------------


async def test_discovery(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    version = await call(k8s.VersionApi(api).get_code)
    assert (version.major, version.git_version) == ("1", "v1.31.0")
    core = await call(k8s.CoreApi(api).get_api_versions)
    assert core.versions == ["v1"]
    groups = await call(k8s.ApisApi(api).get_api_versions)
    assert {g.name for g in groups.groups} >= {"apps", "authorization.k8s.io"}
    apps = await call(k8s.AppsV1Api(api).get_api_resources)
    assert {r.name for r in apps.resources} >= {"deployments", "replicasets"}
    pods = await call(k8s.CoreV1Api(api).get_api_resources)
    assert {r.name for r in pods.resources} >= {"pods", "pods/log", "events"}


async def test_read_and_list_deployments(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    fake.add_deployment(NS, "ledger", image="ledger:7", replicas=1)
    fake.add_deployment("staging", NAME, image=f"{IMAGE}:1.1")

    listed = await call(apps.list_namespaced_deployment, NS)
    assert [d.metadata.name for d in listed.items] == ["ledger", NAME]
    everywhere = await call(apps.list_deployment_for_all_namespaces)
    assert len(everywhere.items) == 3

    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    meta = deployment.metadata
    assert (meta.namespace, meta.generation, meta.creation_timestamp) == (NS, 1, T0)
    assert meta.uid
    assert int(meta.resource_version) > 0
    assert meta.labels == {"app": NAME}
    assert meta.annotations == {REVISION: "1"}
    assert deployment.spec.replicas == 3
    assert deployment.spec.selector.match_labels == {"app": NAME}
    container = deployment.spec.template.spec.containers[0]
    assert (container.name, container.image) == (NAME, f"{IMAGE}:1.0")
    assert container.image_pull_policy == "IfNotPresent"  # defaulted like the apiserver
    assert [(e.name, e.value) for e in container.env] == [("MODE", "live")]
    assert deployment.spec.strategy.rolling_update.max_surge == "25%"
    status = deployment.status
    assert (status.observed_generation, status.replicas, status.updated_replicas) == (1, 3, 3)
    assert (status.ready_replicas, status.available_replicas, status.unavailable_replicas) == (
        3,
        3,
        None,
    )
    assert condition(deployment, "Available").reason == "MinimumReplicasAvailable"
    assert condition(deployment, "Progressing").reason == "NewReplicaSetAvailable"


async def test_missing_objects_answer_a_not_found_status(api: k8s.ApiClient) -> None:
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    error = await api_error(apps.read_namespaced_deployment, "nope", NS)
    body = status_body(error)
    assert (error.status, body["reason"]) == (404, "NotFound")
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    error = await api_error(core.read_namespaced_pod_log, "nope", NS)
    assert status_body(error)["message"] == 'pods "nope" not found'


async def test_unknown_paths_and_methods_answer_a_status(fake: FakeKubernetes) -> None:
    async with aiohttp.ClientSession() as http:
        for method, path, code in [
            ("GET", "/apis/apps/v1/namespaces/prod/statefulsets", 404),
            ("GET", "/healthz/whatever", 404),
            ("DELETE", f"/apis/apps/v1/namespaces/prod/deployments/{NAME}", 405),
        ]:
            async with http.request(method, fake.url + path) as response:
                body = await response.json()
            assert (response.status, body["kind"], body["code"]) == (code, "Status", code)
        patch = f"{fake.url}/apis/apps/v1/namespaces/prod/deployments/{NAME}"
        async with http.patch(
            patch, json={}, headers={"Content-Type": "application/yaml"}
        ) as response:
            assert response.status == 415
            assert (await response.json())["reason"] == "UnsupportedMediaType"


async def test_replicasets_are_owned_by_their_deployment(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    apps = k8s.AppsV1Api(api)
    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    listed = await call(apps.list_namespaced_replica_set, NS, label_selector=f"app={NAME}")
    [rs] = listed.items
    [owner] = rs.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        NAME,
        deployment.metadata.uid,
        True,
    )
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"{NAME}-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": NAME, "pod-template-hash": pod_hash}
    assert rs.spec.template.metadata.labels == {"app": NAME, "pod-template-hash": pod_hash}
    assert rs.metadata.annotations[REVISION] == "1"
    assert (rs.spec.replicas, rs.status.ready_replicas, rs.status.available_replicas) == (3, 3, 3)
    by_name = await call(apps.read_namespaced_replica_set, rs.metadata.name, NS)
    assert by_name.metadata.uid == rs.metadata.uid
    pods = await call(
        k8s.CoreV1Api(api).list_namespaced_pod, NS, label_selector=f"pod-template-hash={pod_hash}"
    )
    assert len(pods.items) == 3
    for pod in pods.items:
        assert pod.metadata.name.startswith(f"{rs.metadata.name}-")
        assert pod.metadata.owner_references[0].uid == rs.metadata.uid
        assert pod.status.phase == "Running"
        assert pod.status.container_statuses[0].ready is True


async def test_two_rollouts_make_revisions_1_2_3(
    fake: FakeKubernetes, api: k8s.ApiClient, clock_at_t0: Clock
) -> None:
    clock_at_t0.now = T0 + timedelta(hours=1)
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.2", at=T0 + timedelta(hours=2), change_cause="hotfix")
    assert revisions(fake) == {f"{IMAGE}:1.0": 1, f"{IMAGE}:1.1": 2, f"{IMAGE}:1.2": 3}

    apps = k8s.AppsV1Api(api)
    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    assert deployment.metadata.annotations[REVISION] == "3"
    assert deployment.metadata.generation == deployment.status.observed_generation == 3
    listed = await call(apps.list_namespaced_replica_set, NS, label_selector=f"app={NAME}")
    by_revision = {rs.metadata.annotations[REVISION]: rs for rs in listed.items}
    assert [by_revision[r].spec.replicas for r in ("1", "2", "3")] == [0, 0, 3]
    assert by_revision["3"].metadata.creation_timestamp == T0 + timedelta(hours=2)
    assert by_revision["3"].metadata.annotations["kubernetes.io/change-cause"] == "hotfix"
    assert len({rs.metadata.name for rs in listed.items}) == 3
    pods = fake.pods(NS, NAME)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {f"{IMAGE}:1.2"}
    events = await call(
        k8s.CoreV1Api(api).list_namespaced_event, NS, field_selector=f"involvedObject.name={NAME}"
    )
    assert [e.reason for e in events.items] == ["ScalingReplicaSet"] * 5
    assert events.items[-1].message.startswith("Scaled down replica set")


# -- pods, events, logs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "ready", "restarts", "waiting", "terminated", "phase"),
    [
        ("CrashLoopBackOff", False, 5, "CrashLoopBackOff", "Error", "Running"),
        ("OOMKilled", False, 3, "CrashLoopBackOff", "OOMKilled", "Running"),
        ("OOMKilled", True, 1, None, "OOMKilled", "Running"),
        ("ImagePullBackOff", False, 0, "ImagePullBackOff", None, "Pending"),
        (None, False, 0, None, None, "Running"),  # running, readiness probe failing
    ],
)
async def test_pod_statuses(
    fake: FakeKubernetes,
    api: k8s.ApiClient,
    reason: str | None,
    ready: bool,
    restarts: int,
    waiting: str | None,
    terminated: str | None,
    phase: str,
) -> None:
    name = fake.pods(NS, NAME)[0]["metadata"]["name"]
    crashed_at = T0 + timedelta(minutes=3) if terminated else None
    fake.add_pod_status(
        NS, name, ready=ready, restarts=restarts, reason=reason, last_terminated_at=crashed_at
    )

    pod = await call(k8s.CoreV1Api(api).read_namespaced_pod, name, NS)
    [status] = pod.status.container_statuses
    assert (status.ready, status.restart_count, pod.status.phase) == (ready, restarts, phase)
    assert (status.state.waiting.reason if status.state.waiting else None) == waiting
    assert (status.state.running is not None) == (waiting is None)
    last = status.last_state.terminated
    assert (last.reason if last else None) == terminated
    if last is not None:
        assert last.finished_at == crashed_at
        assert last.exit_code == (137 if terminated == "OOMKilled" else 1)
    ready_condition = next(c for c in pod.status.conditions if c.type == "Ready")
    assert ready_condition.status == str(ready)

    deployment = await call(k8s.AppsV1Api(api).read_namespaced_deployment, NAME, NS)
    expected_ready = 3 if ready else 2
    assert (deployment.status.ready_replicas, deployment.status.available_replicas) == (
        expected_ready,
    ) * 2
    assert deployment.status.unavailable_replicas == (None if ready else 1)
    # A finished rollout stays finished when a pod goes unready later.
    assert condition(deployment, "Progressing").reason == "NewReplicaSetAvailable"


async def test_events_by_involved_object(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    pod = fake.pods(NS, NAME)[0]["metadata"]["name"]
    fake.add_event(
        NS,
        involved_kind="Pod",
        involved_name=pod,
        reason="BackOff",
        message="Back-off restarting failed container",
    )
    fake.add_event(
        NS,
        involved_kind="Pod",
        involved_name=pod,
        reason="Killing",
        message="Stopping",
        type="Normal",
    )
    fake.add_event(
        NS, involved_kind="Deployment", involved_name=NAME, reason="Odd", message="deployment event"
    )
    fake.add_event(
        "other", involved_kind="Pod", involved_name=pod, reason="BackOff", message="elsewhere"
    )
    core = k8s.CoreV1Api(api)

    events = await call(
        core.list_namespaced_event,
        NS,
        field_selector=f"involvedObject.name={pod},involvedObject.kind=Pod",
    )
    assert [(e.reason, e.type) for e in events.items] == [
        ("BackOff", "Warning"),
        ("Killing", "Normal"),
    ]
    event = events.items[0]
    assert event.involved_object.uid == fake.pods(NS, NAME)[0]["metadata"]["uid"]
    assert event.source.component == "kubelet"
    assert event.last_timestamp == T0
    warnings = await call(
        core.list_namespaced_event, NS, field_selector=f"involvedObject.name={pod},type!=Normal"
    )
    assert [e.reason for e in warnings.items] == ["BackOff"]
    on_deployment = await call(
        core.list_namespaced_event, NS, field_selector="involvedObject.kind=Deployment,reason=Odd"
    )
    assert [e.message for e in on_deployment.items] == ["deployment event"]
    error = await api_error(core.list_namespaced_event, NS, field_selector="message=x")
    assert (error.status, status_body(error)["message"]) == (
        400,
        "field label not supported: message",
    )


async def test_pod_logs(fake: FakeKubernetes, api: k8s.ApiClient, clock_at_t0: Clock) -> None:
    core = k8s.CoreV1Api(api)
    pod = fake.pods(NS, NAME)[0]["metadata"]["name"]
    fake.set_pod_log(NS, pod, "old 1\nold 2", at=T0 - timedelta(hours=1))
    assert await call(core.read_namespaced_pod_log, pod, NS) == "old 1\nold 2\n"
    fake.set_pod_log(NS, pod, "\n".join(f"line {i}" for i in range(1, 6)))
    fake.set_pod_log(NS, pod, "panic: nil map\ngoroutine 1 [running]:", previous=True)

    assert await call(core.read_namespaced_pod_log, pod, NS, tail_lines=2) == "line 4\nline 5\n"
    assert await call(core.read_namespaced_pod_log, pod, NS, container=NAME, tail_lines=0) == ""
    assert (
        await call(core.read_namespaced_pod_log, pod, NS, previous=True, tail_lines=1)
        == "goroutine 1 [running]:\n"
    )
    clock_at_t0.now = T0 + timedelta(minutes=10)
    assert await call(core.read_namespaced_pod_log, pod, NS, since_seconds=60) == ""
    assert (await call(core.read_namespaced_pod_log, pod, NS, since_seconds=3600)).count("\n") == 5
    stamped = await call(core.read_namespaced_pod_log, pod, NS, timestamps=True, tail_lines=1)
    assert stamped == "2026-11-26T09:00:00.000000000Z line 5\n"
    error = await api_error(core.read_namespaced_pod_log, pod, NS, container="sidecar")
    assert (error.status, status_body(error)["reason"]) == (400, "BadRequest")


async def test_log_of_a_pod_with_two_containers_needs_a_container_name(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    containers = [{"name": "app", "image": "app:1"}, {"name": "proxy", "image": "envoy:1.30"}]
    fake.add_deployment(NS, "api", image="app:1", replicas=1, containers=containers)
    [pod] = fake.pods(NS, "api")
    fake.set_pod_log(NS, pod["metadata"]["name"], "listening", container="proxy")
    core = k8s.CoreV1Api(api)
    error = await api_error(core.read_namespaced_pod_log, pod["metadata"]["name"], NS)
    assert "choose one of: [app proxy]" in status_body(error)["message"]
    logs = await call(core.read_namespaced_pod_log, pod["metadata"]["name"], NS, container="proxy")
    assert logs == "listening\n"


@pytest.mark.parametrize(
    ("selector", "count"),
    [
        (f"app={NAME}", 3),
        (f"app=={NAME}", 3),
        (f"app in ({NAME},ledger)", 3),
        ("app notin (ledger)", 3),
        ("app", 3),
        ("!app", 0),
        (f"app!={NAME}", 0),
        (f"app={NAME},tier=web", 0),
        ("", 3),
    ],
)
async def test_label_selectors(api: k8s.ApiClient, selector: str, count: int) -> None:
    pods = await call(k8s.CoreV1Api(api).list_namespaced_pod, NS, label_selector=selector)
    assert len(pods.items) == count


async def test_an_unparsable_label_selector_is_400(api: k8s.ApiClient) -> None:
    error = await api_error(k8s.CoreV1Api(api).list_namespaced_pod, NS, label_selector="app=(")
    assert error.status == 400


async def test_namespaces_and_the_status_subresource(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    namespaces = await call(core.list_namespace)
    assert {"default", NS} <= {n.metadata.name for n in namespaces.items}
    assert (await call(core.read_namespace, NS)).status.phase == "Active"
    assert (await api_error(core.read_namespace, "nope")).status == 404
    status = await call(apps.read_namespaced_deployment_status, NAME, NS)
    assert status.status.available_replicas == 3


# -- writes: rollback, dry run, conflicts --------------------------------------------------


async def test_rollback_by_json_patch_reuses_the_old_replicaset(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.2")
    apps = k8s.AppsV1Api(api)
    names_before = {rs["metadata"]["name"] for rs in fake.replicasets(NS, NAME)}

    patch = await undo_patch(api, to_revision=1)
    patched = await call(apps.patch_namespaced_deployment, NAME, NS, patch)

    assert fake.requests[-1].content_type == "application/json-patch+json"
    assert patched.spec.template.spec.containers[0].image == f"{IMAGE}:1.0"
    assert patched.metadata.annotations[REVISION] == "4"
    assert patched.metadata.generation == 4
    assert revisions(fake) == {f"{IMAGE}:1.0": 4, f"{IMAGE}:1.1": 2, f"{IMAGE}:1.2": 3}
    assert {
        rs["metadata"]["name"] for rs in fake.replicasets(NS, NAME)
    } == names_before  # none created
    reused = next(
        rs for rs in fake.replicasets(NS, NAME) if rs["metadata"]["annotations"][REVISION] == "4"
    )
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert reused["spec"]["replicas"] == 3
    status = patched.status  # instant mode: converged in the PATCH answer already
    assert (status.observed_generation, status.updated_replicas, status.available_replicas) == (
        4,
        3,
        3,
    )
    progressing = condition(patched, "Progressing")
    assert progressing.reason == "NewReplicaSetAvailable"
    assert reused["metadata"]["name"] in progressing.message
    assert {p["spec"]["containers"][0]["image"] for p in fake.pods(NS, NAME)} == {f"{IMAGE}:1.0"}


async def test_undoing_to_the_current_template_changes_no_revision(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    before = fake.deployment(NS, NAME)
    patch = await undo_patch(api, to_revision=1)
    patched = await call(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch)
    assert patched.metadata.annotations[REVISION] == "1"
    assert patched.metadata.generation == 1
    assert (
        patched.metadata.resource_version == before["metadata"]["resourceVersion"]
    )  # a no-op write


async def test_dry_run_changes_nothing(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")
    before = fake.deployment(NS, NAME)
    replicasets_before = fake.replicasets(NS, NAME)
    patch = await undo_patch(api, to_revision=1)

    answer = await call(
        k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch, dry_run="All"
    )

    assert fake.requests[-1].query["dryRun"] == "All"
    assert answer.spec.template.spec.containers[0].image == f"{IMAGE}:1.0"
    assert answer.metadata.generation == 3  # what it would become
    assert answer.metadata.resource_version == before["metadata"]["resourceVersion"]
    assert fake.deployment(NS, NAME) == before
    assert fake.replicasets(NS, NAME) == replicasets_before


async def test_an_invalid_dry_run_value_is_400(api: k8s.ApiClient) -> None:
    error = await api_error(
        k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, {}, dry_run="Yes"
    )
    assert error.status == 400


@pytest.mark.parametrize(
    "how", ["json-patch replace", "merge patch", "strategic merge patch", "put"]
)
async def test_a_stale_resource_version_is_a_409_conflict(
    fake: FakeKubernetes, api: k8s.ApiClient, how: str
) -> None:
    apps = k8s.AppsV1Api(api)
    stale = await call(apps.read_namespaced_deployment, NAME, NS)
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")  # someone else deployed meanwhile
    rv = stale.metadata.resource_version
    body = {"metadata": {"resourceVersion": rv}, "spec": {"replicas": 5}}
    if how == "json-patch replace":
        ops = [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
        ]
        error = await api_error(apps.patch_namespaced_deployment, NAME, NS, ops)
    elif how == "merge patch":
        error = await api_error(
            apps.patch_namespaced_deployment,
            NAME,
            NS,
            body,
            _content_type="application/merge-patch+json",
        )
    elif how == "strategic merge patch":
        error = await api_error(apps.patch_namespaced_deployment, NAME, NS, body)
    else:
        stale.spec.replicas = 5
        error = await api_error(apps.replace_namespaced_deployment, NAME, NS, stale)
    status = status_body(error)
    assert (error.status, status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        f'Operation cannot be fulfilled on deployments.apps "{NAME}": the object has been modified;'
        " please apply your changes to the latest version and try again"
    )
    assert fake.deployment(NS, NAME)["spec"]["replicas"] == 3


async def test_a_failed_test_op_is_422_like_the_apiserver(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")
    before = fake.deployment(NS, NAME)
    patch = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": f"{IMAGE}:1.0",
        },
    ]
    error = await api_error(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch)
    body = status_body(error)
    # apiserver: NewGenericServerResponse(422, ...) for a JSON patch that does not apply.
    assert (error.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == "the server rejected our request due to an error in our request"
    assert fake.deployment(NS, NAME) == before

    patch[0]["value"] = before["metadata"]["resourceVersion"]  # the right one passes
    patched = await call(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch)
    assert patched.metadata.annotations[REVISION] == "3"


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ([{"op": "replace", "path": "/spec/nope/deeper", "value": 1}], 422),
        ([{"op": "remove", "path": "/metadata/labels/missing"}], 422),
        ([{"op": "jump", "path": "/spec"}], 422),
        ([{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "other"}], 422),
        ([{"op": "replace", "path": "/spec/replicas", "value": -1}], 422),
        ([{"op": "remove", "path": "/spec/template/spec/containers/0/image"}], 422),
        ([{"op": "replace", "path": "/metadata/name", "value": "renamed"}], 400),
    ],
)
async def test_bad_json_patches(
    fake: FakeKubernetes, api: k8s.ApiClient, patch: list[dict[str, Any]], code: int
) -> None:
    before = fake.deployment(NS, NAME)
    error = await api_error(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch)
    assert error.status == code
    assert fake.deployment(NS, NAME) == before


async def test_strategic_merge_patch_sets_an_image_like_kubectl(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    body = {
        "spec": {"template": {"spec": {"containers": [{"name": NAME, "image": f"{IMAGE}:2.0"}]}}}
    }
    patched = await call(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, body)
    assert fake.requests[-1].content_type == "application/strategic-merge-patch+json"
    [container] = patched.spec.template.spec.containers
    assert container.image == f"{IMAGE}:2.0"
    assert [(e.name, e.value) for e in container.env] == [("MODE", "live")]  # merged by name, kept
    assert patched.metadata.annotations[REVISION] == "2"


async def test_put_replaces_the_deployment(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    deployment.spec.template.spec.containers[0].image = f"{IMAGE}:3.0"
    replaced = await call(apps.replace_namespaced_deployment, NAME, NS, deployment)
    assert replaced.metadata.annotations[REVISION] == "2"
    assert revisions(fake) == {f"{IMAGE}:1.0": 1, f"{IMAGE}:3.0": 2}


async def test_a_paused_deployment_does_not_roll_out(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    fake.add_deployment(NS, "ledger", image="ledger:7", paused=True)
    fake.roll_out(NS, "ledger", image="ledger:8")
    apps = k8s.AppsV1Api(api)

    deployment = await call(apps.read_namespaced_deployment, "ledger", NS)
    assert deployment.spec.paused is True
    assert deployment.metadata.annotations[REVISION] == "1"
    assert deployment.status.observed_generation == deployment.metadata.generation
    assert (deployment.status.updated_replicas, deployment.status.available_replicas) == (None, 3)
    paused = condition(deployment, "Progressing")
    assert (paused.status, paused.reason) == ("Unknown", "DeploymentPaused")
    assert len(fake.replicasets(NS, "ledger")) == 1
    assert {p["spec"]["containers"][0]["image"] for p in fake.pods(NS, "ledger")} == {"ledger:7"}

    resumed = await call(
        apps.patch_namespaced_deployment, "ledger", NS, {"spec": {"paused": False}}
    )
    assert resumed.metadata.annotations[REVISION] == "2"
    assert condition(resumed, "Progressing").reason == "NewReplicaSetAvailable"
    assert {p["spec"]["containers"][0]["image"] for p in fake.pods(NS, "ledger")} == {"ledger:8"}


async def test_a_stuck_rollout_exceeds_its_progress_deadline(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    fake.set_rollout_mode("stuck")
    fake.roll_out(NS, NAME, image=f"{IMAGE}:broken")
    apps = k8s.AppsV1Api(api)

    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    progressing = condition(deployment, "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert progressing.message.endswith("has timed out progressing.")
    assert condition(deployment, "Available").status == "True"  # the old pods still serve
    status = deployment.status
    assert (status.replicas, status.updated_replicas, status.ready_replicas) == (4, 1, 3)
    new, old = (
        rs
        for rs in sorted(
            fake.replicasets(NS, NAME), key=lambda rs: -int(rs["metadata"]["annotations"][REVISION])
        )
    )
    assert (new["spec"]["replicas"], new["status"].get("readyReplicas")) == (1, None)
    assert old["spec"]["replicas"] == 3
    stuck_pod = next(
        p for p in fake.pods(NS, NAME) if p["spec"]["containers"][0]["image"].endswith("broken")
    )
    assert stuck_pod["status"]["phase"] == "Pending"

    # Rolling back to the healthy ReplicaSet completes even in stuck mode: its pods are ready.
    patch = await undo_patch(api, to_revision=1)
    rolled_back = await call(apps.patch_namespaced_deployment, NAME, NS, patch)
    assert condition(rolled_back, "Progressing").reason == "NewReplicaSetAvailable"
    assert (rolled_back.status.replicas, rolled_back.status.available_replicas) == (3, 3)
    assert revisions(fake) == {f"{IMAGE}:1.0": 3, f"{IMAGE}:broken": 2}


async def test_manual_rollout_steps_like_a_rolling_update(fake: FakeKubernetes) -> None:
    fake.set_rollout_mode("manual")
    deployment = fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")
    assert deployment["status"]["conditions"][1]["reason"] == "ReplicaSetUpdated"

    def split() -> tuple[int, int]:
        by_image = {
            rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["spec"]["replicas"]
            for rs in fake.replicasets(NS, NAME)
        }
        return by_image[f"{IMAGE}:1.1"], by_image[f"{IMAGE}:1.0"]

    assert split() == (0, 3)
    steps = []
    for _ in range(3):
        deployment = fake.progress(NS, NAME)
        steps.append(split())
    assert steps == [(1, 2), (2, 1), (3, 0)]  # maxSurge 1, maxUnavailable 0 for 3 replicas
    assert deployment["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
    assert fake.progress(NS, NAME)["status"]["updatedReplicas"] == 3  # nothing left to do


@pytest.mark.parametrize("mode", ["manual", "stuck"])
async def test_switching_to_instant_finishes_a_rollout(
    fake: FakeKubernetes, mode: RolloutMode
) -> None:
    fake.set_rollout_mode(mode)
    fake.roll_out(NS, NAME, image=f"{IMAGE}:1.1")
    fake.set_rollout_mode("instant")
    replicas = {
        rs["metadata"]["annotations"][REVISION]: rs["spec"]["replicas"]
        for rs in fake.replicasets(NS, NAME)
    }
    assert replicas == {"1": 0, "2": 3}
    deployment = fake.deployment(NS, NAME)
    assert deployment["status"]["availableReplicas"] == 3
    assert deployment["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
    assert all(p["status"]["phase"] == "Running" for p in fake.pods(NS, NAME))


async def test_old_replicasets_beyond_the_history_limit_are_deleted(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    apps = k8s.AppsV1Api(api)
    await call(apps.patch_namespaced_deployment, NAME, NS, {"spec": {"revisionHistoryLimit": 1}})
    for version in ("1.1", "1.2", "1.3"):
        fake.roll_out(NS, NAME, image=f"{IMAGE}:{version}")
    assert revisions(fake) == {f"{IMAGE}:1.2": 3, f"{IMAGE}:1.3": 4}


# -- faults, RBAC, auth, kubeconfig --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
        (429, "TooManyRequests"),
        (504, "Timeout"),
        (403, "Forbidden"),
    ],
)
async def test_fail_next(
    fake: FakeKubernetes, api: k8s.ApiClient, status: int, reason: str
) -> None:
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    fake.fail_next("GET", "/deployments/", status=status, reason=reason, count=2)

    await call(core.list_namespaced_pod, NS)  # another path: untouched
    for _ in range(2):
        error = await api_error(apps.read_namespaced_deployment, NAME, NS)
        body = status_body(error)
        assert (error.status, body["reason"]) == (status, reason)
    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    assert deployment.metadata.name == NAME
    assert [r.status for r in fake.requests_to("GET", "/deployments/")] == [status, status, 200]


async def test_a_429_with_retry_after_is_retried_by_urllib3_itself(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    """Worth knowing when writing the bot: urllib3's default Retry honours Retry-After on
    429/503 for GETs, so the client waits and retries without the caller seeing it."""
    fake.fail_next("GET", "/deployments/", status=429, reason="TooManyRequests", retry_after=1)
    started = time.monotonic()
    deployment = await call(k8s.AppsV1Api(api).read_namespaced_deployment, NAME, NS)
    assert deployment.metadata.name == NAME
    assert time.monotonic() - started >= 1
    answered = fake.requests_to("GET", "/deployments/")
    assert [r.status for r in answered] == [429, 200]


async def test_fail_next_on_a_patch_changes_nothing(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    before = fake.deployment(NS, NAME)
    fake.fail_next("PATCH", None, status=500)
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 1}]
    error = await api_error(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch)
    assert error.status == 500
    assert fake.deployment(NS, NAME) == before
    assert fake.requests[-1].body == patch


async def test_set_down_refuses_connections_quickly(
    fake: FakeKubernetes, api: k8s.ApiClient
) -> None:
    apps = k8s.AppsV1Api(api)
    await call(apps.read_namespaced_deployment, NAME, NS)  # leaves a kept-alive connection
    fake.set_down(True)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError):
            await call(apps.read_namespaced_deployment, NAME, NS)
        assert time.monotonic() - started < 3
    fake.set_down(False)
    deployment = await call(apps.read_namespaced_deployment, NAME, NS)
    assert deployment.metadata.name == NAME
    for down in (True, False, True, False):  # flapping without a request in between
        fake.set_down(down)
    assert (await call(apps.read_namespaced_deployment, NAME, NS)).metadata.name == NAME


async def test_self_subject_access_reviews(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    authz = k8s.AuthorizationV1Api(api)

    async def allowed(
        verb: str, resource: str, namespace: str, group: str = "apps", sub: str | None = None
    ) -> bool:
        attributes = k8s.V1ResourceAttributes(
            verb=verb, group=group, resource=resource, namespace=namespace, subresource=sub
        )
        review = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        )
        answer = await call(authz.create_self_subject_access_review, review)
        return bool(answer.status.allowed)

    assert await allowed("patch", "deployments", NS)
    fake.deny("patch", "deployments", NS)
    fake.deny("get", "pods/log")
    assert not await allowed("patch", "deployments", NS)
    assert await allowed("patch", "deployments", "staging")
    assert await allowed("get", "deployments", NS)
    assert not await allowed("get", "pods", NS, group="", sub="log")
    assert await allowed("get", "pods", NS, group="")

    # The denial holds for the requests themselves, too.
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    error = await api_error(
        apps.patch_namespaced_deployment,
        NAME,
        NS,
        [{"op": "replace", "path": "/spec/replicas", "value": 1}],
    )
    body = status_body(error)
    assert (error.status, body["reason"]) == (403, "Forbidden")
    assert (
        'cannot patch resource "deployments" in API group "apps" in the namespace "prod"'
        in body["message"]
    )
    pod = fake.pods(NS, NAME)[0]["metadata"]["name"]
    assert (await api_error(core.read_namespaced_pod_log, pod, NS)).status == 403
    assert (await call(apps.read_namespaced_deployment, NAME, NS)).metadata.name == NAME


async def test_kubeconfig_works_with_load_kube_config(fake: FakeKubernetes, tmp_path: Path) -> None:
    path = fake.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    saved = k8s.Configuration.get_default_copy()
    try:
        kubernetes.config.load_kube_config(config_file=str(path))
        with k8s.ApiClient() as client:
            deployment = await call(k8s.AppsV1Api(client).read_namespaced_deployment, NAME, NS)
    finally:
        k8s.Configuration.set_default(saved)
    assert deployment.metadata.annotations[REVISION] == "1"
    _, context = kubernetes.config.list_kube_config_contexts(config_file=str(path))
    assert context["context"]["namespace"] == NS


async def test_a_token_is_required_when_the_fake_has_one(tmp_path: Path) -> None:
    async with FakeKubernetes(token="s3cret") as fake:
        fake.add_deployment(NS, NAME, image="x:1")
        without = k8s.ApiClient(client_configuration(fake.url))
        with_token = k8s.ApiClient(client_configuration(fake.url, token="s3cret"))
        with without, with_token:
            error = await api_error(k8s.AppsV1Api(without).read_namespaced_deployment, NAME, NS)
            assert (error.status, status_body(error)["reason"]) == (401, "Unauthorized")
            deployment = await call(k8s.AppsV1Api(with_token).read_namespaced_deployment, NAME, NS)
            assert deployment.metadata.name == NAME
        config = k8s.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(fake.write_kubeconfig(tmp_path / "kc")), client_configuration=config
        )
        with k8s.ApiClient(config) as client:
            assert (
                await call(k8s.AppsV1Api(client).read_namespaced_deployment, NAME, NS)
            ).metadata.name == NAME


async def test_requests_are_recorded(fake: FakeKubernetes, api: k8s.ApiClient) -> None:
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    await call(k8s.AppsV1Api(api).patch_namespaced_deployment, NAME, NS, patch, dry_run="All")
    await api_error(k8s.AppsV1Api(api).read_namespaced_deployment, "nope", NS)
    patch_request, get_request = fake.requests[-2:]
    assert patch_request.method == "PATCH"
    assert patch_request.path == f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}"
    assert patch_request.query == {"dryRun": "All"}
    assert (patch_request.body, patch_request.status) == (patch, 200)
    assert (get_request.method, get_request.body, get_request.status) == ("GET", None, 404)


# -- the JSON patch implementation on its own (RFC 6902 examples) ----------------------------


@pytest.mark.parametrize(
    ("document", "patch", "expected"),
    [
        ({"a": 1}, [{"op": "add", "path": "/b", "value": [1]}], {"a": 1, "b": [1]}),
        ({"a": [1, 2]}, [{"op": "add", "path": "/a/1", "value": 9}], {"a": [1, 9, 2]}),
        ({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3]}),
        ({"a": {"b": 1}}, [{"op": "add", "path": "/a/b", "value": 2}], {"a": {"b": 2}}),
        ({"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}),
        ({"a": [1, 2, 3]}, [{"op": "remove", "path": "/a/0"}], {"a": [2, 3]}),
        ({"a": 1}, [{"op": "replace", "path": "/a", "value": None}], {"a": None}),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a/b", "path": "/c"}], {"a": {}, "c": 1}),
        ({"a": [1]}, [{"op": "copy", "from": "/a/0", "path": "/b"}], {"a": [1], "b": 1}),
        (
            {"a/b": 1, "m~n": 2},
            [{"op": "replace", "path": "/a~1b", "value": 3}],
            {"a/b": 3, "m~n": 2},
        ),
        ({"m~n": 2}, [{"op": "test", "path": "/m~0n", "value": 2}], {"m~n": 2}),
        (
            {"a": [1, {"b": True}]},
            [{"op": "test", "path": "/a", "value": [1, {"b": True}]}],
            {"a": [1, {"b": True}]},
        ),
    ],
)
def test_json_patch_applies(
    document: dict[str, Any], patch: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    before = json.dumps(document)
    assert json_patch(document, patch) == expected
    assert json.dumps(document) == before  # the input is left alone


@pytest.mark.parametrize(
    ("document", "patch"),
    [
        ({"a": 1}, [{"op": "test", "path": "/a", "value": "1"}]),
        ({"a": 1}, [{"op": "test", "path": "/a", "value": True}]),
        ({"a": None}, [{"op": "test", "path": "/b", "value": None}]),
        ({"a": 1}, [{"op": "replace", "path": "/b", "value": 1}]),
        ({"a": 1}, [{"op": "remove", "path": "/b"}]),
        ({"a": [1]}, [{"op": "add", "path": "/a/5", "value": 1}]),
        ({"a": [1]}, [{"op": "add", "path": "/a/01", "value": 1}]),
        ({"a": 1}, [{"op": "add", "path": "/x/y", "value": 1}]),
        ({"a": 1}, [{"op": "add", "path": "a", "value": 1}]),
        ({"a": 1}, [{"op": "add", "path": "/b"}]),
        ({"a": 1}, [{"op": "frobnicate", "path": "/a"}]),
    ],
)
def test_json_patch_refuses(document: dict[str, Any], patch: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError):
        json_patch(document, patch)
