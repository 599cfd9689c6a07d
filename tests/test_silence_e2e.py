"""`/incident silence` against the real Alertmanager: the silence, its effect, its expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.runtime import BotRuntime
from bot.storage.models import Incident, Silence
from standins.fake_slack import FakeSlack
from tests.support.alertmanager_process import AlertmanagerProcess, find_alertmanager
from tests.support.binary_process import free_port
from tests.support.bots import FAST, WEBHOOK_TOKEN, make_bot
from tests.support.polling import eventually
from tests.support.realparts import require_binary
from tests.support.slack_client import click, slash

LABELS = {"alertname": "HighErrorRate", "service": "payments", "severity": "critical"}
ANNOTATIONS = {"summary": "High error rate detected"}
GROUP = [
    {"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True},
    {"name": "service", "value": "payments", "isRegex": False, "isEqual": True},
]


class DebugAlertmanager(AlertmanagerProcess):
    """Logs each aggregation group flush, so a test can tell a muted flush happened."""

    _log_level = "debug"

    def flushed(self, fingerprint: str) -> bool:
        return any(
            "msg=flushing" in line and f"[{fingerprint[:7]}]" in line
            for line in self.log_path.read_text(errors="replace").splitlines()
        )


class Proxy:
    """Alertmanager's API passed through; with `hang_creates`, a silence is created but its
    answer never comes, as when Alertmanager is slow: the bot's request times out."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.hang_creates = False
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"{self.target}{request.rel_url}",
                data=body,
                headers={"Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            data = await answer.read()
            status = answer.status
        if self.hang_creates and request.method == "POST" and request.path == "/api/v2/silences":
            await self.release.wait()
        return web.Response(body=data, status=status, content_type="application/json")


class Rig:
    def __init__(
        self, bot: BotRuntime, am: DebugAlertmanager, slack: FakeSlack, proxy: Proxy
    ) -> None:
        self.bot, self.am, self.slack, self.proxy = bot, am, slack, proxy

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as s, s.get(f"{self.am.url}{path}") as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def incident(self, ref: int = 1) -> Incident:
        found = await self.bot.store.incident(ref)
        assert found is not None
        return found

    async def silences(self) -> list[Silence]:
        return list(await self.bot.store.incident_silences(1))

    async def deliveries(self, alertname: str) -> int:
        rows = await self.bot.store.incidents()
        return sum(1 for r in rows if r.alertname == alertname)


@pytest.fixture
async def rig(database_url: str, fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Rig]:
    require_binary(find_alertmanager)
    port = free_port()
    am = DebugAlertmanager(
        webhook_url=f"http://127.0.0.1:{port}/webhooks/alertmanager",
        bearer_token=WEBHOOK_TOKEN,
        workdir=tmp_path,
    )
    await am.start()
    proxy = Proxy(am.url)
    await proxy.start()
    tuning = replace(FAST, backend_timeout=2.0)
    try:
        async with make_bot(
            database_url, fake_slack, tuning=tuning, port=port, alertmanager_url=proxy.url
        ) as bot:
            try:
                yield Rig(bot, am, fake_slack, proxy)
                await bot.tasks.idle()
            finally:
                await proxy.stop()  # before the bot: it lets go of a create it holds
    finally:
        await proxy.stop()  # when the bot did not start
        await am.stop()


async def open_incident(rig: Rig) -> tuple[Incident, str]:
    await rig.am.fire(LABELS, ANNOTATIONS, starts_at=datetime.now(UTC) - timedelta(seconds=5))

    async def opened() -> Incident | None:
        rows = await rig.bot.store.incidents()
        return rows[0] if rows and rows[0].alert_message_ts else None

    incident = await eventually(opened, what="the incident channel")
    assert incident.channel_id is not None
    return incident, incident.channel_id


def buttons(blocks: list[dict[str, Any]] | None) -> dict[str, str]:
    found = {}
    for block in blocks or []:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                found[element["action_id"]] = element["value"]
    return found


async def test_silence_mutes_the_group_in_alertmanager_and_resolve_expires_it(rig: Rig) -> None:
    _, channel = await open_incident(rig)
    pinned = rig.slack.channels[channel].messages[0]
    assert "silence_group" in buttons(pinned.blocks)

    answer = await slash(rig.bot, "/incident", "silence 1h rollback under way", channel=channel)
    assert answer.startswith('Silencing `alertname="HighErrorRate", service="payments"` for 1h')

    async def announced() -> Silence | None:
        rows = await rig.silences()
        return rows[0] if rows and rows[0].message_ts else None

    row = await eventually(announced, what="the silence to be created and announced")
    silence = await rig.get(f"/api/v2/silence/{row.silence_id}")
    assert silence["status"]["state"] == "active"
    assert sorted(silence["matchers"], key=lambda m: m["name"]) == GROUP
    assert silence["createdBy"] == "u0oncall1"
    assert silence["comment"].startswith("INC-1: silenced from the incident channel | http")
    assert silence["comment"].endswith("rollback under way")
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=1)

    async def silenced_by() -> list[str]:
        alerts = await rig.get("/api/v2/alerts")
        return [s for a in alerts for s in a["status"]["silencedBy"]]

    assert await eventually(silenced_by, what="status.silencedBy") == [row.silence_id]
    message = next(m for m in rig.slack.channels[channel].messages if m.ts == row.message_ts)
    assert "until" in message.text
    assert buttons(message.blocks) == {"silence_expire": str(row.id)}
    (created,) = [e for e in await rig.bot.store.timeline(1) if e.kind == "silence_created"]
    assert 'silenced alertname="HighErrorRate", service="payments" in Alertmanager until' in (
        created.text
    )
    assert created.actor == "U0ONCALL1"

    # A new alert of the silenced group is flushed by Alertmanager but notifies nothing;
    # a control group flushed after it still notifies.
    await rig.am.fire({**LABELS, "instance": "b"}, ANNOTATIONS)
    alerts = await rig.get("/api/v2/alerts")
    (new,) = [a["fingerprint"] for a in alerts if a["labels"].get("instance") == "b"]

    async def flushed() -> bool:
        return rig.am.flushed(new)

    await eventually(flushed, what="Alertmanager to flush the silenced group with the new alert")
    control = {"alertname": "ControlAlert", "service": "payments"}
    await rig.am.fire(control)

    async def control_opened() -> bool:
        return await rig.deliveries("ControlAlert") == 1

    await eventually(control_opened, what="the unsilenced control group to open an incident")
    firing = [e for e in await rig.bot.store.timeline(1) if e.kind.startswith("alert_firing")]
    assert len(firing) == 1, "the silenced group must not notify its new alert"
    assert await rig.bot.store.pending_delivery_ids() == []

    listed = await slash(rig.bot, "/incident", "silences", channel=channel)
    assert "<@U0ONCALL1> silenced" in listed and "active" in listed

    await slash(rig.bot, "/status", "", channel=channel)

    async def status_posted() -> str | None:
        texts = [
            b["text"]["text"]
            for m in rig.slack.channels[channel].messages
            for b in m.blocks or []
            if "text" in b and isinstance(b["text"], dict)
        ]
        return next((t for t in texts if t.startswith("*Active silences*")), None)

    status = await eventually(status_posted, what="/status with the active silence")
    assert status.startswith(
        '*Active silences*\n:no_bell: `alertname="HighErrorRate", service="payments"` by '
        "u0oncall1 until 20"
    )

    resolved = await slash(rig.bot, "/incident", "status resolved rolled back", channel=channel)
    assert resolved == "INC-1 is now resolved"

    async def expired() -> bool:
        found = await rig.get(f"/api/v2/silence/{row.silence_id}")
        return bool(found["status"]["state"] == "expired")

    await eventually(expired, what="the silence to be expired on resolve")
    await eventually(lambda: _kinds(rig, "silence_expired"), what="the expiry on the timeline")
    (after,) = await rig.silences()
    assert after.expired_at is not None
    draft = await rig.bot.reports.postmortem(await rig.incident())
    assert "Alertmanager silences made from the channel" in draft.markdown
    assert (
        '| @u0oncall1 | alertname="HighErrorRate", service="payments" | rollback under way |'
        in (draft.markdown)
    )


