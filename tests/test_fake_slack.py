"""The fake Slack must behave like Slack for the real slack_sdk client."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from standins.fake_slack import FakeSlack

TOKEN = "xoxb-test-token"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1* checkout down"}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user("U1", "alice", tz="Europe/Berlin")
    slack.add_user("U2", "bob")
    slack.usergroups["S1"] = ["U1", "U2"]
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.url)


async def slack_error(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


async def test_url_and_auth_test(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert fake.url.startswith("http://127.0.0.1:")
    assert fake.url.endswith("/api/")
    resp = await client.auth_test()
    assert resp["user_id"] == "U0BOT"
    assert resp["team_id"] == "T0TEST"
    assert resp["bot_id"]
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")])
async def test_bad_token(fake: FakeSlack, token: str | None, error: str) -> None:
    client = AsyncWebClient(token=token, base_url=fake.url)
    assert await slack_error(client.conversations_create(name="inc-1")) == error
    assert fake.channels == {}
    assert fake.calls[-1].response == {"ok": False, "error": error}


async def test_unknown_method(client: AsyncWebClient) -> None:
    assert await slack_error(client.api_call("chat.sing")) == "unknown_method"


async def test_create_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.conversations_create(name="inc-42-checkout", is_private=False)
    channel = fake.channels[resp["channel"]["id"]]
    assert resp["channel"]["name"] == "inc-42-checkout"
    assert channel.members == {"U0BOT"}
    assert fake.channel_by_name("inc-42-checkout") is channel
    assert await slack_error(client.conversations_create(name="inc-42-checkout")) == "name_taken"
    assert len(fake.calls_to("conversations.create")) == 1
    assert len(fake.calls) == 2


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Inc-1", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc#1", "invalid_name_specials"),
        ("--_", "invalid_name_punctuation"),
    ],
)
async def test_create_channel_rejects_bad_names(
    fake: FakeSlack, client: AsyncWebClient, name: str, error: str
) -> None:
    assert await slack_error(client.conversations_create(name=name)) == error
    assert fake.channels == {}


async def test_topic_and_purpose(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    resp = await client.conversations_setTopic(channel=channel.id, topic="SEV1 | IC: alice")
    assert resp["channel"]["topic"]["value"] == "SEV1 | IC: alice"
    await client.conversations_setPurpose(channel=channel.id, purpose="Checkout is down")
    assert (channel.topic, channel.purpose) == ("SEV1 | IC: alice", "Checkout is down")
    too_long = client.conversations_setTopic(channel=channel.id, topic="x" * 251)
    assert await slack_error(too_long) == "too_long"


@pytest.mark.parametrize(
    ("channel_ref", "error"), [("C404", "channel_not_found"), ("outside", "not_in_channel")]
)
async def test_set_topic_needs_a_joined_channel(
    fake: FakeSlack, client: AsyncWebClient, channel_ref: str, error: str
) -> None:
    outside = fake.add_channel("outside", bot_is_member=False)
    channel_id = outside.id if channel_ref == "outside" else channel_ref
    assert await slack_error(client.conversations_setTopic(channel=channel_id, topic="t")) == error


@pytest.mark.parametrize(
    ("users", "error", "members"),
    [
        ("U1,U2", None, {"U0BOT", "U1", "U2"}),
        ("U1,U404", "user_not_found", {"U0BOT"}),
        ("U0BOT", "cant_invite_self", {"U0BOT"}),
        ("U9", "already_in_channel", {"U0BOT", "U9"}),
    ],
)
async def test_invite(
    fake: FakeSlack, client: AsyncWebClient, users: str, error: str | None, members: set[str]
) -> None:
    fake.add_user("U9", "carol")
    channel = fake.add_channel("inc-1")
    channel.members.add("U9")
    if error is None:
        resp = await client.conversations_invite(channel=channel.id, users=users)
        assert resp["channel"]["num_members"] == len(members | {"U9"})
    else:
        invite = client.conversations_invite(channel=channel.id, users=users)
        assert await slack_error(invite) == error
    assert channel.members == members | {"U9"}


async def test_invite_with_force_skips_failures(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    resp = await client.conversations_invite(channel=channel.id, users=["U1", "U404"], force=True)
    assert channel.members == {"U0BOT", "U1"}
    assert resp["errors"] == [{"user": "U404", "ok": False, "error": "user_not_found"}]


async def test_usergroups_and_users(client: AsyncWebClient) -> None:
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    assert await slack_error(client.usergroups_users_list(usergroup="S404")) == "no_such_subteam"
    user = (await client.users_info(user="U1"))["user"]
    assert (user["id"], user["name"], user["tz"]) == ("U1", "alice", "Europe/Berlin")
    assert await slack_error(client.users_info(user="U404")) == "user_not_found"


@pytest.mark.parametrize("ref", ["inc-1", "#inc-1", "{id}"])
async def test_post_message_by_name_or_id(
    fake: FakeSlack, client: AsyncWebClient, ref: str
) -> None:
    channel = fake.add_channel("inc-1")
    resp = await client.chat_postMessage(
        channel=ref.format(id=channel.id), text="Incident opened", blocks=[SECTION]
    )
    assert resp["channel"] == channel.id
    assert resp["message"]["blocks"] == [SECTION]
    [message] = channel.messages
    assert (message.ts, message.text, message.blocks) == (resp["ts"], "Incident opened", [SECTION])
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == [SECTION]


@pytest.mark.parametrize(
    ("setup", "error"),
    [("unknown", "channel_not_found"), ("outside", "not_in_channel"), ("archived", "is_archived")],
)
async def test_post_message_refusals(
    fake: FakeSlack, client: AsyncWebClient, setup: str, error: str
) -> None:
    fake.add_channel("outside", bot_is_member=False)
    fake.add_channel("archived").is_archived = True
    assert await slack_error(client.chat_postMessage(channel=setup, text="hi")) == error


async def test_post_message_to_user_id_opens_a_dm(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postMessage(channel="U1", text="You are incident commander")
    dm = fake.channels[resp["channel"]]
    assert dm.is_im
    assert dm.members == {"U0BOT", "U1"}


@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_json_arguments_are_decoded_for_both_encodings(
    fake: FakeSlack, client: AsyncWebClient, encoding: str
) -> None:
    channel = fake.add_channel("inc-1")
    body: dict[str, Any] = {"channel": channel.id, "text": "t"}
    if encoding == "form":
        await client.api_call("chat.postMessage", data={**body, "blocks": json.dumps([SECTION])})
    else:
        await client.api_call("chat.postMessage", json={**body, "blocks": [SECTION]})
    assert fake.calls[-1].args == {"channel": channel.id, "text": "t", "blocks": [SECTION]}
    assert channel.messages[0].blocks == [SECTION]


async def test_get_with_query_params(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    resp = await client.api_call(
        "conversations.info", http_verb="GET", params={"channel": channel.id}
    )
    assert resp["channel"]["name"] == "inc-1"


async def test_update_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    posted = await client.chat_postMessage(channel=channel.id, text="SEV2")
    resp = await client.chat_update(channel=channel.id, ts=posted["ts"], text="SEV1")
    assert resp["message"]["edited"]["user"] == "U0BOT"
    [message] = channel.messages
    assert (message.text, message.edits) == ("SEV1", ["SEV2"])
    by_name = client.chat_update(channel="inc-1", ts=posted["ts"], text="x")
    assert await slack_error(by_name) == "channel_not_found"
    unknown_ts = client.chat_update(channel=channel.id, ts="1.000001", text="x")
    assert await slack_error(unknown_ts) == "message_not_found"


async def test_message_ts_is_unique_and_increasing(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    stamps = [(await client.chat_postMessage(channel=channel.id, text="x"))["ts"] for _ in range(5)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 5
    assert abs(float(stamps[0]) - time.time()) < 60


async def test_pins(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    ts = (await client.chat_postMessage(channel=channel.id, text="Status: investigating"))["ts"]
    await client.pins_add(channel=channel.id, timestamp=ts)
    assert channel.pins == {ts}
    assert await slack_error(client.pins_add(channel=channel.id, timestamp=ts)) == "already_pinned"
    unknown = client.pins_add(channel=channel.id, timestamp="1.000001")
    assert await slack_error(unknown) == "message_not_found"
    items = (await client.pins_list(channel=channel.id))["items"]
    assert [item["message"]["ts"] for item in items] == [ts]
    await client.pins_remove(channel=channel.id, timestamp=ts)
    assert await slack_error(client.pins_remove(channel=channel.id, timestamp=ts)) == "no_pin"


async def test_reactions_ephemeral_and_permalink(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    channel.members.add("U1")
    ts = (await client.chat_postMessage(channel=channel.id, text="Resolved?"))["ts"]
    await client.reactions_add(channel=channel.id, timestamp=ts, name="white_check_mark")
    assert channel.messages[0].reactions == {"white_check_mark": ["U0BOT"]}
    again = client.reactions_add(channel=channel.id, timestamp=ts, name="white_check_mark")
    assert await slack_error(again) == "already_reacted"

    await client.chat_postEphemeral(channel=channel.id, user="U1", text="Only you")
    assert [(m.visible_to, m.text) for m in channel.ephemeral] == [("U1", "Only you")]
    not_member = client.chat_postEphemeral(channel=channel.id, user="U2", text="x")
    assert await slack_error(not_member) == "user_not_in_channel"

    link = (await client.chat_getPermalink(channel=channel.id, message_ts=ts))["permalink"]
    assert link == f"https://fake.slack.test/archives/{channel.id}/p{ts.replace('.', '')}"


async def test_join_info_archive(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("incidents", bot_is_member=False)
    assert (await client.conversations_info(channel=channel.id))["channel"]["is_member"] is False
    await client.conversations_join(channel=channel.id)
    await client.chat_postMessage(channel="incidents", text="joined")
    await client.conversations_archive(channel=channel.id)
    assert channel.is_archived
    assert await slack_error(client.chat_postMessage(channel=channel.id, text="x")) == "is_archived"
    assert await slack_error(client.conversations_create(name="incidents")) == "name_taken"


@pytest.mark.parametrize(
    ("method", "args", "error"),
    [
        ("chat.postMessage", {"channel": "{id}"}, "no_text"),
        ("chat.postMessage", {"text": "hi"}, "invalid_arguments"),
        (
            "chat.postMessage",
            {"channel": "{id}", "text": "t", "blocks": "[{"},
            "invalid_blocks_format",
        ),
        ("chat.postMessage", {"channel": "{id}", "text": "t", "blocks": [{}]}, "invalid_blocks"),
        ("chat.update", {"channel": "{id}", "text": "x"}, "message_not_found"),
        ("conversations.setTopic", {"topic": "x"}, "invalid_arguments"),
        ("conversations.invite", {"channel": "{id}"}, "invalid_arguments"),
        ("usergroups.users.list", {}, "invalid_arguments"),
        ("users.info", {}, "user_not_found"),
        ("pins.add", {"channel": "{id}"}, "no_item_specified"),
        ("files.getUploadURLExternal", {"filename": "x.png"}, "invalid_arguments"),
        ("files.completeUploadExternal", {"files": [{"id": "F404"}]}, "file_not_found"),
        ("views.open", {"view": {"type": "modal"}}, "invalid_arguments"),
        ("views.open", {"trigger_id": "1.2.3"}, "invalid_arguments"),
        ("views.publish", {"user_id": "U1"}, "invalid_arguments"),
    ],
)
@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_missing_or_bad_arguments(
    fake: FakeSlack,
    client: AsyncWebClient,
    method: str,
    args: dict[str, Any],
    error: str,
    encoding: str,
) -> None:
    channel_id = fake.add_channel("inc-1").id
    body = {k: v.replace("{id}", channel_id) if isinstance(v, str) else v for k, v in args.items()}
    if encoding == "json":
        call = client.api_call(method, json=body)
    else:
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        call = client.api_call(method, data=form)
    assert await slack_error(call) == error
    assert fake.calls_to(method) == []


async def test_files_upload_v2_round_trip(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")
    resp = await client.files_upload_v2(
        channel=channel.id,
        content=b"\x89PNG fake bytes",
        filename="x.png",
        title="Error rate",
        initial_comment="Dashboard snapshot",
    )
    file = fake.files[resp["file"]["id"]]
    assert (file.filename, file.title) == ("x.png", "Error rate")
    assert file.content == b"\x89PNG fake bytes"
    assert file.uploaded
    assert file.channels == [channel.id]
    [message] = channel.messages
    assert (message.text, message.files) == ("Dashboard snapshot", [file.id])
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_upload_url_accepts_multipart(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.files_getUploadURLExternal(filename="notes.txt", length=5)
    form = aiohttp.FormData()
    form.add_field("file", b"hello", filename="notes.txt")
    async with aiohttp.ClientSession() as session, session.post(resp["upload_url"], data=form) as r:
        assert r.status == 200
    assert fake.files[resp["file_id"]].content == b"hello"


async def test_views(fake: FakeSlack, client: AsyncWebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    view_id = (await client.views_open(trigger_id="1.2.3", view=modal))["view"]["id"]
    updated = await client.views_update(view_id=view_id, view={**modal, "blocks": [SECTION]})
    assert updated["view"]["blocks"] == [SECTION]
    assert fake.views[view_id]["blocks"] == [SECTION]
    assert await slack_error(client.views_update(view_id="V404", view=modal)) == "not_found"
    home = {"type": "home", "blocks": [SECTION]}
    assert (await client.views_publish(user_id="U1", view=home))["view"]["type"] == "home"


@pytest.fixture
def no_retry_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk adds up to a second of random jitter to Retry-After; keep the suite fast.
    monkeypatch.setattr(random, "random", lambda: 0.0)


@pytest.mark.usefixtures("no_retry_jitter")
async def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    channel = fake.add_channel("inc-1")
    client = AsyncWebClient(
        token=TOKEN, base_url=fake.url, retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )
    fake.fail_next("chat.postMessage", status=429, retry_after=0)
    await client.chat_postMessage(channel=channel.id, text="hi")
    assert [(c.status, c.response.get("error")) for c in fake.calls] == [
        (429, "ratelimited"),
        (200, None),
    ]
    assert len(channel.messages) == 1


async def test_rate_limit_answer_shape(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next(None, status=429, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await client.auth_test()
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response.data == {"ok": False, "error": "ratelimited"}


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_is_retried(fake: FakeSlack, status: int) -> None:
    handler = AsyncServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
    )
    client = AsyncWebClient(token=TOKEN, base_url=fake.url, retry_handlers=[handler])
    fake.fail_next("conversations.create", count=2, status=status)
    resp = await client.conversations_create(name="inc-1")
    assert resp["channel"]["name"] == "inc-1"
    assert [c.status for c in fake.calls] == [status, status, 200]


async def test_fail_next_matches_method_and_count(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("users.info", status=200, error="fatal_error")
    fake.fail_next(None, count=2, status=200, error="internal_error")
    assert await slack_error(client.auth_test()) == "internal_error"
    assert await slack_error(client.users_info(user="U1")) == "fatal_error"
    assert await slack_error(client.users_info(user="U1")) == "internal_error"
    await client.users_info(user="U1")
    assert [c.response["ok"] for c in fake.calls] == [False, False, False, True]


async def test_outage(fake: FakeSlack) -> None:
    handler = AsyncServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
    )
    client = AsyncWebClient(token=TOKEN, base_url=fake.url, retry_handlers=[handler])
    fake.set_outage(True)
    with pytest.raises(SlackApiError) as info:
        await client.conversations_create(name="inc-1")
    assert info.value.response.status_code == 503
    assert fake.channels == {}
    fake.set_outage(False)
    await client.conversations_create(name="inc-1")
    assert [c.status for c in fake.calls] == [503, 503, 200]


async def test_wait_for_call(fake: FakeSlack, client: AsyncWebClient) -> None:
    channel = fake.add_channel("inc-1")

    async def post_twice() -> None:
        await client.chat_postMessage(channel=channel.id, text="one")
        await client.chat_postMessage(channel=channel.id, text="two")

    task = asyncio.create_task(post_twice())
    calls = await fake.wait_for_call("chat.postMessage", count=2, timeout=5)
    await task
    assert [c.args["text"] for c in calls] == ["one", "two"]


async def test_wait_for_call_timeout_names_what_was_called(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_channel("inc-1")
    await client.chat_postMessage(channel="inc-1", text="hi")
    await slack_error(client.users_info(user="U404"))
    with pytest.raises(AssertionError) as info:
        await fake.wait_for_call("chat.update", timeout=0.05)
    message = str(info.value)
    assert "chat.update" in message
    assert "chat.postMessage -> ok" in message
    assert "users.info -> user_not_found" in message


async def test_message_metadata_is_checked_and_returned_only_when_asked(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    channel = fake.add_channel("inc-1")
    metadata = {"event_type": "incident_bot_step", "event_payload": {"step": "job:7"}}
    posted = await client.chat_postMessage(channel=channel.id, text="hi", metadata=metadata)
    assert posted["message"]["metadata"] == metadata
    plain = await client.conversations_history(channel=channel.id)
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel=channel.id, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    for bad in (
        {"event_type": "has space", "event_payload": {}},
        {"event_type": "x"},
        {"event_type": "x", "event_payload": [], "extra": 1},
    ):
        error = await slack_error(
            client.chat_postMessage(channel=channel.id, text="hi", metadata=bad)
        )
        assert error == "invalid_metadata_format"


async def test_conversations_list_pages_with_a_cursor(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    for i in range(5):
        fake.add_channel(f"c{i}")
    fake.add_channel("gone").is_archived = True
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_list(limit=2, cursor=cursor, exclude_archived=True)
        seen += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == [f"c{i}" for i in range(5)]
    assert await slack_error(client.conversations_list(cursor="nope")) == "invalid_cursor"
    assert await slack_error(client.conversations_list(limit=0)) == "invalid_limit"
    assert await slack_error(client.conversations_list(types="rooms")) == "invalid_types"


async def test_after_call_runs_once_the_call_is_done_before_it_is_answered(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    seen: list[int] = []
    fake.after_call("conversations.create", lambda: seen.append(len(fake.channels)), nth=2)
    await client.conversations_create(name="one")
    assert seen == []
    await client.conversations_create(name="two")
    assert seen == [2]  # the channel existed when the hook ran
    await client.conversations_create(name="three")
    assert seen == [2]
