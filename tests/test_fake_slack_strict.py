"""The fake Slack refuses what Slack refuses: Block Kit limits, long text, modal limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from standins.fake_slack import FakeSlack
from standins.fake_slack_blocks import ack_refusal
from standins.slack_requests import AckRefused, check_ack

TOKEN = "xoxb-test-token"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(value: str, label: str = "Go") -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "a",
                "text": {"type": "plain_text", "text": label},
                "value": value,
            }
        ],
    }


def fields(count: int, length: int = 5) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * length}] * count}


def header(length: int) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": "h" * length}}


# (what, blocks, text, expected error or None, a word Slack's message contains)
MESSAGE_CASES = [
    ("header at 150", [header(150)], "t", None, ""),
    ("header over 150", [header(151)], "t", "invalid_blocks", "/blocks/0"),
    ("section at 3000", [section("s" * 3000)], "t", None, ""),
    ("section over 3000", [section("s" * 3001)], "t", "invalid_blocks", "3000"),
    ("10 fields", [fields(10)], "t", None, ""),
    ("11 fields", [fields(11)], "t", "invalid_blocks", "10 items"),
    ("field over 2000", [fields(1, 2001)], "t", "invalid_blocks", "/blocks/0/fields/0/text"),
    ("50 blocks", [section("s")] * 50, "t", None, ""),
    ("51 blocks", [section("s")] * 51, "t", "invalid_blocks", "50 items"),
    ("button value over 2000", [button("v" * 2001)], "t", "invalid_blocks", "value"),
    ("button label over 75", [button("v", "l" * 76)], "t", "invalid_blocks", "75"),
    ("empty section text", [section("")], "t", "invalid_blocks", "more than 0"),
    ("unknown block type", [{"type": "sparkles"}], "t", "invalid_blocks", "sparkles"),
    ("second block bad", [section("ok"), header(151)], "t", "invalid_blocks", "/blocks/1"),
    ("text at 40000", None, "x" * 40_000, None, ""),
    ("text over 40000", None, "x" * 40_001, "msg_too_long", "40000"),
]
IDS = [c[0] for c in MESSAGE_CASES]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(bot_token=TOKEN)
    slack.add_user("U1", "alice")
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.url)


async def outcome(call: Any) -> tuple[str | None, str]:
    try:
        await call
    except SlackApiError as e:
        messages = e.response.get("response_metadata", {}).get("messages", [])
        return str(e.response["error"]), " ".join(messages)
    return None, ""


@pytest.mark.parametrize(("what", "blocks", "text", "error", "says"), MESSAGE_CASES, ids=IDS)
async def test_chat_methods_refuse_what_slack_refuses(
    fake: FakeSlack,
    client: AsyncWebClient,
    what: str,
    blocks: Any,
    text: str,
    error: str | None,
    says: str,
) -> None:
    channel = fake.add_channel("inc-1")
    channel.members.add("U1")
    mine = await client.chat_postMessage(channel=channel.id, text="first")
    calls = {
        "chat.postMessage": client.chat_postMessage(channel=channel.id, text=text, blocks=blocks),
        "chat.update": client.chat_update(
            channel=channel.id, ts=mine["ts"], text=text, blocks=blocks
        ),
        "chat.postEphemeral": client.chat_postEphemeral(
            channel=channel.id, user="U1", text=text, blocks=blocks
        ),
    }
    for method, call in calls.items():
        got, message = await outcome(call)
        assert got == error, f"{method} {what}: {message}"
        assert says in message, f"{method} {what}: Slack says where: {message}"
    # A refused message changes nothing in the channel; an accepted one is posted and edited.
    assert [m.text for m in channel.messages] == (["first"] if error else [text, text])
    assert len(channel.ephemeral) == (0 if error else 1)


@pytest.mark.parametrize(("what", "blocks", "text", "error", "says"), MESSAGE_CASES, ids=IDS)
async def test_response_url_refuses_what_slack_refuses(
    fake: FakeSlack, what: str, blocks: Any, text: str, error: str | None, says: str
) -> None:
    channel = fake.add_channel("inc-1")
    url = fake.response_url(channel.id, "U1")
    body: dict[str, Any] = {"text": text, "response_type": "in_channel"}
    if blocks is not None:
        body["blocks"] = blocks
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        answer = await response.json()
        assert (response.status, answer.get("error")) == ((400, error) if error else (200, None))
    assert len(channel.messages) == (0 if error else 1)


async def test_response_url_ephemeral_and_expired(fake: FakeSlack) -> None:
    channel = fake.add_channel("inc-1")
    url = fake.response_url(channel.id, "U1")
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"text": "only you"}) as response:
            assert response.status == 200
        gone = url.rsplit("/", 1)[0] + "/R404"
        async with session.post(gone, json={"text": "x"}) as response:
            assert (response.status, (await response.json())["error"]) == (400, "expired_url")
    assert [(m.text, m.visible_to) for m in channel.ephemeral] == [("only you", "U1")]
    assert fake.calls[-1].method == "response_url"


def modal(**changes: Any) -> dict[str, Any]:
    view = {
        "type": "modal",
        "callback_id": "m",
        "title": {"type": "plain_text", "text": "Declare incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "blocks": [section("hi")],
    }
    return {**view, **changes}


VIEW_CASES = [
    ("valid", modal(), None),
    ("title at 24", modal(title={"type": "plain_text", "text": "t" * 24}), None),
    ("title over 24", modal(title={"type": "plain_text", "text": "t" * 25}), "title"),
    ("submit over 24", modal(submit={"type": "plain_text", "text": "s" * 25}), "submit"),
    ("100 blocks", modal(blocks=[section("b")] * 100), None),
    ("101 blocks", modal(blocks=[section("b")] * 101), "100 items"),
    ("a bad block", modal(blocks=[header(151)]), "/view/blocks/0"),
    ("no type", {"title": {"type": "plain_text", "text": "x"}}, "type"),
]


@pytest.mark.parametrize(("what", "view", "says"), VIEW_CASES, ids=[c[0] for c in VIEW_CASES])
async def test_views_refuse_what_slack_refuses(
    fake: FakeSlack, client: AsyncWebClient, what: str, view: dict[str, Any], says: str | None
) -> None:
    opened = await client.views_open(trigger_id="1.2.3", view=modal())
    for call in (
        client.views_open(trigger_id="1.2.3", view=view),
        client.views_update(view_id=opened["view"]["id"], view=view),
    ):
        got, message = await outcome(call)
        assert got == (None if says is None else "invalid_arguments"), f"{what}: {message}"
        assert (says or "") in message
    assert len(fake.views) == (2 if says is None else 1)


@pytest.mark.parametrize(("what", "blocks", "text", "error", "says"), MESSAGE_CASES, ids=IDS)
def test_ack_bodies_are_checked_as_slack_does(
    what: str, blocks: Any, text: str, error: str | None, says: str
) -> None:
    body: dict[str, Any] = {"text": text, **({"blocks": blocks} if blocks else {})}
    refusal = ack_refusal(body)
    assert (refusal[0] if refusal else None) == error
    if error is None:
        check_ack("/incident list", body)
    else:
        with pytest.raises(AckRefused, match=f"/incident list: Slack would refuse.*{error}"):
            check_ack("/incident list", body)
