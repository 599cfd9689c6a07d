"""/status against the real Prometheus (scraping a traffic exporter) and the fake Kubernetes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from bot.runtime import BotRuntime
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from tests.support.bots import running_bot
from tests.support.polling import eventually
from tests.support.prometheus_process import PrometheusProcess
from tests.support.slack_client import slash
from tests.support.status_cluster import seed_cluster


def blocks_text(fake_slack: FakeSlack, channel_id: str) -> str:
    return "\n".join(
        json.dumps(m.blocks) for m in fake_slack.channels[channel_id].messages if m.blocks
    )


async def test_status_reports_the_45_percent_error_rate_with_a_chart(
    slack_mode: str,
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url,
        fake_slack,
        kubeconfig=kubeconfig,
        prometheus_url=prometheus.url,
        mode=slack_mode,
    ) as bot:
        general = fake_slack.add_channel("general")
        started = time.monotonic()
        ack = await slash(bot, "/status", "payments", channel=general.id)
        assert time.monotonic() - started < 3.0  # Slack's limit for the acknowledgement
        assert ack == "Checking payments..."
        await fake_slack.wait_for_call("files.completeUploadExternal", timeout=20)

        text = blocks_text(fake_slack, general.id)
        rate = float(re.search(r"Error rate\*\\n:rotating_light: ([\d.]+)%", text).group(1))  # type: ignore[union-attr]
        assert 40 <= rate <= 50
        assert "p95 latency" in text and " s" in text
        assert "rev 2 (current) \\u00b7 registry/payments:v2.3.1" in text
        assert "CrashLoopBackOff" in text and "BackOff" in text
        assert "password=****" in text and "hunter2" not in text
        (upload,) = fake_slack.files.values()
        assert upload.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert 5_000 < len(upload.content) < 500_000
        assert general.id in upload.channels


async def test_status_in_an_incident_channel_goes_on_the_timeline(
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    prometheus: PrometheusProcess,
    tmp_path: Path,
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url=prometheus.url
    ) as bot:
        general = fake_slack.add_channel("general")
        await slash(
            bot, "/incident", "declare Payments failing --service payments", channel=general.id
        )
        incident = await eventually(lambda: _with_channel(bot), what="the incident channel")
        assert (
            await slash(bot, "/status", "", channel=incident.channel_id or "")
            == "Checking payments..."
        )

        async def checked() -> list[object]:
            return [
                e for e in await bot.store.timeline(incident.id or 0) if e.kind == "status_checked"
            ]

        (event,) = await eventually(checked, timeout=20, what="the /status timeline row")
        assert abs(event.details["error_rate"] - 0.45) < 0.05  # type: ignore[attr-defined]
        assert event.details["revision"] == 2  # type: ignore[attr-defined]
        assert "Error rate 4" in event.text  # type: ignore[attr-defined]


async def _with_channel(bot: BotRuntime) -> object:
    rows = [i for i in await bot.store.incidents() if i.channel_id]
    return rows[0] if rows else None


async def test_prometheus_down_gives_a_partial_answer(
    sqlite_url: str, fake_slack: FakeSlack, fake_kube: FakeKubernetes, tmp_path: Path
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, fake_slack, kubeconfig=kubeconfig, prometheus_url="http://127.0.0.1:9"
    ) as bot:
        general = fake_slack.add_channel("general")
        started = time.monotonic()
        await slash(bot, "/status", "payments", channel=general.id)
        await fake_slack.wait_for_call("chat.postMessage", timeout=15)
        assert time.monotonic() - started < 10
        text = blocks_text(fake_slack, general.id)
        assert ":warning: *Prometheus* unavailable" in text
        assert "rev 2 (current)" in text  # Kubernetes still answered


async def test_kubernetes_down_gives_a_partial_answer(
    sqlite_url: str, fake_slack: FakeSlack, fake_kube: FakeKubernetes, tmp_path: Path
) -> None:
    seed_cluster(fake_kube)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    fake_kube.set_down(True)
    async with running_bot(sqlite_url, fake_slack, kubeconfig=kubeconfig) as bot:
        general = fake_slack.add_channel("general")
        await slash(bot, "/status", "payments", channel=general.id)
        await fake_slack.wait_for_call("chat.postMessage", timeout=15)
        text = blocks_text(fake_slack, general.id)
        assert ":warning: *Deployment* unavailable: Kubernetes API" in text
        assert ":warning: *Prometheus* unavailable" in text


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("nosuch", "Unknown service `nosuch`. Known services: payments."),
        ("", "Which service?"),
        ("a b", "one service at a time"),
    ],
)
async def test_status_errors_say_what_to_type(
    sqlite_url: str, fake_slack: FakeSlack, text: str, answer: str
) -> None:
    async with running_bot(sqlite_url, fake_slack) as bot:
        general = fake_slack.add_channel("general")
        assert answer in await slash(bot, "/status", text, channel=general.id)
        assert fake_slack.calls_to("chat.postMessage") == []


async def test_no_catalog_and_no_deployment_says_how_to_add_it(
    sqlite_url: str, fake_slack: FakeSlack, fake_kube: FakeKubernetes, tmp_path: Path
) -> None:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(sqlite_url, fake_slack, kubeconfig=kubeconfig, catalog={}) as bot:
        general = fake_slack.add_channel("general")
        general.members.add("U0ONCALL1")
        assert await slash(bot, "/status", "checkout", channel=general.id) == "Checking checkout..."
        (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
        assert "no deployment `checkout` in namespace `default`" in said.args["text"]
        assert "services:\n  checkout:" in said.args["text"]


async def test_a_service_missing_from_the_catalog_is_read_in_the_bots_own_namespace(
    sqlite_url: str, fake_slack: FakeSlack, fake_kube: FakeKubernetes, tmp_path: Path
) -> None:
    """As kubectl would: the kubeconfig's namespace (in a cluster: the pod's own, where the
    chart grants read access by default)."""
    fake_kube.add_deployment("shop", "checkout", image="registry/checkout:v9")
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
    async with running_bot(sqlite_url, fake_slack, kubeconfig=kubeconfig, catalog={}) as bot:
        general = fake_slack.add_channel("general")
        assert await slash(bot, "/status", "checkout", channel=general.id) == "Checking checkout..."
        await fake_slack.wait_for_call("chat.postMessage", timeout=15)
        text = blocks_text(fake_slack, general.id)
    assert "shop/checkout" in text
    assert "rev 1 (current) \\u00b7 registry/checkout:v9" in text
