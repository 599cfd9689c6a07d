"""The transport of the fake Kubernetes API server: an aiohttp app on a socket it
owns, so that `set_down()` can make the port refuse connections and come back on
the same port; bearer-token auth, injected faults, and the record of requests.
What the requests mean is `KubeApi`'s business (`fake_kubernetes_api.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from standins.fake_kubernetes_api import KubeApi
from standins.fake_kubernetes_objects import JSON, KubeError
from standins.lifecycle import Startable

_log = logging.getLogger(__name__)
_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected by the fake",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within the allotted timeout",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One answered request; `status` is the HTTP status the fake answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or None
    status: int
    content_type: str | None = None


@dataclass
class _Fault:
    method: str | None
    path_contains: str | None
    remaining: int
    error: KubeError
    retry_after: int | None


class KubeServer(Startable):
    """Serves one `KubeApi` over HTTP on 127.0.0.1."""

    def __init__(self, api: KubeApi, *, token: str | None) -> None:
        self.token = token  # when set, requests must carry `Authorization: Bearer <token>`
        self.requests: list[RecordedRequest] = []
        self._api = api
        self._faults: list[_Fault] = []
        self._drops: list[tuple[str, str, tuple[str, ...]]] = []  # method, path part, fields
        self._delays: list[list[Any]] = []  # [method, path part, seconds, remaining]
        self._stopping: asyncio.Event | None = None  # ends delayed answers at stop()
        self._down = False
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._reopening: asyncio.Task[None] | None = None
        self._host, self._port = "127.0.0.1", 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("the fake Kubernetes API server is already running")
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            sock = _listen(host, port)
        except OSError:
            await runner.cleanup()
            raise
        self._host, self._port = host, sock.getsockname()[1]
        self._runner = runner
        self._api.address = f"{host}:{self._port}"
        await self._serve(sock)

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._reopening is not None:
            with contextlib.suppress(Exception):
                await self._reopening
            self._reopening = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the `host` of a client configuration."""
        if self._runner is None:
            raise RuntimeError("start() has not been awaited")
        return f"http://{self._host}:{self._port}"

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig whose current context points at the fake; returns `path`."""
        user: JSON = {"token": self.token} if self.token is not None else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": user}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                }
            ],
            "current-context": "fake",
            "preferences": {},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    async def _serve(self, sock: socket.socket) -> None:
        assert self._runner is not None
        assert self._runner.server is not None
        server = await asyncio.get_running_loop().create_server(self._runner.server, sock=sock)
        if self._down:  # went down again while this was starting
            server.close()
        else:
            self._server = server

    # -- fault injection -----------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        path_contains: str | None,
        *,
        status: int = 500,
        count: int = 1,
        reason: str = "InternalError",
        message: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` requests matching `method` (None: any) and a path
        containing `path_contains` (None: any) with a Kubernetes `Status` error."""
        if count < 1:
            raise ValueError("count must be at least 1")
        text = message or _MESSAGES.get(status, f"injected by the fake: {reason}")
        details = {"retryAfterSeconds": retry_after} if retry_after is not None else {}
        error = KubeError(status, reason, text, details)
        self._faults.append(
            _Fault(method and method.upper(), path_contains, count, error, retry_after)
        )

    def drop_fields(self, path_contains: str, *fields: str, method: str = "GET") -> None:
        """From now on, successful answers to `method` requests whose path contains
        `path_contains` lack `fields`, as an older or newer API server's can (schema drift).
        A field is a dotted path; `[]` steps into every item of a list, e.g.
        `items[].status.containerStatuses[].imageID` (the client's models require it)."""
        self._drops.append((method.upper(), path_contains, fields))

    def delay_next(
        self, method: str, path_contains: str, seconds: float, *, count: int = 1
    ) -> None:
        """Answer the next `count` matching requests only after `seconds` (a slow apiserver
        or kubelet: a pod log from a node under load)."""
        self._delays.append([method.upper(), path_contains, seconds, count])

    def set_down(self, down: bool) -> None:
        """Down: the port stops accepting (connection refused) and kept-alive connections
        are closed. Up again: the same port listens again at once."""
        if down == self._down:
            return
        self._down = down
        if self._runner is None:
            return
        if down:
            if self._server is not None:
                self._server.close()
                self._server = None
            assert self._runner.server is not None
            for connection in self._runner.server.connections:
                connection.force_close()
        elif self._reopening is None or self._reopening.done():
            sock = _listen(self._host, self._port)  # listening now; accepted on the next loop turn
            self._reopening = asyncio.get_running_loop().create_task(self._serve(sock))
        # else: a reopening still pending serves, as it finds the fake up again

    def requests_to(self, method: str, path_contains: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and path_contains in r.path]

    # -- HTTP ----------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (None, method) and (fault.path_contains or "") in path:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _answer(
        self, request: web.Request, raw: bytes
    ) -> tuple[Any, int, JSON | str, dict[str, str]]:
        body: Any = None
        try:
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise KubeError(
                        400, "BadRequest", "the body of the request could not be decoded as JSON"
                    ) from None
            if self._down:
                raise KubeError(503, "ServiceUnavailable", _MESSAGES[503])
            fault = self._take_fault(request.method, request.path)
            if fault is not None:
                headers = (
                    {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                )
                return body, fault.error.code, fault.error.status(), headers
            if (
                self.token is not None
                and request.headers.get("Authorization") != f"Bearer {self.token}"
            ):
                raise KubeError(401, "Unauthorized", "Unauthorized")
            status, answer = self._api.answer(
                request.method, request.path, request.query, body, request.content_type
            )
            for method, path_contains, fields in self._drops:
                if method == request.method and path_contains in request.path:
                    for field in fields:
                        _drop(answer, field.replace("[]", ".[]").split("."))
            return body, status, answer, {}
        except KubeError as e:
            return body, e.code, e.status(), {}
        except Exception as e:  # a bug of the fake: still answer as the apiserver would
            _log.exception(
                "fake Kubernetes API server failed on %s %s", request.method, request.path
            )
            error = KubeError(500, "InternalError", f"Internal error occurred: {e!r}")
            return body, error.code, error.status(), {}

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        for delay in self._delays:
            if delay[0] == request.method and delay[1] in request.path:
                delay[3] -= 1
                if delay[3] == 0:
                    self._delays.remove(delay)
                self._stopping = self._stopping or asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay[2])
                break
        body, status, answer, headers = self._answer(request, raw)
        query = dict(request.query)
        content_type = request.content_type if raw else None
        self.requests.append(
            RecordedRequest(request.method, request.path, query, body, status, content_type)
        )
        if self._down:
            headers["Connection"] = "close"
        if isinstance(answer, str):
            return web.Response(
                status=status, text=answer, content_type="text/plain", headers=headers
            )
        return web.json_response(answer, status=status, headers=headers)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _drop(node: Any, steps: list[str]) -> None:
    """Remove the field at `steps` ("[]" means every item of a list) wherever it exists."""
    if not steps:
        return
    step, rest = steps[0], steps[1:]
    if step == "[]":
        for item in node if isinstance(node, list) else []:
            _drop(item, rest)
    elif isinstance(node, dict) and step in node:
        if rest:
            _drop(node[step], rest)
        else:
            del node[step]
