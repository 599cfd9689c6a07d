"""Prometheus adapter: prometheus-api-client, its blocking calls kept off the event loop.

Its default retry policy (3 retries with backoff) spends about 6 s on a dead
server, more than Slack gives a command, so one quick retry is set here and the
caller adds its own deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

_STATUS = re.compile(r"HTTP Status Code (\d+) \((b'.*'|b\".*\")\)", re.S)


class PrometheusError(Exception):
    pass


class PrometheusUnavailable(PrometheusError):
    """Prometheus did not answer (down, unreachable, timed out): try again later."""


class PrometheusQueryError(PrometheusError):
    """Prometheus refused the query; `message` is what Prometheus said."""

    def __init__(self, query: str, message: str) -> None:
        super().__init__(f"{message} (query: {query})")
        self.query = query
        self.message = message


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[datetime, float]]


def _float(raw: Any) -> float:
    value = float(raw)
    return value if value == value else float("nan")  # keep NaN for "0/0": no traffic


class PrometheusSource:
    def __init__(self, url: str, *, timeout: float = 5.0, verify: bool | str = True) -> None:
        """`verify`: True checks TLS against the system CAs, a path against that CA bundle;
        False (PROMETHEUS_INSECURE_SKIP_VERIFY) checks nothing."""
        retry = Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504))
        self.url = url
        self._timeout = timeout
        session = requests.Session()
        session.verify = verify
        self._client = PrometheusConnect(url=url, session=session, retry=retry, timeout=timeout)

    async def instant(self, query: str, at: datetime | None = None) -> list[Sample]:
        params = {"time": f"{at.timestamp():.3f}"} if at is not None else None
        data = await self._call(query, lambda: self._client.custom_query(query, params=params))
        return [Sample(dict(r.get("metric", {})), _float(r["value"][1])) for r in data]

    async def range(
        self, query: str, start: datetime, end: datetime, step: timedelta
    ) -> list[Series]:
        step_text = f"{max(1, int(step.total_seconds()))}s"
        # The client rounds to whole seconds, which could put the last point in the future.
        start, end = start.replace(microsecond=0), end.replace(microsecond=0)
        data = await self._call(
            query, lambda: self._client.custom_query_range(query, start, end, step_text)
        )
        return [
            Series(
                dict(r.get("metric", {})),
                [(datetime.fromtimestamp(float(t), UTC), _float(v)) for t, v in r["values"]],
            )
            for r in data
        ]

    async def scalar(self, query: str, at: datetime | None = None) -> float | None:
        samples = await self.instant(query, at)
        values = [s.value for s in samples if s.value == s.value]
        return sum(values) if values else None

    async def _call(self, query: str, call: Any) -> list[dict[str, Any]]:
        try:
            result = await asyncio.to_thread(call)
        except PrometheusApiClientException as e:
            raise _query_error(query, str(e)) from e
        except (requests.RequestException, OSError) as e:
            raise PrometheusUnavailable(f"Prometheus at {self.url} did not answer: {e}") from e
        return list(result or [])


def _query_error(query: str, text: str) -> PrometheusError:
    match = _STATUS.search(text)
    if match is None:
        return PrometheusQueryError(query, text)
    status = int(match.group(1))
    body = match.group(2)[2:-1]
    try:
        message = str(json.loads(body.encode().decode("unicode_escape")).get("error", body))
    except ValueError:
        message = body
    if status >= 500 and status != 503:
        return PrometheusUnavailable(f"Prometheus answered HTTP {status}: {message}")
    return PrometheusQueryError(query, message)
