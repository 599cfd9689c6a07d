"""The incident pages over real HTTP against the running bot, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from bot.core.web_tokens import sign_link
from bot.runtime import BotRuntime
from bot.settings import ConfigError, Settings
from standins.fake_slack import FakeSlack
from tests.support.slack_client import slash
from tests.support.web_pages import (
    BUTTONS,
    EVIL,
    PERSON,
    USER_HEADER,
    WEB_SECRET,
    get,
    local,
    open_incident,
    visible_text,
    web_bot,
)


def link_in(text: str) -> str:
    found = re.search(r"<(https://incidents\.example\.com/incidents/[^|>]+)\|", text)
    assert found, text
    return found.group(1)


async def test_opening_message_links_to_a_page_showing_the_timeline(
    page_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    incident = await open_incident(page_bot)
    assert incident.channel_id is not None
    await page_bot.incidents.note(incident, EVIL, actor="U0ONCALL1", key="test:evil")
    posted = fake_slack.calls_to("chat.postMessage")[0].args
    contexts = [b for b in posted["blocks"] if b["type"] == "context"]
    url = link_in(str(contexts))
    assert "valid until" in str(contexts)
    status, headers, html = await get(page_bot, local(url))
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    text = visible_text(html)
    assert "INC-1" in text
    assert "HighErrorRate" in text
    assert "New alert HighErrorRate firing" in text
    assert "Read-only link" in text
    assert "Detection" in text  # grouped by phase
    # Outside text is escaped: no tag of the note reaches the page.
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # Both UTC times of each event, machine-readable for the local-time script.
    assert re.search(r'<time class="local" datetime="\d{4}-\d\d-\d\dT[\d:.]+Z"', html)
    assert "recorded " in text
    # No external asset: every src/href is the bot's own or a link out of the page.
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert ref.startswith(("/", "#", "https://slack.com/", "http://prometheus")), ref


async def test_timeline_command_posts_a_fresh_link(
    page_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    incident = await open_incident(page_bot)
    assert incident.channel_id is not None
    reply = await slash(page_bot, "/incident", "timeline csv", channel=incident.channel_id)
    url = link_in(reply)
    upload = (await fake_slack.wait_for_call("files.completeUploadExternal"))[0].args
    assert url in str(upload)  # the link is posted in the channel with the file
    status, _, html = await get(page_bot, local(url))
    assert status == 200
    assert "INC-1" in html


@pytest.mark.parametrize(
    ("mangle", "says"),
    [
        ("expired", "This link has expired"),
        ("tampered", "This link is not valid"),
        ("other", "This link is for another incident"),
        ("none", "needs a signed link"),
    ],
)
async def test_refused_links_get_a_clear_403_page(
    page_bot: BotRuntime, mangle: str, says: str
) -> None:
    incident = await open_incident(page_bot)
    assert incident.id is not None
    now = page_bot.clock()
    token = {
        "expired": sign_link(WEB_SECRET, incident.id, now - timedelta(days=8)).token,
        "tampered": sign_link(WEB_SECRET, incident.id, now).token[:-2] + "xx",
        "other": sign_link(WEB_SECRET, 99, now).token,
        "none": None,
    }[mangle]
    path = f"/incidents/{incident.id}" + (f"?t={token}" if token else "")
    status, headers, html = await get(page_bot, path)
    assert status == 403
    assert headers["Content-Type"].startswith("text/html")
    assert says in visible_text(html)
    assert "HighErrorRate" not in html  # nothing of the incident leaks


async def test_signed_in_person_lists_and_filters_incidents(page_bot: BotRuntime) -> None:
    await open_incident(page_bot)
    status, _, html = await get(page_bot, "/incidents", PERSON)
    assert status == 200
    text = visible_text(html)
    assert "Signed in as ana@example.com" in text
    assert "INC-1" in text
    _, _, html = await get(page_bot, "/incidents?status=resolved", PERSON)
    assert "No incidents match" in visible_text(html)
    _, _, html = await get(page_bot, "/incidents?severity=sev1&service=payments", PERSON)
    assert "INC-1" in visible_text(html)
    # A read link opens one incident, not the list.
    token = sign_link(WEB_SECRET, 1, page_bot.clock()).token
    status, _, html = await get(page_bot, f"/incidents?t={token}")
    assert status == 403
    assert "needs a signed-in person" in visible_text(html)


async def test_timeline_filters_by_kind_and_text(page_bot: BotRuntime) -> None:
    incident = await open_incident(page_bot)
    await page_bot.incidents.note(incident, "Looking at the pool", actor="U0ONCALL1", key="t:n1")
    await page_bot.incidents.note(incident, "Rolled back v2.3.1", actor="U0ONCALL2", key="t:n2")
    _, _, html = await get(page_bot, "/incidents/1?kind=notes", PERSON)
    text = visible_text(html)
    assert "Looking at the pool" in text
    assert "New alert HighErrorRate firing" not in text
    assert "2 events match" in text
    _, _, html = await get(page_bot, "/incidents/1?q=ROLLED", PERSON)
    text = visible_text(html)
    assert "Rolled back v2.3.1" in text
    assert "Looking at the pool" not in text
    _, _, html = await get(page_bot, "/incidents/1?kind=alerts&q=nothing-like-this", PERSON)
    assert "No events match these filters" in visible_text(html)
    # A bad page number is a clear 400, never a 500.
    status, _, html = await get(page_bot, "/incidents/1?page=abc", PERSON)
    assert status == 400
    assert "page must be a whole number" in visible_text(html)


async def test_export_buttons_stream_the_api_exports(page_bot: BotRuntime) -> None:
    await open_incident(page_bot)
    _, _, html = await get(page_bot, "/incidents/1", PERSON)
    exports = BUTTONS.findall(html)
    assert [label for _, label in exports] == ["Markdown", "CSV", "JSON", "Post-mortem draft"]
    for href, label in exports:
        status, headers, body = await get(page_bot, unescape(href), PERSON)
        assert status == 200, label
        assert "attachment" in headers["Content-Disposition"]
        assert "INC-1" in body or "HighErrorRate" in body
    token = sign_link(WEB_SECRET, 1, page_bot.clock()).token
    _, _, html = await get(page_bot, f"/incidents/1?t={token}")
    hrefs = [unescape(h) for h, _ in BUTTONS.findall(html)]
    assert all(parse_qs(urlsplit(h).query)["t"] == [token] for h in hrefs)
    status, _, _ = await get(page_bot, hrefs[1])
    assert status == 200
    status, _, _ = await get(page_bot, "/incidents/1/export/csv")  # no credentials
    assert status == 403


async def test_unknown_incident_is_404_for_a_person(page_bot: BotRuntime) -> None:
    status, _, html = await get(page_bot, "/incidents/INC-404", PERSON)
    assert status == 404
    assert "There is no incident" in visible_text(html)


async def test_header_from_an_untrusted_peer_is_ignored(
    database_url: str, fake_slack: FakeSlack
) -> None:
    async with web_bot(database_url, fake_slack, proxies="10.0.0.0/8") as bot:
        status, _, html = await get(bot, "/incidents", PERSON)
        assert status == 403
        assert "needs a signed-in person" in visible_text(html)


async def test_pages_are_off_without_web_secret(database_url: str, fake_slack: FakeSlack) -> None:
    async with web_bot(database_url, fake_slack, secret=None) as bot:
        status, _, html = await get(bot, "/incidents/1", PERSON)
        assert status == 404
        assert "Set WEB_SECRET" in visible_text(html)
        await open_incident(bot)
        posted = fake_slack.calls_to("chat.postMessage")[0].args
        assert "incident page" not in str(posted["blocks"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"web_secret": ""}, "WEB_SECRET is blank"),
        ({"web_secret": "short"}, "at least 32"),
        ({"web_secret": WEB_SECRET, "web_trusted_proxies": "10.0.0.0/8,nope"}, "'nope'"),
        ({"web_secret": WEB_SECRET, "web_auth_user_header": USER_HEADER}, "WEB_TRUSTED_PROXIES"),
        ({"web_secret": WEB_SECRET, "public_url": "incidents.example.com"}, "PUBLIC_URL"),
    ],
)
def test_serve_refuses_bad_web_settings(values: dict[str, str], message: str) -> None:
    settings = Settings.model_validate(
        {
            "slack_bot_token": SecretStr("xoxb-1"),
            "slack_signing_secret": SecretStr("s"),
            "alertmanager_webhook_token": SecretStr("t"),
            **values,
        }
    )
    with pytest.raises(ConfigError, match=message):
        settings.require_for_serve(insecure_webhook=False)
