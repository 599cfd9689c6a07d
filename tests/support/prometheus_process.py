"""Run the real Prometheus binary on 127.0.0.1, for tests and the demo.

`PrometheusProcess` writes a ``prometheus.yml`` that scrapes the given targets
(job ``traffic``), optionally loads alert rules (``rules.yml``) and sends alerts
to one Alertmanager, starts the binary on a free loopback port with
``--rules.alert.resend-delay=1s`` (DESIGN.md, "Real parts in tests") and waits
for ``GET /-/ready``. `query` and `wait_for_value` read the HTTP API.

`BRIEF_ALERT_RULES` are the alert rules of the project brief (``BRIEF.md``,
"Alert Rules"), and `brief_alert_rules` renders them with shorter ``for``,
range windows and evaluation interval for tests.

Prometheus 2.42 behaviour, measured with this class on loopback (Debian's
2.42.0; scrape_interval=evaluation_interval=1s, a `TrafficExporter` target at
200 requests/s):

* **Start.** ``/-/ready`` answers 200 0.11-0.13 s after exec; `stop` takes 0.01 s.
* **First scrape.** Targets reach the scrape manager through its 5 s reload
  throttle (the hidden ``--scrape.discovery-reload-interval`` cannot go below
  5 s), so ``up`` is 1 only 5-6 s after start, whatever the scrape interval.
* **rate().** ``rate()`` needs two samples in its window. Traffic set before
  Prometheus starts: the brief's error-ratio query over ``[1m]`` reads
  0.45 +- 0.01 6.6-7.2 s after start. Traffic raised from zero while
  Prometheus runs: right 0.9 s later. Traffic *changed* (1% -> 45% errors):
  ``rate(...[W])`` mixes old and new for about one window ``W`` (over
  ``[10s]``, within 0.05 of 0.45 after 8.9 s), so tests should start from zero
  traffic or use a short window.
* **ALERTS.** With ``brief_alert_rules(for_="0s", window="10s",
  interval="1s")``, ``ALERTS{alertname="HighErrorRate",alertstate="firing"}``
  appears 6.6-7.9 s after start (0-0.7 s after the ratio is right), and
  Prometheus posts the alert to ``alertmanager_url`` at the same evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pathlib
import re
import shutil
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.support.binary_process import BinaryMissing, BinaryProcess, find_binary, is_executable

__all__ = [
    "BRIEF_ALERT_RULES",
    "INSTALL_HINT",
    "BinaryMissing",
    "PrometheusProcess",
    "PrometheusQueryError",
    "brief_alert_rules",
    "find_prometheus",
    "find_promtool",
]

INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus"
_FALLBACK_PATH = "/usr/bin/prometheus"
_BINARY_NAME = "prometheus"
_VALUE_POLL_SECONDS = 0.2
SCRAPE_JOB = "traffic"


# -- the brief's alert rules ---------------------------------------------------

# Each rule as in BRIEF.md: name, expression, ``for``, labels, annotations. The
# expressions are the brief's, verbatim, with ONE deliberate deviation:
#
# * HighErrorRate: ``by (service)`` is added to both ``sum(...)`` aggregations.
#   The brief's ``sum(rate(...))`` drops every label, so its description
#   "{{ $labels.service }} has error rate ..." would render " has error rate"
#   and the alert would carry no ``service`` label for the bot to route on; it
#   would also add all services together. With ``by (service)`` there is one
#   alert per service, labelled with it.
#
# HighLatency is verbatim: it has no aggregation (``histogram_quantile`` over
# ``rate(...)`` keeps every label but ``le``), so ``service`` is already on the
# alert and its description is filled without any change.
_RULES: tuple[tuple[str, str, str, dict[str, str], dict[str, str]], ...] = (
    (
        "HighErrorRate",
        """\
(
  sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)
  /
  sum(rate(http_requests_total[5m])) by (service)
) > 0.05
""",
        "5m",
        {"severity": "critical", "team": "platform"},
        {
            "summary": "High error rate detected",
            "description": "{{ $labels.service }} has error rate {{ $value | humanizePercentage }}",
        },
    ),
    (
        "HighLatency",
        """\
histogram_quantile(0.95,
  rate(http_request_duration_seconds_bucket[5m])
) > 1.0
""",
        "10m",
        {"severity": "warning", "team": "platform"},
        {
            "summary": "High latency detected",
            "description": "{{ $labels.service }} P95 latency is {{ $value }}s",
        },
    ),
    (
        "PodRestarting",
        """\
rate(kube_pod_container_status_restarts_total[15m]) > 0
""",
        "5m",
        {"severity": "warning"},
        {
            "summary": "Pod is restarting",
            "description": (
                "Pod {{ $labels.pod }} in namespace {{ $labels.namespace }} is restarting"
            ),
        },
    ),
    (
        "HighCPU",
        """\
