"""The real Prometheus binary, driven by `PrometheusProcess`, scraping a `TrafficExporter`.

Also: the exporter on its own (with a fake clock), and the brief's alert rules
checked and unit-tested with the real ``promtool``.
"""

from __future__ import annotations

import asyncio
import math
import pathlib
import re
import stat
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.support.metrics_exporter import LATENCY_BUCKETS, TrafficExporter
from tests.support.polling import eventually
from tests.support.prometheus_process import (
    BRIEF_ALERT_RULES,
    INSTALL_HINT,
    BinaryMissing,
    PrometheusProcess,
    PrometheusQueryError,
    brief_alert_rules,
    find_prometheus,
    find_promtool,
)
from tests.support.realparts import require_binary

# The expressions of BRIEF.md "Alert Rules", copied verbatim (whitespace aside).
BRIEF_EXPRESSIONS = {
    "HighErrorRate": """
        (
          sum(rate(http_requests_total{status=~"5.."}[5m]))
          /
          sum(rate(http_requests_total[5m]))
        ) > 0.05""",
    "HighLatency": """
        histogram_quantile(0.95,
          rate(http_request_duration_seconds_bucket[5m])
        ) > 1.0""",
    "PodRestarting": "rate(kube_pod_container_status_restarts_total[15m]) > 0",
    "HighCPU": """
        (
          sum(rate(container_cpu_usage_seconds_total[5m])) by (pod)
          /
          sum(container_spec_cpu_quota/container_spec_cpu_period) by (pod)
        ) > 0.8""",
    "DatabaseConnectionsHigh": "pg_stat_activity_count > 80",
}
BRIEF_FOR = {
    "HighErrorRate": "5m",
    "HighLatency": "10m",
    "PodRestarting": "5m",
    "HighCPU": "10m",
    "DatabaseConnectionsHigh": "5m",
}

READY_DEADLINE = 30.0  # s; rate() is right ~7 s after start (first scrape at ~5-6 s)


def error_rate(service: str, window: str = "1m") -> str:
    return (
        f'sum(rate(http_requests_total{{service="{service}",status=~"5.."}}[{window}]))'
        f' / sum(rate(http_requests_total{{service="{service}"}}[{window}]))'
    )


def latency_p95(service: str, window: str = "1m") -> str:
    return (
        "histogram_quantile(0.95, sum by (le) "
        f'(rate(http_request_duration_seconds_bucket{{service="{service}"}}[{window}])))'
    )


def squash(text: str) -> str:
    return " ".join(text.split())


def rules_by_name(text: str) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(text)
    (group,) = doc["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


# -- the exporter alone ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def samples(exporter: TrafficExporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(exporter.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests(found: dict[Any, float], service: str, status: str) -> float:
    return found[("http_requests_total", (("service", service), ("status", status)))]


def test_exporter_accrues_traffic_from_elapsed_time() -> None:
    clock = FakeClock()
    exporter = TrafficExporter(services=("payments", "search"), clock=clock)
    found = samples(exporter)
    assert requests(found, "payments", "200") == 0
    assert requests(found, "search", "500") == 0

    exporter.set_traffic("payments", rps=100, error_ratio=0.45, latency_s=1.2)
    clock.now += 10.005  # 1000.5 requests: the half carries over
    found = samples(exporter)
    assert requests(found, "payments", "500") == 450
    assert requests(found, "payments", "200") == 550
    bucket = "http_request_duration_seconds_bucket"
    assert found[(bucket, (("le", "1.1"), ("service", "payments")))] == 0
    assert found[(bucket, (("le", "1.2"), ("service", "payments")))] == 1000
    assert found[(bucket, (("le", "+Inf"), ("service", "payments")))] == 1000
    assert found[("http_request_duration_seconds_count", (("service", "payments"),))] == 1000
    assert found[("http_request_duration_seconds_sum", (("service", "payments"),))] == 1200

    clock.now += 0.005  # the carried half plus this half: one more request
    assert requests(samples(exporter), "payments", "200") + requests(
        samples(exporter), "payments", "500"
    ) == pytest.approx(1001)

    # A change accrues the old setting first, then counts at the new one.
    exporter.set_traffic("payments", rps=10, error_ratio=0.0, latency_s=0.1)
    clock.now += 100
    found = samples(exporter)
    assert requests(found, "payments", "500") == 450
    assert requests(found, "payments", "200") == 551 + 1000
    assert requests(found, "search", "200") == 0

    exporter.set_traffic("checkout", rps=1, error_ratio=1.0, latency_s=0.2)  # a new service
    clock.now += 3
    assert requests(samples(exporter), "checkout", "500") == 3


def test_exporter_error_ratio_is_exact_over_time() -> None:
    clock = FakeClock()
    exporter = TrafficExporter(clock=clock)
    exporter.set_traffic("payments", rps=7, error_ratio=0.45, latency_s=0.3)
    for _ in range(1000):  # 1000 scrapes 1 s apart: 7 requests each, 3.15 errors
        clock.now += 1
        list(exporter.registry.collect())
    found = samples(exporter)
    assert requests(found, "payments", "500") == round(7000 * 0.45)
    assert requests(found, "payments", "200") == 7000 - round(7000 * 0.45)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rps": -1, "error_ratio": 0.1, "latency_s": 0.1},
        {"rps": 1, "error_ratio": 1.5, "latency_s": 0.1},
        {"rps": 1, "error_ratio": 0.1, "latency_s": math.nan},
    ],
)
def test_exporter_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        TrafficExporter().set_traffic("payments", **kwargs)


