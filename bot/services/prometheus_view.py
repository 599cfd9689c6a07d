"""PrometheusView: error rate and p95 latency around an incident's window, and the peak error
rate inside it, as the post-mortem draft, its chart and the incident page's chart show them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from bot.core.status_report import service_queries
from bot.settings import Catalog
from bot.storage.models import Incident
from integrations.prometheus import PrometheusSource, Series

log = structlog.get_logger(__name__)

_CHART_POINTS = 500


@dataclass(frozen=True)
class PrometheusView:
    peak_error_rate: float | None
    peak_at: datetime | None
    error_rate: list[tuple[datetime, float]]
    latency_p95: list[tuple[datetime, float]]


async def prometheus_view(
    prometheus: PrometheusSource | None,
    catalog: Catalog,
    incident: Incident,
    now: datetime,
    *,
    timeout: float,
) -> PrometheusView | None:
    """Error rate and p95 latency around the incident window, and the peak error rate
    inside it; None when there is no Prometheus, no service, or no answer in time."""
    if prometheus is None or not incident.service:
        return None
    start = incident.started_at
    end = min(incident.resolved_at or now, now)
    if end <= start:
        end = start + timedelta(seconds=1)
    pad = max(timedelta(minutes=5), (end - start) / 10)
    first, last = start - pad, min(end + pad, now)
    if last <= first:
        return None
    step = max(timedelta(seconds=1), (last - first) / _CHART_POINTS)
    service = catalog.services.get(incident.service)
    overrides = service.queries.model_dump() if service else {}
    queries = service_queries(incident.service, overrides)
    try:
        errors, latency = await asyncio.wait_for(
            asyncio.gather(
                prometheus.range(queries["error_rate"], first, last, step),
                prometheus.range(queries["latency_p95"], first, last, step),
            ),
            timeout,
        )
    except Exception as e:  # a down or slow Prometheus costs the figures, never the draft
        log.warning("prometheus figures unavailable", incident=incident.ref, error=str(e))
        return None
    # The client sends whole seconds: a point may fall up to one step past `end`.
    return _view(errors, latency, start, end + step)


def _view(
    errors: Sequence[Series], latency: Sequence[Series], start: datetime, end: datetime
) -> PrometheusView:
    peak: tuple[float, datetime] | None = None
    chart_errors: list[tuple[datetime, float]] = errors[0].points if errors else []
    for series in errors:
        for at, value in series.points:
            if value == value and start <= at <= end and (peak is None or value > peak[0]):
                peak = (value, at)
                chart_errors = series.points
    return PrometheusView(
        peak_error_rate=peak[0] if peak else None,
        peak_at=peak[1] if peak else None,
        error_rate=chart_errors,
        latency_p95=latency[0].points if latency else [],
    )
