"""`incident-bot demo`: the project brief's outage, end to end, on embedded stand-ins.

A local Slack Web API, a local Kubernetes API with payment-service and its bad
rollout, and a local Prometheus API whose error rate jumps with the rollout and
falls after the rollback. The real bot runs against them over real HTTP: the
same routes, Slack calls and Kubernetes patch as in production. The demo plays
Alertmanager and the on-call engineer, and prints what happened, in UTC.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from pydantic import SecretStr

from bot.clock import system_clock
from bot.core.alerts import format_timestamp
from bot.core.escaping import mrkdwn_to_plain
from bot.runtime import BotRuntime, Tuning
from bot.settings import Catalog, Settings
from bot.storage.models import Incident, Rollback
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_prometheus import FakePrometheus
from standins.fake_slack import FakeSlack
from standins.slack_requests import SlackRequests

T = TypeVar("T")
NS, DEPLOYMENT, SERVICE = "production", "payment-service", "payments"
ONCALL, COMMANDER = "U0DANA", "U0SAM"
PEOPLE = {ONCALL: "dana", COMMANDER: "sam", "U0ALEX": "alex"}
DATABASE_FILE = "incident-bot-demo.db"
Say = Callable[[str], None]

CATALOG = {
    "incident": {"channel_prefix": "inc", "digest_channel": "incidents"},
    "services": {
        SERVICE: {
            "namespace": NS,
            "deployment": DEPLOYMENT,
            "responders": ["S0PAYONCALL"],
            "runbook": "https://runbooks.example.com/payments",
        }
    },
    "rollback": {"allowed_groups": ["S0PAYONCALL"], "namespaces": [NS]},
}


async def serve_until_interrupted(bot: BotRuntime, incident: Incident, say: Say) -> None:
    """`demo --web`: print the incident page's link and keep everything running."""
    assert incident.id is not None
    url = bot.links.incident_url(incident.id)
    say(
        f"\nThe incident page of {incident.ref} (a read-only link, valid 7 days):\n  {url}\n"
        "The bot and its stand-ins keep running; press Ctrl-C to stop."
    )
    await asyncio.Event().wait()


class DemoFailed(RuntimeError):
    pass


