"""Socket Mode end to end: the fake Slack's socket side, and the bot holding a socket to it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from standins.slack_requests import SocketRequests, command_payload
from tests.support.bots import BOT_TOKEN, running_bot
from tests.support.polling import eventually

# -- the fake's side ---------------------------------------------------------------------


async def open_connection(fake: FakeSlack, token: str | None) -> str:
    client = AsyncWebClient(token=token, base_url=fake.url)
    return str((await client.apps_connections_open(app_token=token or ""))["url"])


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (BOT_TOKEN, "not_allowed_token_type"),  # a bot token cannot open a socket
        ("xapp-1-A0TEST-1-wrong", "invalid_auth"),
    ],
)
async def test_connections_open_wants_the_app_token(
    fake_slack: FakeSlack, token: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as info:
        await open_connection(fake_slack, token)
    assert info.value.response["error"] == error


async def test_a_socket_says_hello_carries_envelopes_and_keeps_them_until_acked(
    fake_slack: FakeSlack,
) -> None:
    url = await open_connection(fake_slack, fake_slack.socket.app_token)
    assert url.startswith("ws://127.0.0.1:")
    payload = command_payload("/status", "payments", channel_id="C1")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            hello = json.loads((await ws.receive()).data)
            assert hello["type"] == "hello"
            assert hello["connection_info"]["app_id"] == "A0TEST"
            envelope_id = await fake_slack.deliver(
                "slash_commands", payload, accepts_response_payload=True
            )
            frame = json.loads((await ws.receive()).data)
            assert (frame["envelope_id"], frame["type"]) == (envelope_id, "slash_commands")
            assert frame["payload"]["command"] == "/status"
            assert frame["accepts_response_payload"] is True
            # Not acked: the socket closes, and the next one gets the envelope again.
        async with session.get(url.replace("ws://", "http://")) as reused:
            assert reused.status == 401  # a URL is good for one connection
        url = await open_connection(fake_slack, fake_slack.socket.app_token)
        async with session.ws_connect(url) as ws:
            assert json.loads((await ws.receive()).data)["type"] == "hello"
            again = json.loads((await ws.receive()).data)
            assert (again["envelope_id"], again["retry_attempt"]) == (envelope_id, 1)
            await ws.send_str(json.dumps({"envelope_id": envelope_id, "payload": {"text": "ok"}}))
            ack = await fake_slack.wait_for_ack(envelope_id)
            assert (ack.payload, ack.refusal) == ({"text": "ok"}, None)
            await fake_slack.disconnect("warning")
            assert json.loads((await ws.receive()).data) == {
                "type": "disconnect",
                "reason": "warning",
                "debug_info": {"host": "fake-slack"},
            }
    assert fake_slack.socket.unacked == {}


async def test_an_ack_payload_slack_would_not_show_is_flagged(fake_slack: FakeSlack) -> None:
    url = await open_connection(fake_slack, fake_slack.socket.app_token)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive()
        envelope_id = await fake_slack.deliver("slash_commands", {}, accepts_response_payload=True)
        await ws.receive()
        too_long = {"envelope_id": envelope_id, "payload": {"text": "x" * 40_001}}
        await ws.send_str(json.dumps(too_long))
        ack = await fake_slack.wait_for_ack(envelope_id)
    assert ack.refusal is not None and ack.refusal.startswith("msg_too_long")


# -- the bot in Socket Mode ------------------------------------------------------------------


@pytest.fixture
async def socket_bot(tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[BotRuntime]:
    async with running_bot(f"sqlite:///{tmp_path / 'bot.db'}", fake_slack, mode="socket") as bot:
        yield bot


async def get(bot: BotRuntime, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(bot.url + path) as response:
        return response.status, await response.text()


def reconnects(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("incident_bot_slack_socket_reconnects_total"):
            return float(line.split()[-1])
    raise AssertionError("no reconnect metric")


async def test_the_bot_answers_over_its_socket_and_not_over_http(
    socket_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    slack = SocketRequests(fake_slack)
    assert "/incident declare" in await slack.slash("/incident", "help", channel="C0", user="U1")
    status, body = await get(socket_bot, "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    async with (
        aiohttp.ClientSession() as session,
        session.post(socket_bot.url + "/slack/events", data=b"{}") as response,
    ):
        assert response.status == 404  # no public endpoint in Socket Mode


@pytest.mark.parametrize("how", ["refresh_requested", "warning", "dropped"])
async def test_reconnects_within_seconds_and_loses_no_unacked_envelope(
    socket_bot: BotRuntime, fake_slack: FakeSlack, how: str
) -> None:
    slack = SocketRequests(fake_slack)
    if how == "dropped":
        await fake_slack.drop_sockets()
    else:
        await fake_slack.disconnect(how)
    # Delivered while the bot has no socket (or is between two): Slack keeps it for the next.
    envelope = await fake_slack.deliver(
        "slash_commands",
        command_payload("/incident", "help", channel_id="C0"),
        accepts_response_payload=True,
    )
    ack = await fake_slack.wait_for_ack(envelope, timeout=8)
    assert "/incident declare" in (ack.payload or {}).get("text", "")
    await fake_slack.wait_for_socket()
    _, metrics = await get(socket_bot, "/metrics")
    # slack-sdk may connect twice for one rotation (on `disconnect`, then on the close).
    assert reconnects(metrics) == fake_slack.socket.connections_opened - 1 >= 1
    assert "/incident declare" in await slack.slash("/incident", "help", channel="C0", user="U1")


async def test_not_ready_while_no_socket_is_connected(
    socket_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    token = fake_slack.socket.app_token
    fake_slack.socket.app_token = "xapp-1-A0TEST-1-rotated"  # the bot's token stops working
    await fake_slack.drop_sockets()

    async def not_ready() -> Any:
        status, body = await get(socket_bot, "/readyz")
        return status == 503 and json.loads(body)["error"] == "slack_socket_down"

    await eventually(not_ready, timeout=8, what="/readyz not ready without a socket")
    status, _ = await get(socket_bot, "/healthz")
    assert status == 200  # alive: restarting it would not bring the socket back
    fake_slack.socket.app_token = token

    async def ready() -> Any:
        return (await get(socket_bot, "/readyz"))[0] == 200

    await eventually(ready, timeout=10, what="/readyz ready again once the socket is back")


async def test_a_re_sent_envelope_is_acked_again_and_does_nothing_twice(
    socket_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    general = fake_slack.add_channel("general")
    slack = SocketRequests(fake_slack)
    envelope = await fake_slack.deliver(
        "slash_commands",
        command_payload("/status", "payments", channel_id=general.id),
        accepts_response_payload=True,
    )
    first = await fake_slack.wait_for_ack(envelope)
    assert first.payload == {"text": "Checking payments..."}
    await fake_slack.wait_for_call("chat.postMessage")  # the (partial) answer
    # Slack was not sure the ack arrived: the same envelope again, maybe to another replica.
    assert await slack.resend(envelope) == {"text": "Checking payments..."}
    await socket_bot.tasks.idle()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert len([m for m in general.messages if "payments" in m.text]) == 1


async def test_two_replicas_each_hold_a_socket_and_share_the_work(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    async with (
        running_bot(url, fake_slack, mode="socket") as one,
        running_bot(url, fake_slack, mode="socket") as two,
    ):
        await fake_slack.wait_for_socket(count=2)
        general = fake_slack.add_channel("general")
        slack = SocketRequests(fake_slack)
        for _ in range(4):  # Slack spreads envelopes over the sockets
            await slack.slash("/status", "payments", channel=general.id, user="U0ONCALL1")
        envelope = fake_slack.socket.acks[-1].envelope_id
        await slack.resend(envelope)  # lands on the other replica's socket
        await one.tasks.idle()
        await two.tasks.idle()
        assert len(fake_slack.calls_to("chat.postMessage")) == 4
