"""A stand-in service that exposes simulated HTTP traffic for a real Prometheus to scrape.

`TrafficExporter` serves ``GET /metrics`` (Prometheus text format 0.0.4, from a
`prometheus_client.CollectorRegistry` of its own) on ``127.0.0.1`` and a free
port. It exposes, per service:

* ``http_requests_total{service, status}`` - a counter, ``status`` ``"200"`` or ``"500"``;
* ``http_request_duration_seconds{service}`` - a histogram (`LATENCY_BUCKETS`).

Nothing runs in the background. `set_traffic` records a rate; at every scrape the
requests that would have arrived since the previous scrape at that rate are
added (elapsed time read from a monotonic clock), so ``rate()`` over any window
reflects the setting, and ``error_ratio`` of them get status 500. Counts are
whole requests: fractions carry over to the next scrape, so the long-run totals
are exact. Every simulated request takes exactly ``latency_s``; with the fine
buckets below, ``histogram_quantile(0.95, ...)`` gives a value inside the bucket
holding ``latency_s``, at most 0.05 s under it for latencies of 0.1-1.5 s.

Every service passed to the constructor is exposed from the start with zero
counts (rate 0), so its series exist before any traffic is set and a later
increase is counted by ``rate()`` in full.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from standins.lifecycle import Startable

#: Text format 0.0.4, which every Prometheus 2.x reads (prometheus_client 0.22+
#: advertises 1.0.0 as its CONTENT_TYPE_LATEST).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUS_OK = "200"
STATUS_ERROR = "500"

#: Upper bounds (seconds) of the latency histogram: 25 ms steps up to 0.2 s, 0.1 s
#: steps up to 1.5 s, then coarser, so a p95 anywhere in 0.1-2 s is read closely.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.125,
    0.15,
    0.175,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
    1.1,
    1.2,
    1.3,
    1.4,
    1.5,
    1.75,
    2.0,
    2.25,
    2.5,
    3.0,
    4.0,
    5.0,
    7.5,
    10.0,
)


# Float sums such as 0.45 * 7 added 1000 times fall a hair short of the integer;
# a millionth of a request is not worth losing a whole one for.
_EPSILON = 1e-6


@dataclass
class _Traffic:
    """One service: its current setting and the totals accrued so far."""

    rps: float = 0.0
    error_ratio: float = 0.0
    latency_s: float = 0.0
    since: float = 0.0  # clock reading the totals are accrued up to
    owed_requests: float = 0.0  # fraction of a request carried over
    owed_errors: float = 0.0  # fraction of an error carried over
    ok: int = 0
    errors: int = 0
    duration_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))

    def accrue(self, now: float) -> None:
        """Add the requests of ``since .. now`` at the current setting."""
        elapsed = max(0.0, now - self.since)
        self.since = now
        self.owed_requests += self.rps * elapsed
        count = math.floor(self.owed_requests + _EPSILON)
        if count <= 0:
            return
        self.owed_requests -= count
        self.owed_errors += count * self.error_ratio
        errors = min(count, math.floor(self.owed_errors + _EPSILON))
        self.owed_errors -= errors
        self.errors += errors
        self.ok += count - errors
        self.duration_sum += count * self.latency_s
        for index, bound in enumerate(LATENCY_BUCKETS):
            if self.latency_s <= bound:
                self.buckets[index] += count

    @property
    def total(self) -> int:
        return self.ok + self.errors


class _TrafficCollector(Collector):
    def __init__(self, exporter: TrafficExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterable[Metric]:
        traffic = self._exporter._accrue_all()
        requests = CounterMetricFamily(
            "http_requests_total",
            "HTTP requests served (simulated), by service and status code.",
            labels=("service", "status"),
        )
        durations = HistogramMetricFamily(
            "http_request_duration_seconds",
            "HTTP request latency in seconds (simulated), by service.",
            labels=("service",),
        )
        for service, state in sorted(traffic.items()):
            requests.add_metric([service, STATUS_OK], state.ok)
            requests.add_metric([service, STATUS_ERROR], state.errors)
            buckets = [
                (_bound(bound), count)
                for bound, count in zip(LATENCY_BUCKETS, state.buckets, strict=True)
            ]
            buckets.append(("+Inf", state.total))
            durations.add_metric([service], buckets, state.duration_sum)
        yield requests
        yield durations


def _bound(value: float) -> str:
    return repr(float(value))


class TrafficExporter(Startable):
    """An aiohttp server on 127.0.0.1 whose ``/metrics`` shows simulated HTTP traffic.

    Use ``await start()`` / ``await stop()`` or ``async with``; point Prometheus at
    `target`. ``clock`` (seconds, monotonic) is for unit tests.
    """

    def __init__(
        self,
        *,
        services: Sequence[str] = ("payments",),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        now = clock()
        self._traffic: dict[str, _Traffic] = {name: _Traffic(since=now) for name in services}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_TrafficCollector(self))
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- traffic -------------------------------------------------------------

    def set_traffic(
        self, service: str, *, rps: float, error_ratio: float, latency_s: float
    ) -> None:
        """From now on, ``service`` gets ``rps`` requests per second.

        ``error_ratio`` of them (0..1) answer 500, the rest 200; each takes
        ``latency_s`` seconds. Traffic at the previous setting is accrued up to
        now first. A service not seen before is added.
        """
        if not (math.isfinite(rps) and rps >= 0):
            raise ValueError(f"rps must be a finite number >= 0, not {rps!r}")
        if not (math.isfinite(error_ratio) and 0 <= error_ratio <= 1):
            raise ValueError(f"error_ratio must be between 0 and 1, not {error_ratio!r}")
        if not (math.isfinite(latency_s) and latency_s >= 0):
            raise ValueError(f"latency_s must be a finite number >= 0, not {latency_s!r}")
        now = self._clock()
        state = self._traffic.get(service)
        if state is None:
            state = self._traffic[service] = _Traffic(since=now)
        state.accrue(now)
        state.rps = rps
        state.error_ratio = error_ratio
        state.latency_s = latency_s

    def _accrue_all(self) -> dict[str, _Traffic]:
        now = self._clock()
        for state in self._traffic.values():
            state.accrue(now)
        return self._traffic

    def render(self) -> bytes:
        """The ``/metrics`` body as of now."""
        return generate_latest(self.registry)

    # -- server --------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        """Listen on 127.0.0.1 and a free port."""
        if self._runner is not None:
            raise RuntimeError("the exporter is already running")
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``, as a Prometheus ``static_configs`` target."""
        if self._port is None:
            raise RuntimeError("the exporter has not been started")
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the metrics are at `metrics_url`)."""
        return f"http://{self.target}"

    @property
    def metrics_url(self) -> str:
        """``http://127.0.0.1:PORT/metrics``."""
        return f"{self.url}/metrics"
