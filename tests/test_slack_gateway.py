"""integrations/slack.py against the fake Slack: typed errors, retries, progress-saving calls."""

from __future__ import annotations

import pytest

from integrations.slack import SlackGateway, SlackPermanentError, SlackTransientError, make_client
from standins.fake_slack import FakeSlack
from tests.support.bots import BOT_TOKEN


def gateway(
    fake_slack: FakeSlack, token: str = BOT_TOKEN
) -> tuple[SlackGateway, list[tuple[str, str]], list[int]]:
    seen: list[tuple[str, str]] = []
    retries: list[int] = []
    client = make_client(token, fake_slack.url, observe_retry=lambda: retries.append(1))
    return SlackGateway(client, observe=lambda m, o: seen.append((m, o))), seen, retries


async def test_calls_are_observed(fake_slack: FakeSlack) -> None:
    chat, seen, _ = gateway(fake_slack)
    channel_id, name = await chat.create_channel("inc-20261126-payments")
    assert name == "inc-20261126-payments"
    await chat.set_topic(channel_id, "INC-1")
    assert seen == [("conversations.create", "ok"), ("conversations.setTopic", "ok")]


@pytest.mark.parametrize(
    ("status", "error", "retry_after", "kind", "code"),
    [
        (200, "name_taken", None, SlackPermanentError, "name_taken"),
        (429, None, 30, SlackTransientError, "ratelimited"),
        (503, None, None, SlackTransientError, "service_unavailable"),
    ],
)
async def test_errors_are_typed(
    fake_slack: FakeSlack,
    status: int,
    error: str | None,
    retry_after: int | None,
    kind: type[Exception],
    code: str,
) -> None:
    chat, _, _ = gateway(fake_slack)
    fake_slack.fail_next(
        "conversations.create", status=status, error=error, retry_after=retry_after, count=5
    )
    with pytest.raises(kind) as caught:
        await chat.create_channel("inc-x")
    assert caught.value.error == code  # type: ignore[attr-defined]
    if retry_after is not None:
        assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]


async def test_short_outage_is_retried_in_place_by_slack_sdk(fake_slack: FakeSlack) -> None:
    chat, _, retries = gateway(fake_slack)
    fake_slack.fail_next("conversations.create", status=500, count=1)
    await chat.create_channel("inc-y")
    assert retries == [1]
    assert fake_slack.channel_by_name("inc-y") is not None


async def test_wrong_token_is_permanent(fake_slack: FakeSlack) -> None:
    chat, _, _ = gateway(fake_slack, token="xoxb-wrong")
    with pytest.raises(SlackPermanentError, match="invalid_auth"):
        await chat.bot_user_id()


async def test_pin_and_invite_tolerate_what_is_already_done(fake_slack: FakeSlack) -> None:
    chat, _, _ = gateway(fake_slack)
    channel_id, _ = await chat.create_channel("inc-z")
    posted = await chat.post_message(channel_id, "hello")
    await chat.pin(channel_id, posted.ts)
    await chat.pin(channel_id, posted.ts)
    await chat.invite(channel_id, ["U0ONCALL1"])
    await chat.invite(channel_id, ["U0ONCALL1"])
    channel = fake_slack.channels[channel_id]
    assert channel.pins == {posted.ts}
    assert "U0ONCALL1" in channel.members
