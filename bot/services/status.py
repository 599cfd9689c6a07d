"""Collects what `/status` shows, from Prometheus and Kubernetes at once, each with a deadline.

One slow or dead backend costs only its own part of the answer: the report
says which part is missing and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from bot.clock import Clock
from bot.core.lifecycle import format_duration
from bot.core.silences import format_matchers
from bot.core.status_report import (
    ActiveSilence,
    FiringAlert,
    MetricReading,
    StatusReport,
    Target,
    service_queries,
)
from bot.services.chart import Mark, render_chart
from bot.services.status_kubernetes import DeploymentMissing, KubernetesFindings, KubernetesStatus
from bot.settings import Catalog
from integrations.alertmanager import AlertmanagerAPI, AlertmanagerError, parse_time
from integrations.kubernetes import KubernetesSource
from integrations.prometheus import (
    PrometheusError,
    PrometheusQueryError,
    PrometheusSource,
    PrometheusUnavailable,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
LOOKBACK = timedelta(minutes=30)

__all__ = ["DeploymentMissing", "StatusResult", "StatusService"]


@dataclass(frozen=True)
class StatusResult:
    report: StatusReport
    chart: bytes | None


class StatusService:
    def __init__(
        self,
        catalog: Catalog,
        prometheus: PrometheusSource,
        kubernetes: KubernetesSource | None,
        alertmanager: AlertmanagerAPI | None,
        clock: Clock,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.catalog = catalog
        self.prometheus = prometheus
        self.kubernetes = kubernetes
        self.alertmanager = alertmanager
        self.clock = clock
        self.timeout = timeout

    async def collect(self, target: Target, *, since: datetime | None = None) -> StatusResult:
        now = self.clock()
        report = StatusReport(target.service, target.namespace, target.deployment, now)
        metrics, alerts, series, kube, silences = await asyncio.gather(
            self._bounded("Prometheus", self._metrics(target, now)),
            self._bounded("Alerts", self._alerts(target)),
            self._bounded("Chart", self._series(target, now, since)),
            self._kubernetes(target, now),
            self._bounded("Silences", self._silences(target)),
            return_exceptions=True,
        )
        missing: dict[str, str] = {}
        for part, outcome in (("Prometheus", metrics), ("Alerts", alerts), ("Silences", silences)):
            if isinstance(outcome, str):
                missing[part] = outcome
        if isinstance(silences, tuple):
            report = replace(report, silences=silences)
        if isinstance(metrics, tuple):
            readings, errors, down = metrics
            report = replace(report, metrics=readings, metric_errors=errors)
            if down is not None:
                missing["Prometheus"] = down
        if isinstance(alerts, tuple):
            report = replace(report, alerts=alerts)
        if isinstance(kube, DeploymentMissing):
            if not target.in_catalog:
                raise kube
            missing["Deployment"] = str(kube)
        elif isinstance(kube, KubernetesFindings):
            report = replace(report, **kube.fields)
            missing |= kube.missing
        elif isinstance(kube, BaseException):
            log.error("Kubernetes part of /status failed", error=repr(kube))
            missing["Kubernetes"] = f"unexpected error: {type(kube).__name__}: {kube}"
        report = replace(report, missing=missing)
        chart = None
        if isinstance(series, tuple):
            try:
                chart = await asyncio.to_thread(
                    render_chart,
                    f"{target.service}: last {format_duration(series[2])}",
                    series[0],
                    series[1],
                    self._marks(report, since),
                )
            except Exception:  # the numbers above still go out without their picture
                log.exception("chart rendering failed")
        return StatusResult(report, chart)

    async def _bounded(self, part: str, work: Awaitable[T]) -> T | str:
        try:
            return await asyncio.wait_for(work, self.timeout)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except (PrometheusError, AlertmanagerError) as e:
            return str(e)
        except Exception as e:  # an answer nobody foresaw: say so, and show the rest
            log.exception("status part failed unexpectedly", part=part)
            return f"unexpected error: {type(e).__name__}: {e}"

    async def _metrics(
        self, target: Target, now: datetime
    ) -> tuple[tuple[MetricReading, ...], dict[str, str], str | None]:
        """Each query fails alone; when none got through because Prometheus is down, the
        third value says so once instead of three times."""
        queries = service_queries(target.service, self._overrides(target))

        async def reading(key: str, query: str) -> MetricReading:
            current, before = await asyncio.gather(
                self.prometheus.scalar(query, now), self.prometheus.scalar(query, now - LOOKBACK)
            )
            return MetricReading(key, current, before)

        outcomes = await asyncio.gather(
            *(reading(key, query) for key, query in queries.items()), return_exceptions=True
        )
        readings, errors, down = [], {}, []
        for (key, query), outcome in zip(queries.items(), outcomes, strict=True):
            if isinstance(outcome, MetricReading):
                readings.append(outcome)
            elif isinstance(outcome, PrometheusQueryError):
                errors[key] = f"query `{outcome.query}` failed: {outcome.message}"
            elif isinstance(outcome, PrometheusUnavailable):
                down.append(str(outcome))
                errors[key] = f"query `{query}` failed: {outcome}"
            else:
                log.error("metric query failed unexpectedly", metric=key, error=repr(outcome))
                errors[key] = f"query `{query}` failed: {type(outcome).__name__}: {outcome}"
        if down and len(down) == len(queries):
            return (), {}, down[0]
        return tuple(readings), errors, None

    def _overrides(self, target: Target) -> dict[str, str | None]:
        service = self.catalog.services.get(target.service)
        return service.queries.model_dump() if service else {}

    async def _alerts(self, target: Target) -> tuple[FiringAlert, ...]:
        label = self.catalog.incident.service_label
        if self.alertmanager is not None:
            found = await self.alertmanager.firing({label: target.service})
            return tuple(
                FiringAlert(
                    str(a.get("labels", {}).get("alertname", "?")),
                    a.get("labels", {}).get("severity"),
                    None,
                )
                for a in found
            )
        query = f'ALERTS{{alertstate="firing", {label}="{target.service}"}}'
        samples = await self.prometheus.instant(query)
        return tuple(
            FiringAlert(s.labels.get("alertname", "?"), s.labels.get("severity"), None)
            for s in samples
        )

    async def _silences(self, target: Target) -> tuple[ActiveSilence, ...]:
        """Active silences matching the service (made by the bot or anyone else)."""
        if self.alertmanager is None:
            return ()  # nothing to say: without Alertmanager there are no silences to show
        label = self.catalog.incident.service_label
        found = await self.alertmanager.silences({label: target.service})
        return tuple(
            ActiveSilence(
                format_matchers(s.get("matchers") or []),
                str(s.get("createdBy") or "?"),
                parse_time(s.get("endsAt")),
                str(s.get("comment") or ""),
            )
            for s in found
            if (s.get("status") or {}).get("state") == "active"
        )

    async def _series(
        self, target: Target, now: datetime, since: datetime | None
    ) -> tuple[Any, Any, timedelta]:
        start = min(since, now - timedelta(minutes=10)) if since else now - timedelta(hours=1)
        step = max(timedelta(seconds=15), (now - start) / 240)
        queries = service_queries(target.service, self._overrides(target))
        errors, latency = await asyncio.gather(
            self.prometheus.range(queries["error_rate"], start, now, step),
            self.prometheus.range(queries["latency_p95"], start, now, step),
        )
        return (
            errors[0].points if errors else [],
            latency[0].points if latency else [],
            now - start,
        )

    async def _kubernetes(self, target: Target, now: datetime) -> KubernetesFindings:
        if self.kubernetes is None:
            return KubernetesFindings(
                missing={"Kubernetes": "not configured (no kubeconfig, not in a cluster)"}
            )
        reader = KubernetesStatus(self.kubernetes, timeout=self.timeout)
        return await reader.collect(target.namespace, target.deployment, now)

    def _marks(self, report: StatusReport, since: datetime | None) -> list[Mark]:
        marks = [Mark(since, "incident start", "tab:red")] if since else []
        for rev in report.revisions:
            if rev.created_at is not None:
                marks.append(Mark(rev.created_at, f"rev {rev.number}"))
        return marks