async def until(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 20) -> T:
    """Poll with a deadline: the stand-ins answer fast, so this is quick unless broken."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise DemoFailed(f"gave up waiting for {what}")


def alert_payload(status: str, starts: datetime, ends: datetime | None) -> dict[str, Any]:
    labels = {
        "alertname": "HighErrorRate",
        "service": SERVICE,
        "severity": "critical",
        "team": "platform",
    }
    annotations = {
        "summary": "High error rate detected",
        "description": "payments has error rate 45%",
    }
    return {
        "receiver": "incident-bot",
        "status": status,
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate", service="payments"}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "HighErrorRate", "service": SERVICE},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": format_timestamp(starts),
                "endsAt": format_timestamp(ends) if ends else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=HighErrorRate",
                "fingerprint": "5b1f0a4c9d2e7f10",
            }
        ],
    }


# Called after the story, while the bot and its stand-ins still run (`demo --web`, tests).
AfterStory = Callable[[BotRuntime, Incident], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    def __init__(
        self, output: Path, say: Say, *, web: bool = False, after: AfterStory | None = None
    ) -> None:
        self.output, self.say = output, say
        self.web, self.after = web, after
        self.slack = FakeSlack()
        self.kube = FakeKubernetes()
        self.prometheus = FakePrometheus()
        self.webhook_token = secrets.token_hex(16)
        self.signing_secret = secrets.token_hex(16)

    @property
    def database(self) -> Path:
        """Kept in the output folder, so `incident-bot timeline INC-1` works on it afterwards."""
        return (self.output / DATABASE_FILE).resolve()

    def log(self, at: datetime, text: str) -> None:
        self.say(f"{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}  {text}")

    async def run(self) -> Path:
        self.output.mkdir(parents=True, exist_ok=True)
        await self.slack.start()
        await self.kube.start()
        await self.prometheus.start()
        with tempfile.TemporaryDirectory() as workdir:
            bot = await self._start_bot(Path(workdir))
            try:
                path = await self._story(bot)
                if self.after is not None:
                    incident = await bot.store.incident(1)
                    assert incident is not None
                    await self.after(bot, incident)
                return path
            finally:
                await bot.stop()
                await self.prometheus.stop()
                await self.kube.stop()
                await self.slack.stop()

    async def _start_bot(self, workdir: Path) -> BotRuntime:
        for stale in self.output.glob(f"{DATABASE_FILE}*"):  # the story starts from INC-1
            stale.unlink()
        for user, name in PEOPLE.items():
            self.slack.add_user(user, name)
        self.slack.usergroups["S0PAYONCALL"] = [ONCALL, "U0ALEX"]
        self.slack.add_channel("incidents")
        settings = Settings(
            slack_bot_token=SecretStr(self.slack.bot_token),
            slack_signing_secret=SecretStr(self.signing_secret),
            slack_api_url=self.slack.url,
            alertmanager_webhook_token=SecretStr(self.webhook_token),
            prometheus_url=self.prometheus.url,
            database_url=f"sqlite:///{self.database}",
            kubeconfig=self.kube.write_kubeconfig(workdir / "kubeconfig"),
        )
        port = 0
        if self.web:
            # The incident page: links signed with a fresh secret, on the port the bot gets.
            port = free_port()
            settings.public_url = f"http://127.0.0.1:{port}"
            settings.web_secret = SecretStr(secrets.token_hex(32))
        bot = BotRuntime(
            settings,
            catalog=Catalog.model_validate(CATALOG),
            tuning=Tuning(poll_interval=0.1, rollout_poll=0.2, backend_timeout=5),
        )
        await bot.start(host="127.0.0.1", port=port)
        return bot

    async def _story(self, bot: BotRuntime) -> Path:
        now = system_clock()
        bad_at = now - timedelta(minutes=2)
        self.kube.add_deployment(
            NS,
            DEPLOYMENT,
            image="registry.example.com/payments:v2.3.0",
            env={"DB_POOL_TIMEOUT": "30s"},
            created_at=now - timedelta(days=3),
        )
        self.prometheus.set_traffic(
            SERVICE, now - timedelta(days=3), error_ratio=0.001, latency_s=0.18
        )
        self.kube.roll_out(
            NS,
            DEPLOYMENT,
            at=bad_at,
            template_patch={
                "spec": {
                    "containers": [
                        {
                            "name": DEPLOYMENT,
                            "image": "registry.example.com/payments:v2.3.1",
                            "env": [{"name": "DB_POOL_TIMEOUT", "value": "3s"}],
                        }
                    ]
                }
            },
        )
        self.prometheus.set_traffic(SERVICE, bad_at, error_ratio=0.45, latency_s=1.4)
        self.log(
            bad_at,
            "Deploy: payment-service revision 2 (payments:v2.3.1, DB pool timeout 30s -> 3s)",
        )

        fired = bad_at + timedelta(minutes=1)
        await self._webhook(bot, alert_payload("firing", fired, None))
        self.log(
            fired, "Prometheus fires HighErrorRate for payments; Alertmanager notifies the bot"
        )
        incident = await until(lambda: _opened(bot), "the incident channel")
        channel = self.slack.channels[incident.channel_id or ""]
        members = ", ".join(
            sorted(_name(m) for m in channel.members if m != self.slack.bot_user_id)
        )
        self.log(system_clock(), f"{incident.ref} opened: #{channel.name}, invited {members}")
        first = channel.messages[0]
        suspect = next(
            (b["text"]["text"] for b in first.blocks or [] if "Suspected cause" in str(b)), None
        )
        self.log(system_clock(), (suspect or "no suspected deploy found").replace(":mag: ", ""))

        slack = SlackRequests(bot.url, self.signing_secret)
        await slack.slash("/status", "", channel=channel.id, user=ONCALL)
        status = await until(lambda: _said(channel, "/status payments:"), "/status")
        self.log(
            system_clock(), f"{_name(ONCALL)} runs /status: {status.text.removeprefix('/status ')}"
        )
        await slack.slash("/incident", f"lead <@{COMMANDER}>", channel=channel.id, user=ONCALL)
        await slack.slash(
            "/incident",
            "status identified Bad deploy v2.3.1: DB pool timeout 3s",
            channel=channel.id,
            user=COMMANDER,
        )
        self.log(
            system_clock(),
            f"{_name(ONCALL)} makes {_name(COMMANDER)} the commander; {_name(COMMANDER)}: "
            "/incident status identified Bad deploy v2.3.1: DB pool timeout 3s",
        )

        button = next(
            e
            for b in first.blocks or []
            for e in b.get("elements", [])
            if e.get("action_id") == "rollback_suggested"
        )
        await slack.click("rollback_suggested", button["value"], channel=channel.id, user=ONCALL)
        preview = await until(lambda: _said(channel, "Rollback preview"), "the rollback preview")
        self.log(system_clock(), preview.text)
        confirm = next(
            e
            for b in preview.blocks or []
            for e in b.get("elements", [])
            if e.get("action_id") == "rollback_confirm"
        )
        await slack.click("rollback_confirm", confirm["value"], channel=channel.id, user=ONCALL)
        self.log(system_clock(), f"{_name(ONCALL)} confirms; the bot patches the deployment")
        done = await until(lambda: _rollback_done(bot), "the rollout to finish")
        self.log(
            done.finished_at or system_clock(),
            f"Rollback {done.status}: {mrkdwn_to_plain(done.detail)}",
        )
        self.prometheus.set_traffic(SERVICE, system_clock(), error_ratio=0.0008, latency_s=0.2)

        resolved = system_clock()
        await self._webhook(bot, alert_payload("resolved", fired, resolved))
        await until(lambda: _mitigated(bot, incident.id or 0), "the resolved alert")
        self.log(resolved, "HighErrorRate resolved (error rate < 0.1%); incident marked mitigated")
        resolve = "status resolved Rolled back payment-service to v2.3.0"
        await slack.slash("/incident", resolve, channel=channel.id, user=COMMANDER)
        self.log(system_clock(), f"{_name(COMMANDER)} resolves: /incident {resolve}")
        closing = await until(lambda: _said(channel, "resolved*"), "the closing message")
        self.log(system_clock(), closing.text.split("\n")[1].strip())
        return await self._postmortem(bot, incident)

    async def _postmortem(self, bot: BotRuntime, incident: Incident) -> Path:
        await until(lambda: _idle(bot), "the bot to finish its Slack work")
        fresh = await bot.store.incident(incident.id or 0)
        assert fresh is not None
        chart_name = f"{fresh.ref}-error-rate.png"
        draft = await bot.reports.postmortem(fresh, chart_filename=chart_name)
        path = self.output / f"{fresh.ref}-postmortem.md"
        path.write_text(draft.markdown, encoding="utf-8")
        self.log(system_clock(), f"Post-mortem draft written to {path}")
        if draft.chart is not None:
            (self.output / chart_name).write_bytes(draft.chart)
            self.log(system_clock(), f"Error-rate chart beside it: {self.output / chart_name}")
        self.say(
            f"\nThe demo's database is kept in {self.database}; read it with, for example:\n"
            f"  DATABASE_URL=sqlite:///{self.database} incident-bot timeline {fresh.ref}"
        )
        return path

    async def _webhook(self, bot: BotRuntime, payload: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {self.webhook_token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{bot.url}/webhooks/alertmanager", json=payload, headers=headers) as r,
        ):
            if r.status != 200:
                raise DemoFailed(f"webhook answered {r.status}: {json.dumps(await r.json())}")


def _name(user: str) -> str:
    """People by name, as the story is read outside Slack."""
    return f"@{PEOPLE.get(user, user)}"


async def _opened(bot: BotRuntime) -> Incident | None:
    rows = [i for i in await bot.store.incidents() if i.alert_message_ts and i.digest_ts]
    return rows[0] if rows else None


async def _said(channel: Any, text: str) -> Any:
    return next((m for m in reversed(channel.messages) if text in m.text), None)


async def _rollback_done(bot: BotRuntime) -> Rollback | None:
    """The rollback once finished and on the timeline (its row is marked finished before
    the room hears of it: the story goes on only after both)."""
    row = await bot.store.get(Rollback, 1)
    if row is None or row.finished_at is None or row.incident_id is None:
        return None
    kinds = await bot.store.timeline_kinds(row.incident_id)
    return row if f"rollback_{row.status}" in kinds else None


async def _mitigated(bot: BotRuntime, incident_id: int) -> bool:
    found = await bot.store.incident(incident_id)
    return found is not None and found.mitigated_at is not None


async def _idle(bot: BotRuntime) -> bool:
    return not await bot.store.open_jobs() and not await bot.store.pending_delivery_ids()