async def test_exporter_serves_the_text_format_over_http() -> None:
    exporter = TrafficExporter()
    with pytest.raises(RuntimeError, match="not been started"):
        _ = exporter.target
    async with exporter:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", exporter.target)
        async with aiohttp.ClientSession() as session, session.get(exporter.metrics_url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
    names = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert names == {"http_requests": "counter", "http_request_duration_seconds": "histogram"}
    assert text.count("http_request_duration_seconds_bucket{") == len(LATENCY_BUCKETS) + 1


# -- the brief's alert rules -------------------------------------------------------


def test_brief_rules_are_the_briefs_with_by_service_on_high_error_rate() -> None:
    rules = rules_by_name(BRIEF_ALERT_RULES)
    assert list(rules) == list(BRIEF_EXPRESSIONS)
    assert yaml.safe_load(BRIEF_ALERT_RULES)["groups"][0]["interval"] == "30s"
    for name, rule in rules.items():
        expr = rule["expr"]
        if name == "HighErrorRate":  # the one deviation: one alert per service, labelled
            assert squash(expr).count(") by (service)") == 2
            expr = expr.replace(" by (service)", "")
        assert squash(expr) == squash(BRIEF_EXPRESSIONS[name]), name
        assert rule["for"] == BRIEF_FOR[name]
    assert rules["HighErrorRate"]["labels"] == {"severity": "critical", "team": "platform"}
    assert rules["HighErrorRate"]["annotations"] == {
        "summary": "High error rate detected",
        "description": "{{ $labels.service }} has error rate {{ $value | humanizePercentage }}",
    }
    assert rules["DatabaseConnectionsHigh"]["annotations"]["description"] == (
        "PostgreSQL has {{ $value }} active connections"
    )
    assert brief_alert_rules() == BRIEF_ALERT_RULES


def test_brief_rules_for_tests_shorten_for_window_and_interval() -> None:
    text = brief_alert_rules(for_="0s", window="10s", interval="1s")
    rules = rules_by_name(text)
    assert {rule["for"] for rule in rules.values()} == {"0s"}
    assert "[5m]" not in text
    assert "[15m]" not in text
    assert "rate(kube_pod_container_status_restarts_total[10s])" in rules["PodRestarting"]["expr"]
    assert yaml.safe_load(text)["groups"][0]["interval"] == "1s"
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        brief_alert_rules(for_="5 minutes")


def promtool(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the promtool binary with fixed arguments
        [require_binary(find_promtool), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "text",
    [BRIEF_ALERT_RULES, brief_alert_rules(for_="0s", window="10s", interval="1s")],
    ids=["brief", "short"],
)
def test_promtool_check_rules_accepts_the_brief_rules(text: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "rules.yml").write_text(text)
    result = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def series(name: str, values: str) -> dict[str, str]:
    return {"series": name, "values": values}


PROMTOOL_TESTS = {
    "rule_files": ["rules.yml"],
    "evaluation_interval": "1m",
    "tests": [
        {
            "interval": "1m",
            "input_series": [
                # payments: 100 requests a minute, 45 of them 500; search: healthy.
                series('http_requests_total{service="payments",status="500"}', "0+45x30"),
                series('http_requests_total{service="payments",status="200"}', "0+55x30"),
                series('http_requests_total{service="search",status="200"}', "0+99x30"),
                series('http_requests_total{service="search",status="500"}', "0+1x30"),
                # payments: every request takes 1.1-1.2 s; the p95 is 1.195 s.
                series('http_request_duration_seconds_bucket{service="payments",le="1.1"}', "0x30"),
                series(
                    'http_request_duration_seconds_bucket{service="payments",le="1.2"}', "0+100x30"
                ),
                series(
                    'http_request_duration_seconds_bucket{service="payments",le="+Inf"}', "0+100x30"
                ),
            ],
            "alert_rule_test": [
                {  # not yet: the brief's for: 5m
                    "eval_time": "4m",
                    "alertname": "HighErrorRate",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "10m",
                    "alertname": "HighErrorRate",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "service": "payments",
                                "severity": "critical",
                                "team": "platform",
                            },
                            "exp_annotations": {
                                "summary": "High error rate detected",
                                "description": "payments has error rate 45%",
                            },
                        }
                    ],
                },
                {  # not yet: the brief's for: 10m
                    "eval_time": "9m",
                    "alertname": "HighLatency",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "20m",
                    "alertname": "HighLatency",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "service": "payments",
                                "severity": "warning",
                                "team": "platform",
                            },
                            "exp_annotations": {
                                "summary": "High latency detected",
                                "description": "payments P95 latency is 1.1949999999999998s",
                            },
                        }
                    ],
                },
            ],
        }
    ],
}


