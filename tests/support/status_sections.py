"""Running /status and reading its sections back from the fake Slack."""

from __future__ import annotations

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from tests.support.slack_client import slash


async def status_sections(bot: BotRuntime, fake_slack: FakeSlack) -> list[str]:
    """Run /status payments in a fresh channel; the text of each block of the answer."""
    channel = fake_slack.add_channel(f"general-{len(fake_slack.channels)}")
    before = len(fake_slack.calls_to("chat.postMessage"))
    assert await slash(bot, "/status", "payments", channel=channel.id) == "Checking payments..."
    await fake_slack.wait_for_call("chat.postMessage", count=before + 1, timeout=20)
    (message,) = [m for m in fake_slack.channels[channel.id].messages if m.blocks]
    texts = []
    for block in message.blocks or []:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", []) if "text" in e]
    return texts


def section(texts: list[str], start: str) -> str:
    found = [t for t in texts if t.startswith(start)]
    assert found, f"no section starting {start!r} in {texts}"
    return found[0]