async def test_keep_survives_resolve_and_the_button_expires_it(rig: Rig) -> None:
    _, channel = await open_incident(rig)
    await slash(rig.bot, "/incident", "silence 30m --keep", channel=channel)
    await rig.bot.tasks.idle()
    (row,) = await rig.silences()
    assert row.keep and row.reason is None

    await slash(rig.bot, "/incident", "status resolved fixed", channel=channel)
    await eventually(lambda: _kinds(rig, "silence_kept"), what="the kept silence noted")
    found = await rig.get(f"/api/v2/silence/{row.silence_id}")
    assert found["status"]["state"] == "active"

    await click(rig.bot, "silence_expire", str(row.id), channel=channel, user="U0ONCALL2")

    async def message_updated() -> Any:
        message = next(m for m in rig.slack.channels[channel].messages if m.ts == row.message_ts)
        return message if "expired by <@U0ONCALL2>" in message.text else None

    message = await eventually(message_updated, what="the silence message to say who expired it")
    assert buttons(message.blocks) == {}
    found = await rig.get(f"/api/v2/silence/{row.silence_id}")
    assert found["status"]["state"] == "expired"
    (after,) = await rig.silences()
    assert after.expired_by == "U0ONCALL2"


async def test_the_silence_button_on_the_alert_message(rig: Rig) -> None:
    _, channel = await open_incident(rig)
    pinned = rig.slack.channels[channel].messages[0]
    value = buttons(pinned.blocks)["silence_group"]
    await click(rig.bot, "silence_group", value, channel=channel, user="U0ONCALL1")
    (row,) = await eventually(rig.silences, what="the button's silence")
    assert row.ends_at - row.starts_at == timedelta(hours=1)
    found = await rig.get(f"/api/v2/silence/{row.silence_id}")
    assert found["createdBy"] == "u0oncall1"

    # /incident unsilence: a stranger is refused, a member expires it.
    refused = await slash(rig.bot, "/incident", "unsilence", channel=channel, user="U0STRANGER")
    assert refused == "Expiring this incident's silences in Alertmanager..."
    await eventually(lambda: _kinds(rig, "silence_refused"), what="the refusal on the timeline")
    await slash(rig.bot, "/incident", "unsilence", channel=channel, user="U0ONCALL2")

    async def told() -> bool:
        return any(m.text == "Expired 1 silence(s)." for m in rig.slack.channels[channel].ephemeral)

    await eventually(told, what="the person who unsilenced to be told")
    found = await rig.get(f"/api/v2/silence/{row.silence_id}")
    assert found["status"]["state"] == "expired"
    assert (await rig.silences())[0].expired_by == "U0ONCALL2"


