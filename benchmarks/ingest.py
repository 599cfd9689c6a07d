"""Webhook ingest benchmark: bare aiohttp against `incident-bot serve`, in one run, with wrk.

    python benchmarks/ingest.py [--duration 8] [--connections 32] [--databases sqlite,postgres]

For each server, wrk (Debian's `wrk`) posts the captured Alertmanager 0.25 notification
(tests/fixtures/alertmanager) for `--duration` seconds over `--connections` connections
and one thread: the same body each time (as the issue specified; the bot stores a repeat
of a stored, not yet processed body once), or with `--distinct` a body differing per
request (a counter in externalURL), so that every request is parsed and committed.
The bare server parses the JSON and answers 202: the limit of this machine. The bot
runs as `incident-bot serve` on a fresh SQLite file and on a scratch PostgreSQL database,
against a zero-latency fake Slack; a 200 from it still means the body is committed.
Printed: requests/s, p50, p99, the ratio to bare aiohttp, the server process's CPU time
per request (user and system, all its threads; not the database's), how long after wrk
ended every stored delivery was processed, and the bot's RSS then.
No threshold: CI runs it for 2 s to keep it working.

`--storm` adds, per database, 20,000 alerts in 200 groups sent as Alertmanager sends them
(each group's notification growing by a quarter of its alerts, four rounds, 32 at a
time), and reports how long after the last webhook all 200 incidents had their channel
open, and the bot's RSS then.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.storage.db import make_engine  # noqa: E402
from bot.storage.store import IncidentStore  # noqa: E402
from standins.fake_slack import FakeSlack  # noqa: E402

PAYLOAD = ROOT / "tests" / "fixtures" / "alertmanager" / "v4-firing-prometheus-2.42-am-0.25.json"
TOKEN = "bench-webhook-token"  # noqa: S105 - a local benchmark's own token
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local file = io.open("{payload}", "rb")
wrk.body = file:read("*a")
file:close()
"""
# --distinct: every request's body differs (a counter in externalURL), so that none is a
# repeat of a stored one: each is parsed and committed (the bare server parses each too).
DISTINCT_LUA = """
local counter = 0
request = function()
  counter = counter + 1
  local body = string.gsub(wrk.body, '"externalURL":"([^"]*)"',
                           '"externalURL":"%1/' .. counter .. '"', 1)
  return wrk.format(nil, nil, nil, body)
end
"""


STORM_GROUPS = 200
STORM_ALERTS = 100  # per group: 20,000 in all
STORM_ROUNDS = 4


def storm_bodies() -> list[bytes]:
    import json

    bodies = []
    for round_ in range(1, STORM_ROUNDS + 1):
        for group in range(STORM_GROUPS):
            count = STORM_ALERTS * round_ // STORM_ROUNDS
            alerts = [
                {
                    "status": "firing",
                    "startsAt": "2026-11-30T09:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": f"{group:04d}{i:012d}",
                    "labels": {
                        "alertname": "NodeDown",
                        "service": f"svc-{group}",
                        "node": f"node-{i}",
                        "severity": "critical",
                    },
                    "annotations": {"summary": f"node-{i} is down"},
                }
                for i in range(count)
            ]
            bodies.append(
                json.dumps(
                    {
                        "version": "4",
                        "groupKey": f'{{}}:{{service="svc-{group}"}}',
                        "status": "firing",
                        "receiver": "bot",
                        "alerts": alerts,
                        "groupLabels": {"service": f"svc-{group}"},
                        "commonLabels": {"alertname": "NodeDown", "service": f"svc-{group}"},
                        "commonAnnotations": {},
                        "externalURL": "",
                        "truncatedAlerts": 0,
                    }
                ).encode()
            )
    return bodies


async def run_storm(url: str, engine_url: str) -> float:
    """Seconds from the last webhook answered to every incident's channel open."""
    from bot.storage.db import make_engine as engine_for

    gate = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    async def send(session: aiohttp.ClientSession, body: bytes) -> None:
        async with (
            gate,
            session.post(url + "/webhooks/alertmanager", data=body, headers=headers) as response,
        ):
            if response.status != 200:
                raise SystemExit(f"storm webhook answered {response.status}")

    async with aiohttp.ClientSession() as session:
        bodies = storm_bodies()
        for start in range(0, len(bodies), STORM_GROUPS):  # round after round
            await asyncio.gather(*(send(session, b) for b in bodies[start : start + STORM_GROUPS]))
    ended = time.monotonic()
    engine = engine_for(engine_url)
    try:
        store = IncidentStore(engine)
        while True:
            incidents = await store.incidents()
            if len(incidents) >= STORM_GROUPS and all(i.channel_id for i in incidents):
                break
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
    return time.monotonic() - ended


@dataclass
class Result:
    server: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # the server process's CPU time per request
    drained_s: float | None = None
    rss_mib: float | None = None
    storm_s: float | None = None
    storm_rss_mib: float | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_bare(port: int) -> None:
    """The limit: read the body, parse the JSON, answer 202."""
    import json

    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/webhooks/alertmanager", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def run_wrk(url: str, args: argparse.Namespace, script: Path) -> tuple[float, float, float]:
    wrk = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(script),
        url + "/webhooks/alertmanager",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await wrk.communicate())[0].decode()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rate is None or p50 is None or p99 is None:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    if non2xx is not None:
        print(f"  note: {non2xx.group(1)} answers were not 2xx", file=sys.stderr)
    return float(rate.group(1)), _ms(p50.group(1)), _ms(p99.group(1))


