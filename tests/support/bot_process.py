"""`incident-bot serve` as a real process, for tests that stop it (SIGTERM) or kill it (-9)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import yaml

from tests.support.bots import BOT_TOKEN, CATALOG, SIGNING_SECRET, WEBHOOK_TOKEN
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    def __init__(self, database_url: str, slack_url: str, workdir: Path) -> None:
        catalog = workdir / "catalog.yaml"
        catalog.write_text(yaml.safe_dump(CATALOG), encoding="utf-8")
        self.workdir = workdir
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "KUBE", "ALERTMANAGER_", "DATABASE_URL", "PORT"))
        }
        self.env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack_url,
            ALERTMANAGER_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
            DATABASE_URL=database_url,
            INCIDENT_BOT_CONFIG=str(catalog),
            PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}",
            KUBECONFIG=str(workdir / "none"),
            LOG_FORMAT="json",
            PYTHONPATH=str(ROOT),
        )
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.port = free_port()
        self.runs += 1
        log = (self.workdir / f"bot-{self.runs}.log").open("wb")
        serve = ["-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *serve,
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
        )
        log.close()
        await eventually(self._ready, timeout=60, what="incident-bot serve to answer /readyz")

    async def _ready(self) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"incident-bot exited: {self.log()[-2000:]}")
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(self.url + "/readyz") as response,
            ):
                return response.status == 200
        except aiohttp.ClientError:
            return False

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    async def exited(self, timeout: float = 30) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def log(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("bot-*.log"))
        )
