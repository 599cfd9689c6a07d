"""Images of pinned messages: which are fetched (pure, tables), then kept and served."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import aiohttp
import pytest

from bot.core.pinned_images import (
    MAX_BYTES,
    MAX_IMAGES,
    images_to_keep,
    sniffed_type,
    token_may_go_to,
)
from bot.core.web_tokens import sign_link
from bot.runtime import BotRuntime
from standins.fake_slack import FakeFile, FakeSlack
from tests.support.polling import eventually
from tests.support.slack_client import event
from tests.support.web_pages import PERSON, WEB_SECRET, get, open_incident

API = "http://127.0.0.1:4000/api/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def file(**fields: Any) -> dict[str, Any]:
    return {
        "id": "F1",
        "mimetype": "image/png",
        "size": 1000,
        "name": "graph.png",
        "url_private": "https://files.slack.com/files-pri/T1-F1/graph.png",
        **fields,
    }


@pytest.mark.parametrize(
    ("files", "kept"),
    [
        ([file()], ["F1"]),
        ([file(mimetype="image/svg+xml")], []),  # an SVG can carry script
        ([file(mimetype="text/html")], []),
        ([file(size=MAX_BYTES + 1)], []),
        ([file(url_private="https://evil.example/x.png")], []),  # never our token elsewhere
        ([file(url_private="http://files.slack.com/x.png")], []),  # not over plain http
        ([file(url_private="http://127.0.0.1:4000/files-pri/F1")], ["F1"]),  # SLACK_API_URL
        ([file(url_private="http://127.0.0.1:4001/files-pri/F1")], []),  # another port
        ([file(id=f"F{i}") for i in range(MAX_IMAGES + 2)], [f"F{i}" for i in range(MAX_IMAGES)]),
        ([{"id": "F9"}], []),
    ],
)
def test_which_images_are_fetched(files: list[dict[str, Any]], kept: list[str]) -> None:
    assert [f.file_id for f in images_to_keep(files, API)] == kept


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"<html><script>alert(1)</script>", None),
        (b"", None),
    ],
)
def test_bytes_are_what_they_claim(data: bytes, kind: str | None) -> None:
    assert sniffed_type(data) == kind


def test_token_host_rule() -> None:
    assert token_may_go_to("https://files.slack.com/files-pri/x", "https://slack.com/api/")
    assert not token_may_go_to("https://files.slack.com.evil.example/x", "https://slack.com/api/")
    assert not token_may_go_to("not a url", API)


def fake_file(slack: FakeSlack, file_id: str, name: str, content: bytes) -> dict[str, Any]:
    slack.files[file_id] = FakeFile(file_id, name, len(content), content=content, uploaded=True)
    return {
        "id": file_id,
        "name": name,
        "mimetype": "image/png",
        "size": len(content),
        "url_private": slack.private_url(file_id),
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_pinned_graph_is_kept_and_shown_on_the_page(
    page_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    incident = await open_incident(page_bot)
    assert incident.channel_id is not None
    channel = fake_slack.channels[incident.channel_id]
    said = fake_slack.post(channel, "error graph at 14:38", user="U0ONCALL2")
    files = [
        fake_file(fake_slack, "FGRAPH", "graph.png", PNG),
        fake_file(fake_slack, "FFAKE", "fake.png", b"<html><script>alert(1)</script>"),
    ]
    message = {"type": "message", "user": "U0ONCALL2", "text": said.text, "ts": said.ts}
    await event(
        page_bot,
        {
            "type": "pin_added",
            "user": "U0ONCALL1",
            "channel_id": incident.channel_id,
            "item": {
                "type": "message",
                "channel": incident.channel_id,
                "message": {**message, "files": files},
            },
        },
        event_id="EvPINIMG",
    )

    async def kept() -> list[str]:
        rows = await page_bot.store.timeline_of_kinds(1, ["pinned_message"])
        return list(rows[0].details.get("kept_images", [])) if rows else []

    urls = await eventually(kept, what="the pinned graph kept")
    assert len(urls) == 1  # the HTML pretending to be a PNG was not kept
    _, _, html = await get(page_bot, "/incidents/1", PERSON)
    assert f'<img src="{urls[0]}"' in html
    async with (
        aiohttp.ClientSession() as session,
        session.get(page_bot.url + urls[0], headers=PERSON) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert await response.read() == PNG

    # A read link's page carries its token to the image; without any credential: 403.
    token = sign_link(WEB_SECRET, 1, page_bot.clock()).token
    _, _, html = await get(page_bot, f"/incidents/1?t={token}")
    src = unescape(re.findall(r'<img src="([^"]+/images/[^"]+)"', html)[0])
    assert await status_of(page_bot, src) == 200
    assert await status_of(page_bot, urls[0]) == 403
    assert await status_of(page_bot, "/incidents/1/images/999", PERSON) == 404


async def status_of(bot: BotRuntime, path: str, headers: dict[str, str] | None = None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(bot.url + path, headers=headers or {}) as response,
    ):
        await response.read()
        return response.status
