"""A small stand-in for the Prometheus HTTP API, for the demo: no binary needed.

It does not evaluate PromQL. It recognises the bot's default queries (DESIGN.md)
by their shape and answers them from a traffic schedule the caller sets: error
ratio, p95 latency and request rate per service, changing at given times. The
tests use the real Prometheus; this exists so `incident-bot demo` runs anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

_SERVICE = re.compile(r'service="([^"]+)"')


@dataclass(frozen=True)
class Traffic:
    since: datetime
    error_ratio: float
    latency_s: float
    rps: float


class FakePrometheus:
    def __init__(self) -> None:
        self._schedule: dict[str, list[Traffic]] = {}
        self.firing: dict[str, list[dict[str, str]]] = {}  # service -> ALERTS labels
        self._runner: web.AppRunner | None = None
        self.port = 0

    def set_traffic(
        self,
        service: str,
        at: datetime,
        *,
        error_ratio: float,
        latency_s: float,
        rps: float = 120.0,
    ) -> None:
        changes = self._schedule.setdefault(service, [])
        changes.append(Traffic(at, error_ratio, latency_s, rps))
        changes.sort(key=lambda t: t.since)

    def traffic(self, service: str, at: datetime) -> Traffic | None:
        current = None
        for change in self._schedule.get(service, []):
            if change.since <= at:
                current = change
        return current

    def value(self, query: str, at: datetime) -> tuple[dict[str, str], float] | None:
        match = _SERVICE.search(query)
        traffic = self.traffic(match.group(1), at) if match else None
        if traffic is None:
            return None
        if "histogram_quantile" in query:
            return {}, traffic.latency_s
        if 'status=~"5.."' in query and "/" in query:
            return {}, traffic.error_ratio
        return {}, traffic.rps

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/v1/query", self._query)
        app.router.add_route("*", "/api/v1/query_range", self._range)
        app.router.add_get("/-/ready", self._ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ready(self, _request: web.Request) -> web.Response:
        return web.Response(text="Prometheus is Ready.")

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    async def _query(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        query = params.get("query", "")
        at = _time(params.get("time"))
        if query.startswith("ALERTS"):
            match = _SERVICE.search(query)
            alerts = self.firing.get(match.group(1), []) if match else []
            result = [{"metric": a, "value": [at.timestamp(), "1"]} for a in alerts]
        else:
            found = self.value(query, at)
            result = (
                []
                if found is None
                else [{"metric": found[0], "value": [at.timestamp(), str(found[1])]}]
            )
        return _ok({"resultType": "vector", "result": result})

    async def _range(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        query = params.get("query", "")
        start, end = _time(params.get("start")), _time(params.get("end"))
        step = max(1.0, float(str(params.get("step", "60")).rstrip("s")))
        values: list[list[Any]] = []
        t = start.timestamp()
        while t <= end.timestamp():
            found = self.value(query, datetime.fromtimestamp(t, UTC))
            if found is not None:
                values.append([t, str(found[1])])
            t += step
        result = [{"metric": {}, "values": values}] if values else []
        return _ok({"resultType": "matrix", "result": result})


def _time(raw: str | None) -> datetime:
    if not raw:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except ValueError:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _ok(data: dict[str, Any]) -> web.Response:
    return web.json_response({"status": "success", "data": data})