(
  sum(rate(container_cpu_usage_seconds_total[5m])) by (pod)
  /
  sum(container_spec_cpu_quota/container_spec_cpu_period) by (pod)
) > 0.8
""",
        "10m",
        {"severity": "warning"},
        {
            "summary": "High CPU usage",
            "description": "Pod {{ $labels.pod }} CPU usage is {{ $value | humanizePercentage }}",
        },
    ),
    (
        "DatabaseConnectionsHigh",
        """\
pg_stat_activity_count > 80
""",
        "5m",
        {"severity": "warning"},
        {
            "summary": "Database connections high",
            "description": "PostgreSQL has {{ $value }} active connections",
        },
    ),
)

_BRIEF_GROUP = "application"
_BRIEF_INTERVAL = "30s"
_RANGE = re.compile(r"\[(5m|15m)\]")
_DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")


def _check_duration(name: str, value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{name}={value!r} is not a Prometheus duration such as 30s or 5m")
    return value


def _quoted(text: str) -> str:
    """``text`` (one line) as a YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def brief_alert_rules(
    for_: str | None = None, *, window: str | None = None, interval: str | None = None
) -> str:
    """The brief's alert rules as a Prometheus rules file (YAML).

    With no arguments this is the brief's file (`BRIEF_ALERT_RULES`): group
    ``application``, ``interval: 30s``, each rule's own ``for`` (5m or 10m) and
    range windows (5m, 15m for PodRestarting). For tests:

    * ``for_`` - the ``for`` of every rule (``"0s"``: fire at the first
      evaluation that holds);
    * ``window`` - every range selector (``[5m]``, ``[15m]``) becomes ``[window]``;
    * ``interval`` - the group's evaluation interval.
    """
    if for_ is not None:
        _check_duration("for_", for_)
    if window is not None:
        _check_duration("window", window)
    group_interval = _check_duration("interval", interval or _BRIEF_INTERVAL)
    lines = [
        "# The alert rules of the project brief (BRIEF.md); generated by",
        "# tests.support.prometheus_process.brief_alert_rules.",
        "groups:",
        f"  - name: {_BRIEF_GROUP}",
        f"    interval: {group_interval}",
        "    rules:",
    ]
    for name, expr, brief_for, labels, texts in _RULES:
        if window is not None:
            expr = _RANGE.sub(f"[{window}]", expr)
        lines.append(f"      - alert: {name}")
        lines.append("        expr: |")
        lines.extend(f"          {line}" for line in expr.splitlines())
        lines.append(f"        for: {for_ if for_ is not None else brief_for}")
        lines.append("        labels:")
        lines.extend(f"          {key}: {value}" for key, value in labels.items())
        lines.append("        annotations:")
        lines.extend(f"          {key}: {_quoted(value)}" for key, value in texts.items())
    return "\n".join(lines) + "\n"


#: The brief's alert rules file (see `brief_alert_rules`).
BRIEF_ALERT_RULES: str = brief_alert_rules()


# -- the binary ------------------------------------------------------------------


class PrometheusQueryError(RuntimeError):
    """Prometheus refused a query; the message is Prometheus's own ``error``."""

    def __init__(self, promql: str, status: int, error_type: str, error: str) -> None:
        super().__init__(f"{error_type}: {error} (HTTP {status}; query: {promql})")
        self.promql = promql
        self.status = status
        self.error_type = error_type
        self.error = error


def find_prometheus() -> str:
    """Path of the Prometheus binary.

    ``$PROMETHEUS_BIN`` wins when set (and must then be an executable file);
    otherwise ``prometheus`` on ``PATH``, then ``/usr/bin/prometheus``.
    """
    return find_binary(
        product="Prometheus",
        env_var="PROMETHEUS_BIN",
        names=(_BINARY_NAME,),
        fallback=_FALLBACK_PATH,
        install_hint=INSTALL_HINT,
    )


def find_promtool() -> str:
    """Path of ``promtool`` (shipped with Prometheus): ``$PROMTOOL_BIN``, ``PATH``,
    next to `find_prometheus`'s binary, ``/usr/bin/promtool``."""
    explicit = os.environ.get("PROMTOOL_BIN", "")
    if explicit:
        if is_executable(explicit):
            return explicit
        raise BinaryMissing(
            f"PROMTOOL_BIN={explicit!r} is not an executable file. "
            f"Install Prometheus (with promtool) with: {INSTALL_HINT}"
        )
    candidates = [shutil.which("promtool") or ""]
    with contextlib.suppress(BinaryMissing):
        candidates.append(str(pathlib.Path(find_prometheus()).with_name("promtool")))
    candidates.append("/usr/bin/promtool")
    for candidate in candidates:
        if candidate and is_executable(candidate):
            return candidate
    raise BinaryMissing(f"promtool not found. Install it with: {INSTALL_HINT}")