async def wait_http(url: str, path: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            try:
                async with session.get(url + path) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {deadline} s")


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured_wrk(
    pid: int, url: str, args: argparse.Namespace, script: Path
) -> tuple[float, float, float, float]:
    """wrk's requests/s, p50 and p99, and the server's CPU microseconds per request."""
    before = cpu_s(pid)
    rate, p50, p99 = await run_wrk(url, args, script)
    return rate, p50, p99, (cpu_s(pid) - before) / max(rate * args.duration, 1) * 1e6


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def bench_bare(args: argparse.Namespace, script: Path) -> Result:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-bare", str(port)
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}", "/")
        rate, p50, p99, cpu = await measured_wrk(
            server.pid, f"http://127.0.0.1:{port}", args, script
        )
    finally:
        server.terminate()
        await server.wait()
    return Result("bare aiohttp (parse JSON, 202)", rate, p50, p99, cpu)


async def bench_bot(
    name: str,
    database_url: str,
    slack: FakeSlack,
    args: argparse.Namespace,
    script: Path,
    workdir: Path,
) -> Result:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KUBE"))}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET="bench-signing-secret",  # noqa: S106
        SLACK_API_URL=slack.url,
        ALERTMANAGER_WEBHOOK_TOKEN=TOKEN,
        DATABASE_URL=database_url,
        PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}",
        KUBECONFIG=str(workdir / "none"),
        LOG_LEVEL="info" if args.log_dir else "warning",
        LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    log = (Path(args.log_dir or workdir) / f"{name}.log").open("wb")
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=log,
        stderr=log,
        cwd=workdir,
    )
    engine = make_engine(database_url)
    try:
        await wait_http(f"http://127.0.0.1:{port}", "/readyz")
        rate, p50, p99, cpu = await measured_wrk(bot.pid, f"http://127.0.0.1:{port}", args, script)
        ended = time.monotonic()
        store = IncidentStore(engine)
        while True:  # every stored delivery processed: the bot keeps up
            if not await store.pending_delivery_ids(limit=1):
                break
            await asyncio.sleep(0.1)
        drained = time.monotonic() - ended
        rss = rss_mib(bot.pid)
        storm = await run_storm(f"http://127.0.0.1:{port}", database_url) if args.storm else None
        storm_rss = rss_mib(bot.pid) if args.storm else None
    finally:
        bot.terminate()
        await bot.wait()
        log.close()
        await engine.dispose()
    return Result(
        f"incident-bot serve, {name}", rate, p50, p99, cpu, drained, rss, storm, storm_rss
    )


async def scratch_postgres() -> tuple[str, str] | None:
    """A fresh database on the local PostgreSQL, or None when there is none."""
    name = f"incident_bot_bench_{os.getpid()}"
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError) as e:
        print(f"PostgreSQL skipped: {POSTGRES_ADMIN} does not answer ({e})", file=sys.stderr)
        return None
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop_postgres(name: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=3)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def report(results: list[Result], args: argparse.Namespace) -> None:
    base = results[0].requests_per_s
    bodies = "a distinct body per request" if args.distinct else "the same body each time"
    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s, body {PAYLOAD.name} "
        f"({PAYLOAD.stat().st_size} bytes), {bodies}, {os.cpu_count()} CPUs\n"
    )
    print(
        f"{'server':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} "
        f"{'CPU us/req':>10} {'processed':>10} {'RSS MiB':>8}"
    )
    for r in results:
        drained = f"+{r.drained_s:.1f} s" if r.drained_s is not None else ""
        rss = f"{r.rss_mib:.0f}" if r.rss_mib is not None else ""
        print(
            f"{r.server:38} {r.requests_per_s:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
            f"{r.requests_per_s / base:6.2f} {r.cpu_us:10.0f} {drained:>10} {rss:>8}"
        )
    for r in results:
        if r.storm_s is not None:
            print(
                f"storm, {r.server}: {STORM_GROUPS * STORM_ALERTS:,} alerts in {STORM_GROUPS} "
                f"groups; every channel open {r.storm_s:.1f} s after the last webhook; "
                f"RSS {r.storm_rss_mib:.0f} MiB"
            )


async def main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="incident-bot-bench-") as tmp:
        workdir = Path(tmp)
        script = workdir / "post.lua"
        script.write_text(
            LUA.format(token=TOKEN, payload=PAYLOAD) + (DISTINCT_LUA if args.distinct else "")
        )
        results = [await bench_bare(args, script)]
        slack = FakeSlack()
        slack.add_channel("incidents")
        await slack.start()
        try:
            if "sqlite" in args.databases:
                url = f"sqlite:///{workdir / 'bench.db'}"
                results.append(await bench_bot("SQLite", url, slack, args, script, workdir))
            if "postgres" in args.databases and (scratch := await scratch_postgres()):
                name, url = scratch
                try:
                    results.append(await bench_bot("PostgreSQL", url, slack, args, script, workdir))
                finally:
                    await drop_postgres(name)
        finally:
            await slack.stop()
    report(results, args)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--storm", action="store_true", help="also the 20,000-alert storm")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="a different body per request (none is a repeat of a stored one)",
    )
    parser.add_argument(
        "--log-dir", default=None, help="keep the bot's log (at info level) in this folder"
    )
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    if options.serve_bare is not None:
        serve_bare(options.serve_bare)
    else:
        asyncio.run(main(options))
