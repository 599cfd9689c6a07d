"""/status on the pods of a bad deploy, against the real Prometheus and the fake Kubernetes:
the ERROR lines across the deployment's pods (the crash-looping one first, its previous
container's log included), and the pods' containers, init containers, Pending and
ImagePullBackOff with their reasons and messages."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from tests.support.bots import running_bot
from tests.support.prometheus_process import PrometheusProcess
from tests.support.status_cluster import DEPLOYMENT, NS
from tests.support.status_sections import section, status_sections


def pod_names(kube: FakeKubernetes) -> list[str]:
    return [p["metadata"]["name"] for p in kube.pods(NS, DEPLOYMENT)]


async def test_error_lines_across_pods_crash_looping_pod_first_with_its_previous_log(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    fake_kube.add_deployment(
        NS,
        DEPLOYMENT,
        image="registry/payments:v2.3.0",
        replicas=6,
        created_at=now - timedelta(days=3),
    )
    fake_kube.roll_out(
        NS, DEPLOYMENT, image="registry/payments:v2.3.1", at=now - timedelta(minutes=20)
    )
    crashing, *healthy = sorted(pod_names(fake_kube))
    fake_kube.add_pod_status(
        NS,
        crashing,
        ready=False,
        restarts=6,
        reason="CrashLoopBackOff",
        last_terminated_at=now - timedelta(minutes=1),
    )
    previous_log = "INFO starting\nERROR db connect failed password=hunter2\nERROR pool exhausted\n"
    fake_kube.set_pod_log(NS, crashing, previous_log, previous=True)
    fake_kube.set_pod_log(NS, crashing, "INFO starting\nERROR config reload failed\n")
    for name in healthy:
        fake_kube.set_pod_log(NS, name, f"INFO ok\nERROR upstream timeout on {name}\n")
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        texts = await status_sections(bot, fake_slack)

    logs = section(texts, "*Errors in pod logs*").split("```")[1].splitlines()
    assert logs[:3] == [
        f"{crashing} (previous): ERROR db connect failed password=****",
        f"{crashing} (previous): ERROR pool exhausted",
        f"{crashing}: ERROR config reload failed",
    ]
    others = logs[3:]
    assert len(others) == 4  # at most 5 pods: the crash-looping one and the 4 newest others
    assert all(line.endswith(f"ERROR upstream timeout on {line.split(':')[0]}") for line in others)
    assert "hunter2" not in "\n".join(texts)

    reads = fake_kube.requests_to("GET", "/log")
    assert {r.path.split("/")[-2] for r in reads} == {crashing, *[o.split(":")[0] for o in others]}
    assert all(r.query["tailLines"] == "100" for r in reads)
    assert [r.path.split("/")[-2] for r in reads if r.query.get("previous") == "true"] == [crashing]


async def test_containers_init_containers_pending_and_image_pull_backoff(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    fake_kube.add_deployment(
        NS,
        DEPLOYMENT,
        image="registry/payments:v2.3.0",
        created_at=now - timedelta(days=3),
        containers=[{"name": "app"}, {"name": "proxy", "image": "envoy:1.30"}],
    )
    fake_kube.roll_out(
        NS,
        DEPLOYMENT,
        image="registry/payments:v2.3.2",
        container="app",
        template_patch={
            "spec": {"initContainers": [{"name": "migrate", "image": "registry/migrate:v7"}]}
        },
        at=now - timedelta(minutes=5),
    )
    pulling, unscheduled, _ = sorted(pod_names(fake_kube))
    fake_kube.add_pod_status(NS, pulling, ready=False, reason="ErrImagePull", container="app")
    failed = 'Failed to pull image "registry/payments:v2.3.2": not found'
    fake_kube.add_event(
        NS, involved_kind="Pod", involved_name=pulling, reason="Failed", message=failed
    )
    fake_kube.set_unschedulable(NS, unscheduled, "0/3 nodes are available: 3 Insufficient cpu.")
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        texts = await status_sections(bot, fake_slack)

    pods = section(texts, "*Pods in trouble*")
    assert (
        f":boom: {unscheduled} (Pending): Unschedulable, 0 restart(s)\n"
        "      0/3 nodes are available: 3 Insufficient cpu."
    ) in pods
    assert f":boom: {pulling}" in pods and ": ErrImagePull, 0 restart(s)" in pods
    assert 'failed to pull and unpack image "registry/payments:v2.3.2": not found' in pods
    # Each container of the pod, the init container first, with its image and state.
    assert "• init migrate registry/migrate:v7: terminated Completed" in pods
    assert "• app registry/payments:v2.3.2: waiting ErrImagePull" in pods
    assert "• proxy envoy:1.30: running, ready" in pods
    events = section(texts, "*Warning events*")
    assert "FailedScheduling: 0/3 nodes are available" in events
    assert "not found" in events
    # The container that never ran has no log, so nothing tried to read it.
    assert not any("unavailable" in t for t in texts)
    assert not [
        r
        for r in fake_kube.requests_to("GET", "/log")
        if r.query.get("container") == "app" and pulling in r.path
    ]


async def test_log_reads_share_a_2_second_budget(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    """One pod's log is slow to come: the others are shown, and it is named as missing."""
    fake_kube.add_deployment(NS, DEPLOYMENT, image="registry/payments:v2.3.1")
    slow, *others = sorted(pod_names(fake_kube))
    for name in pod_names(fake_kube):
        fake_kube.set_pod_log(NS, name, f"ERROR upstream timeout on {name}\n")
    fake_kube.delay_next("GET", f"/pods/{slow}/log", 30.0)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        started = time.monotonic()
        texts = await status_sections(bot, fake_slack)
        elapsed = time.monotonic() - started
    logs = section(texts, "*Errors in pod logs*")
    assert all(f"ERROR upstream timeout on {name}" in logs for name in others)
    assert slow not in logs
    missing = section(texts, ":warning: *Logs* unavailable:")
    assert missing == f":warning: *Logs* unavailable: {slow}: no answer within 2 s", missing
    assert elapsed < 15.0  # the slow log (30 s) was not waited for