def test_promtool_unit_tests_the_brief_rules_fill_the_service(tmp_path: pathlib.Path) -> None:
    """The brief's rules, as written, fire per service with ``{{ $labels.service }}`` filled."""
    (tmp_path / "rules.yml").write_text(BRIEF_ALERT_RULES)
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(PROMTOOL_TESTS, sort_keys=False))
    result = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the real Prometheus -----------------------------------------------------------


class AlertSink:
    """Stands in for Alertmanager's ``POST /api/v2/alerts``; records what Prometheus sends."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _alerts(self, request: web.Request) -> web.Response:
        self.posted.extend(await request.json())
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v2/alerts", self._alerts)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def firing(self, alertname: str, service: str) -> list[dict[str, Any]]:
        return [
            alert
            for alert in self.posted
            if alert["labels"].get("alertname") == alertname
            and alert["labels"].get("service") == service
        ]


@pytest.fixture
async def exporter() -> AsyncIterator[TrafficExporter]:
    async with TrafficExporter(services=("payments", "search")) as exp:
        yield exp


@pytest.fixture
async def alert_sink() -> AsyncIterator[AlertSink]:
    sink = AlertSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


async def test_error_rate_latency_and_alerts_from_a_real_prometheus(
    exporter: TrafficExporter, alert_sink: AlertSink, tmp_path: pathlib.Path
) -> None:
    require_binary(find_prometheus)
    # The bad deploy: 45% of payments requests fail, and slowly; search is healthy.
    exporter.set_traffic("payments", rps=200, error_ratio=0.45, latency_s=1.2)
    exporter.set_traffic("search", rps=50, error_ratio=0.0, latency_s=0.1)
    prometheus = PrometheusProcess(
        workdir=tmp_path / "prometheus",
        scrape_targets=[exporter.target],
        rules=brief_alert_rules(for_="0s", window="10s", interval="1s"),
        alertmanager_url=alert_sink.url,
    )
    started = time.monotonic()
    async with prometheus:
        ratio = await prometheus.wait_for_value(
            error_rate("payments"), lambda v: abs(v - 0.45) <= 0.05, timeout=READY_DEADLINE
        )
        assert ratio == pytest.approx(0.45, abs=0.05)
        converged = time.monotonic() - started

        # Every request takes 1.2 s: the p95 lies in the (1.1, 1.2] bucket.
        p95 = await prometheus.wait_for_value(latency_p95("payments"), lambda v: v > 0)
        assert 1.1 < p95 <= 1.2
        p95_search = await prometheus.wait_for_value(latency_p95("search"), lambda v: v > 0)
        assert 0.075 < p95_search <= 0.1
        assert await prometheus.wait_for_value(error_rate("search"), lambda v: True) == 0

        firing = 'ALERTS{alertname="HighErrorRate",alertstate="firing",service="payments"}'
        assert await prometheus.wait_for_value(firing, lambda v: v == 1, timeout=READY_DEADLINE)
        fired = time.monotonic() - started
        assert await prometheus.query('ALERTS{alertname="HighErrorRate",service="search"}') == []
        (alert,) = await prometheus.query(firing)
        assert alert["metric"] == {
            "__name__": "ALERTS",
            "alertname": "HighErrorRate",
            "alertstate": "firing",
            "service": "payments",
            "severity": "critical",
            "team": "platform",
        }
        latency = 'ALERTS{alertname="HighLatency",alertstate="firing",service="payments"}'
        assert await prometheus.wait_for_value(latency, lambda v: v == 1, timeout=READY_DEADLINE)

        # Prometheus sent the alert on to "Alertmanager", description filled in.
        async def posted() -> list[dict[str, Any]]:
            return alert_sink.firing("HighErrorRate", "payments")

        await eventually(posted, what="HighErrorRate posted to the Alertmanager API")
        sent = alert_sink.firing("HighErrorRate", "payments")[0]
        assert re.fullmatch(
            r"payments has error rate 4\d(\.\d+)?%", sent["annotations"]["description"]
        )
        assert sent["generatorURL"].startswith(prometheus.url)
    # Measured: ~7 s to the right ratio (first scrape ~5-6 s after start), ALERTS
    # ~0.3-1 s later. The bounds leave room for a slow CI machine.
    assert converged < READY_DEADLINE
    assert fired < READY_DEADLINE


async def test_query_errors_carry_prometheus_message(
    exporter: TrafficExporter, tmp_path: pathlib.Path
) -> None:
    require_binary(find_prometheus)
    prometheus = PrometheusProcess(
        workdir=tmp_path / "prometheus", scrape_targets=[exporter.target]
    )
    with pytest.raises(RuntimeError, match="not running"):
        await prometheus.query("vector(1)")
    async with prometheus:
        with pytest.raises(PrometheusQueryError, match="parse error") as caught:
            await prometheus.query('sum(rate(http_requests_total{service="payments"[5m]))')
        assert caught.value.status == 400
        assert caught.value.error_type == "bad_data"
        assert "unexpected" in caught.value.error  # Prometheus's own words

        assert await prometheus.query("scalar(vector(3))") == [
            {"metric": {}, "value": [pytest.approx(time.time(), abs=60), "3"]}
        ]
        assert await prometheus.wait_for_value("vector(2)", lambda v: v == 2) == 2
        with pytest.raises(TimeoutError, match=r"vector\(1\)"):
            await prometheus.wait_for_value("vector(1)", lambda v: v > 1, timeout=0.3)
        with pytest.raises(ValueError, match="2 samples"):
            await prometheus.wait_for_value(
                'vector(1) or label_replace(vector(2), "x", "y", "", "")', lambda v: True
            )


async def test_bad_rules_fail_start_with_the_log_tail(
    exporter: TrafficExporter, tmp_path: pathlib.Path
) -> None:
    require_binary(find_prometheus)
    prometheus = PrometheusProcess(
        workdir=tmp_path / "prometheus",
        scrape_targets=[exporter.target],
        rules="groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: sum(\n",
    )
    with pytest.raises(RuntimeError, match=r"exited early with code 1(.|\n)*rules\.yml") as caught:
        await prometheus.start()
    assert "could not parse expression" in str(caught.value)
    assert "unclosed left parenthesis" in prometheus.log_tail()
    await prometheus.stop()  # already stopped by start(); a second stop is harmless


def test_config_points_at_the_targets_and_alertmanager(tmp_path: pathlib.Path) -> None:
    prometheus = PrometheusProcess(
        workdir=tmp_path,
        scrape_targets=["127.0.0.1:9999"],
        rules=BRIEF_ALERT_RULES,
        alertmanager_url="http://127.0.0.1:9093/am",
    )
    config = prometheus.config()
    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:9999"]}]
    assert config["rule_files"] == [str(tmp_path / "rules.yml")]
    assert config["alerting"] == {
        "alertmanagers": [
            {
                "scheme": "http",
                "static_configs": [{"targets": ["127.0.0.1:9093"]}],
                "path_prefix": "/am",
            }
        ]
    }
    assert "alerting" not in PrometheusProcess(workdir=tmp_path, scrape_targets=[]).config()


async def test_missing_binary_raises_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_BIN", "/nonexistent")
    with pytest.raises(BinaryMissing, match=re.escape(INSTALL_HINT)):
        find_prometheus()
    prometheus = PrometheusProcess(workdir=tmp_path / "prometheus", scrape_targets=[])
    with pytest.raises(BinaryMissing, match=re.escape(INSTALL_HINT)):
        await prometheus.start()
    with pytest.raises(RuntimeError, match="not been started"):
        _ = prometheus.url

    # Not on PATH and not in /usr/bin either: the same hint.
    monkeypatch.delenv("PROMETHEUS_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("tests.support.prometheus_process._FALLBACK_PATH", "/nonexistent")
    with pytest.raises(BinaryMissing, match=re.escape(INSTALL_HINT)):
        find_prometheus()


def test_find_prometheus_prefers_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("PROMETHEUS_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_prometheus() == str(fake)
    monkeypatch.setenv("PROMETHEUS_BIN", str(fake))
    assert find_prometheus() == str(fake)


async def test_stop_is_prompt_and_idempotent(
    exporter: TrafficExporter, tmp_path: pathlib.Path
) -> None:
    require_binary(find_prometheus)
    prometheus = PrometheusProcess(
        workdir=tmp_path / "prometheus", scrape_targets=[exporter.target]
    )
    await prometheus.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await prometheus.stop()
    assert loop.time() - began < 5
    await prometheus.stop()