async def test_alertmanager_down_on_resolve_is_said_in_the_room(rig: Rig) -> None:
    _, channel = await open_incident(rig)
    await slash(rig.bot, "/incident", "silence 1h", channel=channel)
    (row,) = await eventually(rig.silences, what="the silence")
    await rig.am.stop()
    await slash(rig.bot, "/incident", "status resolved fixed", channel=channel)

    async def warned() -> bool:
        return any(
            m.text.startswith(f":warning: Could not expire silence {row.silence_id}")
            for m in rig.slack.channels[channel].messages
        )

    await eventually(warned, what="the room to be told the silence still holds")
    (failed,) = await _kinds(rig, "silence_expire_failed")
    assert failed.text.endswith("run /incident unsilence")
    assert (await rig.silences())[0].expired_at is None


async def test_a_silence_whose_answer_never_came_is_expired_again(rig: Rig) -> None:
    _, channel = await open_incident(rig)
    rig.proxy.hang_creates = True
    await slash(rig.bot, "/incident", "silence 1h", channel=channel)

    async def told() -> str | None:
        texts = [m.text for m in rig.slack.channels[channel].ephemeral]
        return next((t for t in texts if t.startswith("Alertmanager did not answer")), None)

    answer = await eventually(told, what="the timed-out request to be answered")
    made = [s for s in await rig.get("/api/v2/silences") if s["createdBy"] == "u0oncall1"]
    assert len(made) == 1, "Alertmanager did make the silence"
    assert made[0]["status"]["state"] == "expired"
    assert f"The silence it made anyway ({made[0]['id']}) was expired again." in answer
    assert answer.endswith("Nothing was silenced; try again in a moment.")
    assert await rig.silences() == []


