"""/status when parts of Kubernetes fail: each read costs only its own section.

Against the real Prometheus (45% errors) and the fake Kubernetes API with injected
faults: a resource answering 500, an answer with a field the client's models require
left out (schema drift), and an unexpected exception inside the bot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from tests.support.bots import CLUSTER_CATALOG, running_bot
from tests.support.prometheus_process import PrometheusProcess
from tests.support.slack_client import slash
from tests.support.status_cluster import DEPLOYMENT, NS, seed_cluster
from tests.support.status_sections import section, status_sections

BROKEN_QUERY_CATALOG = {
    **CLUSTER_CATALOG,
    "services": {
        "payments": {
            **CLUSTER_CATALOG["services"]["payments"],  # type: ignore[index]
            "queries": {"request_rate": "sum(rate(http_requests_total{service=}[5m]))"},
        }
    },
}


async def test_the_pod_list_answering_500_costs_only_the_pods(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    fake_kube.fail_next("GET", f"/api/v1/namespaces/{NS}/pods")
    async with running_bot(
        sqlite_url,
        fake_slack,
        kubeconfig=kubeconfig,
        prometheus_url=prometheus.url,
        catalog=BROKEN_QUERY_CATALOG,
    ) as bot:
        texts = await status_sections(bot, fake_slack)
    joined = "\n".join(texts)
    assert "*Error rate*\n:rotating_light: 4" in joined  # Prometheus kept
    assert "*Rollout*" in joined and "rev 2 (current) · registry/payments:v2.3.1" in joined
    assert section(texts, ":warning: *Pods* unavailable:") == (
        ":warning: *Pods* unavailable: Kubernetes API error 500:"
        " Internal error occurred: injected by the fake"
    )
    # The crash-looping pod's events still show: pods are named after their ReplicaSet.
    assert "Back-off restarting failed container" in section(texts, "*Warning events*")
    # One bad PromQL query fails alone, with Prometheus's own words.
    assert section(texts, ":x: request_rate: query `sum(rate(http_requests_total{service=}")
    assert "p95 latency" in joined
    assert "Logs" not in joined  # no pod list, so no logs were read, and nothing claims so


async def test_the_deployment_answering_500_keeps_prometheus(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    fake_kube.fail_next("GET", f"/deployments/{DEPLOYMENT}", status=503)
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        texts = await status_sections(bot, fake_slack)
    assert "*Error rate*\n:rotating_light: 4" in "\n".join(texts)
    assert section(texts, ":warning: *Deployment* unavailable:").endswith(
        "(so no revisions, pods or logs either)"
    )


async def test_a_pod_list_without_a_field_the_client_requires_still_answers(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    """An older or newer API server leaves out imageID: the client's models would refuse
    the whole list (the bot then answered nothing at all); the raw reads do not care."""
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    fake_kube.drop_fields(
        "/pods", "items[].status.containerStatuses[].imageID", "items[].metadata.creationTimestamp"
    )
    fake_kube.drop_fields(f"/deployments/{DEPLOYMENT}", "status.conditions")
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        texts = await status_sections(bot, fake_slack)
    joined = "\n".join(texts)
    assert "unavailable" not in joined
    assert "CrashLoopBackOff, 4 restart(s)" in section(texts, "*Pods in trouble*")
    assert "*Rollout*" in joined


async def test_an_unexpected_exception_ends_in_an_answer_that_says_what_failed(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in reading events")

    monkeypatch.setattr("bot.services.status_kubernetes.warning_events", broken)
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        texts = await status_sections(bot, fake_slack)
        assert section(texts, ":warning: *Events* unavailable:") == (
            ":warning: *Events* unavailable: unexpected error:"
            " RuntimeError: a bug in reading events"
        )
        assert "*Pods in trouble*" in "\n".join(texts)

        # Even a failure outside every section still answers, and says what failed.
        monkeypatch.setattr("bot.slack.listeners.commands.render_status", broken)
        general = fake_slack.add_channel("elsewhere")
        await slash(bot, "/status", "payments", channel=general.id)
        await fake_slack.wait_for_call("chat.postMessage", count=2, timeout=20)
    (said,) = general.messages
    assert said.text.startswith(
        ":x: /status payments could not finish: RuntimeError: a bug in reading events."
    )
