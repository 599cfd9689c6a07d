"""Run the real Prometheus Alertmanager binary on 127.0.0.1, for tests and the demo.

`AlertmanagerProcess` writes an ``alertmanager.yml`` whose only route sends every
group to one webhook receiver (``send_resolved: true``, ``Authorization: Bearer
<token>``), starts the binary on a free loopback port with clustering switched
off, waits for ``GET /-/ready`` and then lets the caller post alerts through the
v2 API exactly as Prometheus would.

Alertmanager 0.25 behaviour, measured with this class on loopback
(Debian's 0.25.0; group_wait=1s, group_interval=1s unless said otherwise):

* **Start.** ``/-/ready`` answers 200 about 0.1-0.2 s after exec.
* **Firing.** A new group is notified after ``group_wait``: the webhook arrives
  1.0 s after ``POST /api/v2/alerts``. An alert posted without ``endsAt`` shows
  ``endsAt: "0001-01-01T00:00:00Z"`` (Go's zero time) in the payload.
* **Resolved.** Posting the same labels with ``endsAt`` in the past resolves the
  alert at once (``GET /api/v2/alerts`` no longer lists it), but the
  notification waits for the group's next ``group_interval`` tick, so it
  arrives between 0 and ``group_interval`` after the post: 0.5-0.7 s with
  group_interval=1s; 0.4, 1.9, 3.3 and 4.8 s with group_interval=5s, depending
  on where in the tick the post fell. It carries ``status: "resolved"`` and the
  posted ``endsAt``. ``repeat_interval`` plays no part (the group changed).
* **resolve_timeout** does not matter when ``endsAt`` is posted, as `resolve`
  does. It applies only to alerts posted *without* ``endsAt`` (`fire`):
  Alertmanager stamps ``endsAt = receipt + resolve_timeout`` (default 5m;
  visible in ``GET /api/v2/alerts``) and, if nobody re-posts the alert by then,
  resolves it by itself: with resolve_timeout=3s the resolved notification came
  3.0 s after the post, its ``endsAt`` exactly receipt + 3 s. Tests that hold
  an alert firing longer than resolve_timeout must re-post it.
* **Re-firing.** After the resolved notification, posting the same labels again
  with a new ``startsAt`` gives a new ``firing`` notification 0.5-1.0 s later
  (0.3 s, 5 s and 35 s after the resolution alike), with the same
  ``fingerprint`` and ``groupKey`` and the new ``startsAt``. Even re-posting the
  *old* ``startsAt`` fires again. A consumer must therefore tell incidents apart
  by (fingerprint, startsAt), not by fingerprint alone.
* **Resolved before the first flush.** An alert resolved within its group's
  ``group_wait`` (fire, then resolve at once) is never notified on its own:
  no firing and no resolved webhook came in 4 s. If another alert of the same
  group is firing at that flush, the resolved one rides along in the same
  payload, so a ``status: "firing"`` payload can hold ``status: "resolved"``
  alerts: read each alert's own status.

Alertmanager keeps its notification log and silences under ``workdir/data``;
reusing a workdir across runs carries that state over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import IO, Any, Self

import aiohttp
import yaml

INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus-alertmanager"
_FALLBACK_PATH = "/usr/bin/prometheus-alertmanager"
_BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
_STOP_GRACE_SECONDS = 5.0
_POLL_STEP_SECONDS = 0.05
_PORT_ATTEMPTS = 3
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
_READY_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=1)


class BinaryMissing(RuntimeError):
    """The Alertmanager binary is not installed; the message says how to install it."""


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_alertmanager() -> str:
    """Path of the Alertmanager binary.

    ``$ALERTMANAGER_BIN`` wins when set (and must then be an executable file);
    otherwise ``prometheus-alertmanager`` (Debian's name) or ``alertmanager`` on
    ``PATH``, then ``/usr/bin/prometheus-alertmanager``.
    """
    explicit = os.environ.get("ALERTMANAGER_BIN", "")
    if explicit:
        if _is_executable(explicit):
            return explicit
        raise BinaryMissing(
            f"ALERTMANAGER_BIN={explicit!r} is not an executable file. "
            f"Install Alertmanager with: {INSTALL_HINT} (or fix/unset ALERTMANAGER_BIN)"
        )
    for name in _BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if _is_executable(_FALLBACK_PATH):
        return _FALLBACK_PATH
    raise BinaryMissing(
        "Alertmanager binary not found (looked for $ALERTMANAGER_BIN, "
        f"{' or '.join(_BINARY_NAMES)} on PATH, {_FALLBACK_PATH}). "
        f"Install it with: {INSTALL_HINT}"
    )


def rfc3339(value: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC with a ``Z`` (Alertmanager's API format)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists, so that ``json`` can encode them."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class AlertmanagerProcess:
    """One real Alertmanager on 127.0.0.1 that notifies one webhook.

    Use ``await start()`` / ``await stop()`` or ``async with``. Clustering is off
    (``--cluster.listen-address=``), so no gossip port is opened.
    """

    def __init__(
        self,
        *,
        webhook_url: str,
        bearer_token: str,
        workdir: pathlib.Path,
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        group_by: Sequence[str] = ("alertname", "service"),
        resolve_timeout: str = "5m",
    ) -> None:
        self.webhook_url = webhook_url
        self.bearer_token = bearer_token
        self.workdir = pathlib.Path(workdir)
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.group_by = tuple(group_by)
        self.resolve_timeout = resolve_timeout
        self.config_path = self.workdir / "alertmanager.yml"
        self.data_path = self.workdir / "data"
        self.log_path = self.workdir / "alertmanager.log"
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log_file: IO[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -----------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The Alertmanager configuration that `start` writes."""
        return {
            "global": {"resolve_timeout": self.resolve_timeout},
            "route": {
                "receiver": "bot",
                "group_by": list(self.group_by),
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {
                    "name": "bot",
                    "webhook_configs": [
                        {
                            "url": self.webhook_url,
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials": self.bearer_token,
                                }
                            },
                        }
                    ],
                }
            ],
        }

    async def start(self, timeout: float = 20.0) -> None:
        """Write the config, start the binary and wait until ``/-/ready`` answers 200.

        Raises `BinaryMissing` when there is no binary, and `RuntimeError` with
        the log tail when the process exits early or is not ready in ``timeout``
        seconds.
        """
        if self._proc is not None:
            raise RuntimeError("Alertmanager is already running")
        binary = find_alertmanager()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        session = self._session = aiohttp.ClientSession(timeout=_REQUEST_TIMEOUT)
        try:
            attempt = 1
            while True:
                proc = await self._spawn(binary)
                if await self._wait_ready(proc, session, deadline):
                    return
                # The free port may have been taken between probing and binding.
                if attempt < _PORT_ATTEMPTS and "address already in use" in self.log_tail():
                    attempt += 1
                    await self._reap()
                    continue
                raise RuntimeError(
                    f"Alertmanager exited early with code {proc.returncode}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, binary: str) -> asyncio.subprocess.Process:
        self._port = _free_port()
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = self.log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.data_path}",
            f"--web.listen-address=127.0.0.1:{self._port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",
            "--log.level=info",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        return self._proc

    async def _wait_ready(
        self, proc: asyncio.subprocess.Process, session: aiohttp.ClientSession, deadline: float
    ) -> bool:
        """Poll ``/-/ready``: True once it answers 200, False if the process exited."""
        loop = asyncio.get_running_loop()
        ready_url = f"{self.url}/-/ready"
        while True:
            if proc.returncode is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(ready_url, timeout=_READY_PROBE_TIMEOUT) as resp:
                    if resp.status == 200:
                        return True
            if loop.time() >= deadline:
                raise RuntimeError(
                    f"Alertmanager at {self.url} not ready before the deadline; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            # Poll step, bounded by the deadline; returns early if the process exits.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), min(_POLL_STEP_SECONDS, deadline - loop.time()))

    async def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        else:
            await proc.wait()

    async def stop(self) -> None:
        """Terminate the process, wait for it, kill it after 5 s. Safe to call twice."""
        try:
            await self._reap()
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running Alertmanager."""
        if self._port is None:
            raise RuntimeError("Alertmanager has not been started")
        return f"http://127.0.0.1:{self._port}"

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of ``workdir/alertmanager.log`` (empty if none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- API -----------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._proc is None:
            raise RuntimeError("Alertmanager is not running; call start() first")
        return self._session

    async def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``; raises `RuntimeError` with the body on non-2xx.

        Each alert: ``{"labels": {...}, "annotations": {...}, "startsAt": rfc3339,
        "endsAt": rfc3339 (optional), "generatorURL": url}``.
        """
        body = [_plain(alert) for alert in alerts]
        async with self._client().post(f"{self.url}/api/v2/alerts", json=body) as resp:
            if not 200 <= resp.status < 300:
                text = await resp.text()
                raise RuntimeError(f"POST /api/v2/alerts -> HTTP {resp.status}: {text.strip()}")

    async def fire(
        self,
        labels: Mapping[str, str],
        annotations: Mapping[str, str] | None = None,
        *,
        starts_at: datetime | None = None,
        generator_url: str = "http://127.0.0.1:9090/graph",
    ) -> None:
        """Post a firing alert (``startsAt`` defaults to now, no ``endsAt``).

        Without ``endsAt`` Alertmanager resolves the alert by itself after
        ``resolve_timeout`` unless it is posted again, as Prometheus would.
        """
        await self.post_alerts(
            [
                {
                    "labels": dict(labels),
                    "annotations": dict(annotations or {}),
                    "startsAt": rfc3339(starts_at or datetime.now(UTC)),
                    "generatorURL": generator_url,
                }
            ]
        )

    async def resolve(
        self,
        labels: Mapping[str, str],
        annotations: Mapping[str, str] | None = None,
        *,
        starts_at: datetime,
        ends_at: datetime | None = None,
        generator_url: str = "http://127.0.0.1:9090/graph",
    ) -> None:
        """Post the alert again with ``endsAt`` in the past, so it is resolved.

        ``ends_at`` defaults to now - 1 s, but never earlier than ``starts_at``
        (Alertmanager rejects ``endsAt`` before ``startsAt`` with HTTP 400). The
        resolved notification follows within ``group_interval``.
        """
        if ends_at is None:
            ends_at = max(datetime.now(UTC) - timedelta(seconds=1), starts_at)
        await self.post_alerts(
            [
                {
                    "labels": dict(labels),
                    "annotations": dict(annotations or {}),
                    "startsAt": rfc3339(starts_at),
                    "endsAt": rfc3339(ends_at),
                    "generatorURL": generator_url,
                }
            ]
        )

    async def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the active (not resolved) alerts."""
        async with self._client().get(f"{self.url}/api/v2/alerts") as resp:
            if not 200 <= resp.status < 300:
                text = await resp.text()
                raise RuntimeError(f"GET /api/v2/alerts -> HTTP {resp.status}: {text.strip()}")
            data = await resp.json()
        if not isinstance(data, list):
            raise RuntimeError(f"GET /api/v2/alerts returned {type(data).__name__}, not a list")
        return [dict(item) for item in data]