def _sample_value(sample: dict[str, Any]) -> float:
    """The float of one instant-vector sample ``{"metric": ..., "value": [ts, "v"]}``."""
    return float(sample["value"][1])


class PrometheusProcess(BinaryProcess):
    """One real Prometheus on 127.0.0.1 scraping ``scrape_targets``.

    Use ``await start()`` / ``await stop()`` or ``async with``. ``rules`` is the
    text of a rules file (e.g. `brief_alert_rules`); ``alertmanager_url``
    (``http://127.0.0.1:PORT``) is where firing alerts are sent.
    """

    product = "Prometheus"
    _storage_flag = "--storage.tsdb.path"
    _extra_flags = ("--rules.alert.resend-delay=1s", "--web.enable-lifecycle")

    def __init__(
        self,
        *,
        workdir: pathlib.Path,
        scrape_targets: Sequence[str],
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        rules: str | None = None,
        alertmanager_url: str | None = None,
    ) -> None:
        super().__init__(workdir=workdir, config_name="prometheus.yml", log_name="prometheus.log")
        self.scrape_targets = tuple(scrape_targets)
        self.scrape_interval = _check_duration("scrape_interval", scrape_interval)
        self.evaluation_interval = _check_duration("evaluation_interval", evaluation_interval)
        self.rules = rules
        self.alertmanager_url = alertmanager_url
        self.rules_path = self.workdir / "rules.yml"

    # -- lifecycle -----------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The Prometheus configuration that `start` writes."""
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "scrape_configs": [
                {
                    "job_name": SCRAPE_JOB,
                    "static_configs": [{"targets": list(self.scrape_targets)}],
                }
            ],
        }
        if self.rules is not None:
            config["rule_files"] = [str(self.rules_path)]
        if self.alertmanager_url is not None:
            parts = urlsplit(self.alertmanager_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"alertmanager_url {self.alertmanager_url!r} is not http(s)://")
            manager: dict[str, Any] = {
                "scheme": parts.scheme,
                "static_configs": [{"targets": [parts.netloc]}],
            }
            if parts.path.strip("/"):
                manager["path_prefix"] = parts.path
            config["alerting"] = {"alertmanagers": [manager]}
        return config

    async def start(self, timeout: float = 30.0) -> None:
        """Write the config (and rules), start the binary, wait for ``/-/ready``.

        Raises `BinaryMissing` when there is no binary, and `RuntimeError` with
        the log tail when the process exits early (bad config or rules) or is
        not ready in ``timeout`` seconds.
        """
        await self._start(timeout)

    def _find_binary(self) -> str:
        return find_prometheus()

    def _write_files(self) -> None:
        if self.rules is not None:
            self.rules_path.write_text(self.rules)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    # -- API -----------------------------------------------------------------

    async def query(self, promql: str) -> list[dict[str, Any]]:
        """``/api/v1/query`` at the current time: the result samples.

        An instant vector gives its samples as returned
        (``{"metric": {...}, "value": [ts, "1.5"]}``); a scalar or string result
        is given as one sample with empty ``metric``. Raises
        `PrometheusQueryError` with Prometheus's ``errorType`` and ``error`` when
        it refuses the query (e.g. a parse error, HTTP 400).
        """
        async with self._client().post(f"{self.url}/api/v1/query", data={"query": promql}) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                text = await resp.text()
                raise PrometheusQueryError(promql, resp.status, "bad_response", text.strip())
            if resp.status != 200 or body.get("status") != "success":
                raise PrometheusQueryError(
                    promql,
                    resp.status,
                    str(body.get("errorType", "unknown")),
                    str(body.get("error", body)),
                )
        data = body["data"]
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        if data["resultType"] == "matrix":
            return [dict(series) for series in result]
        return [dict(sample) for sample in result]

    async def wait_for_value(
        self,
        promql: str,
        predicate: Callable[[float], bool],
        *,
        timeout: float = 30,
    ) -> float:
        """Poll `query` until it gives one value that satisfies ``predicate``; return it.

        The query must yield at most one sample; no sample (yet) or NaN (e.g.
        0/0) counts as "not yet". Raises `TimeoutError` with the last result at
        the deadline, `ValueError` if the query yields several samples.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: list[dict[str, Any]] | None = None
        while True:
            last = await self.query(promql)
            if len(last) > 1:
                raise ValueError(f"{promql} gives {len(last)} samples, expected one: {last}")
            if last:
                value = _sample_value(last[0])
                if not math.isnan(value) and predicate(value):
                    return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{promql} did not reach the expected value in {timeout}s; last result: {last}"
                )
            await asyncio.sleep(min(_VALUE_POLL_SECONDS, remaining))
