"""Run a real server binary (Alertmanager, Prometheus) on 127.0.0.1, for tests and the demo.

`BinaryProcess` is what `AlertmanagerProcess` and `PrometheusProcess` share:
it picks a free loopback port, starts the binary with its output in a log file
under ``workdir``, polls ``GET /-/ready`` until it answers 200 (or the process
exits, or the deadline passes), starts again on a new port when the first one
was taken between probing and binding, and on `stop` terminates the process
(killing it after 5 s). `find_binary` locates a binary as both ``find_*``
functions do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import socket
from abc import abstractmethod
from collections.abc import Sequence
from typing import IO, ClassVar

import aiohttp

from standins.lifecycle import Startable

__all__ = ["BinaryMissing", "BinaryProcess", "find_binary", "free_port", "is_executable"]

_STOP_GRACE_SECONDS = 5.0
_POLL_STEP_SECONDS = 0.05
_PORT_ATTEMPTS = 3
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
_READY_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=1)


class BinaryMissing(RuntimeError):
    """A binary (Alertmanager, Prometheus, promtool) is not installed; the message
    says how to install it."""


def is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_binary(
    *, product: str, env_var: str, names: Sequence[str], fallback: str, install_hint: str
) -> str:
    """Path of ``product``'s binary.

    ``$env_var`` wins when set (and must then be an executable file); otherwise
    the first of ``names`` on ``PATH``, then ``fallback``. Raises `BinaryMissing`
    with ``install_hint`` when there is none.
    """
    explicit = os.environ.get(env_var, "")
    if explicit:
        if is_executable(explicit):
            return explicit
        raise BinaryMissing(
            f"{env_var}={explicit!r} is not an executable file. "
            f"Install {product} with: {install_hint} (or fix/unset {env_var})"
        )
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if is_executable(fallback):
        return fallback
    raise BinaryMissing(
        f"{product} binary not found (looked for ${env_var}, "
        f"{' or '.join(names)} on PATH, {fallback}). "
        f"Install it with: {install_hint}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BinaryProcess(Startable):
    """One real server binary on 127.0.0.1, a free port and ``workdir``.

    Subclasses set the class attributes, find the binary in `_find_binary` and
    write `config_path` (and whatever else it reads) in `_write_files`; their
    ``start`` awaits `_start`. The binary stores its data in ``workdir/data``,
    and its output goes to `log_path`.
    """

    #: The product, as messages name it ("Alertmanager is already running").
    product: ClassVar[str]
    #: The command-line flag for the data directory (``--storage.path``).
    _storage_flag: ClassVar[str]
    #: More flags, between ``--web.external-url`` and ``--log.level=info``.
    _extra_flags: ClassVar[tuple[str, ...]] = ()
    _log_level: ClassVar[str] = "info"  # "debug" logs each flush of an alert group

    def __init__(self, *, workdir: pathlib.Path, config_name: str, log_name: str) -> None:
        self.workdir = pathlib.Path(workdir)
        self.config_path = self.workdir / config_name
        self.data_path = self.workdir / "data"
        self.log_path = self.workdir / log_name
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log_file: IO[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None

    @abstractmethod
    def _find_binary(self) -> str:
        """Path of the binary; raises `BinaryMissing`."""

    @abstractmethod
    def _write_files(self) -> None:
        """Write the configuration into ``workdir`` (which exists by then)."""

    async def _start(self, timeout: float) -> None:
        """Find the binary, write the files, start it and wait until ``/-/ready`` is 200.

        Raises `BinaryMissing` when there is no binary, and `RuntimeError` with
        the log tail when the process exits early or is not ready in ``timeout``
        seconds.
        """
        if self._proc is not None:
            raise RuntimeError(f"{self.product} is already running")
        binary = self._find_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_path.mkdir(parents=True, exist_ok=True)
        self._write_files()
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
                    f"{self.product} exited early with code {proc.returncode}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, binary: str) -> asyncio.subprocess.Process:
        self._port = free_port()
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = self.log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={self.config_path}",
            f"{self._storage_flag}={self.data_path}",
            f"--web.listen-address=127.0.0.1:{self._port}",
            f"--web.external-url={self.url}",
            *self._extra_flags,
            f"--log.level={self._log_level}",
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
                    f"{self.product} at {self.url} not ready before the deadline; "
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

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running binary."""
        if self._port is None:
            raise RuntimeError(f"{self.product} has not been started")
        return f"http://127.0.0.1:{self._port}"

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of `log_path` (empty if none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._proc is None:
            raise RuntimeError(f"{self.product} is not running; call start() first")
        return self._session