async def test_refusals_and_failures_change_nothing(rig: Rig) -> None:
    _, channel = await open_incident(rig)
    refused = await slash(rig.bot, "/incident", "silence 1h", channel=channel, user="U0STRANGER")
    assert refused.startswith("Not silencing: only members of the incident channel")
    (note,) = await _kinds(rig, "silence_refused")
    assert "<@U0STRANGER>" in note.text

    unknown = await slash(rig.bot, "/incident", "silence 2x", channel=channel)
    assert unknown.startswith("Unknown duration '2x'")
    assert "Usage: /incident silence [30m|1h|4h] [reason] [--keep]" in unknown
    too_long = await slash(rig.bot, "/incident", "silence 48h", channel=channel)
    assert "at most 1d (incident.max_silence_hours)" in too_long

    # Alertmanager answers 400 to a matcher on a label name it does not accept.
    await rig.bot.store.update_incident(1, group_labels={"bad-name": "x"})
    await slash(rig.bot, "/incident", "silence 1h", channel=channel)
    await rig.bot.tasks.idle()
    told = [m.text for m in rig.slack.channels[channel].ephemeral]
    assert told == [
        "Alertmanager refused the silence (silence invalid: invalid label matcher 0: invalid "
        'label name "bad-name"). Nothing was silenced.'
    ]

    await rig.bot.store.update_incident(1, group_labels={"alertname": "HighErrorRate"})
    await rig.am.stop()
    await slash(rig.bot, "/incident", "silence 1h", channel=channel)
    await rig.bot.tasks.idle()
    told = [m.text for m in rig.slack.channels[channel].ephemeral]
    assert told[-1].startswith("Alertmanager did not answer"), told
    assert told[-1].endswith("Nothing was silenced; try again in a moment.")
    assert await rig.silences() == []
    assert await _kinds(rig, "silence_created") == []


async def test_without_alertmanager_url_the_command_says_what_to_set(
    database_url: str, fake_slack: FakeSlack
) -> None:
    async with make_bot(database_url, fake_slack) as bot:
        general = fake_slack.add_channel("general")
        await slash(bot, "/incident", "declare Checkout slow", channel=general.id)
        await eventually(lambda: _opened(bot), what="the declared incident's channel")
        (incident,) = await bot.store.incidents()
        assert incident.channel_id is not None
        answer = await slash(bot, "/incident", "silence", channel=incident.channel_id)
        assert answer.startswith("Alertmanager is not configured for this bot: set ALERTMANAGER")
        assert await bot.store.incident_silences(1) == []


async def _opened(bot: BotRuntime) -> bool:
    rows = await bot.store.incidents()
    return bool(rows) and rows[0].alert_message_ts is not None


async def _kinds(rig: Rig, kind: str) -> list[Any]:
    return [e for e in await rig.bot.store.timeline(1) if e.kind == kind]
