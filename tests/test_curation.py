"""Curation: the pure rules (tables), then the page's forms end to end with the exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import aiohttp
import pytest

from bot.core.alerts import format_timestamp
from bot.core.curation import (
    Action,
    CurationError,
    Request,
    apply_action,
    curated_timeline,
    parse_request,
)
from bot.core.exports import Curation, EventRecord
from bot.core.web_tokens import sign_csrf, sign_link
from bot.runtime import BotRuntime
from bot.storage.models import TimelineEvent
from standins.fake_slack import FakeSlack
from tests.support.web_pages import PERSON, WEB_SECRET, get, open_incident, visible_text

T = datetime(2024, 6, 15, 14, 52, tzinfo=UTC)
NOTE = EventRecord(T, T, "note", "U0ONCALL1", "rolled back at 14:38")
ALERT = EventRecord(T, T, "alert_firing", "incident-bot", "New alert HighErrorRate firing")
NONE = Curation()


@pytest.mark.parametrize(
    ("state", "event", "request_", "after", "line"),
    [
        (NONE, ALERT, Request(Action.KEY), Curation(key_moment=True), "Marked key moment by ana"),
        (Curation(key_moment=True), ALERT, Request(Action.UNKEY), NONE, "Unmarked key moment"),
        (NONE, ALERT, Request(Action.HIDE), Curation(hidden=True), "Hidden from the post-mortem"),
        (Curation(hidden=True), ALERT, Request(Action.UNHIDE), NONE, "Shown again"),
        (NONE, ALERT, Request(Action.COMMENT, " noise "), Curation(comment="noise"), "Comment by"),
        (Curation(comment="x"), ALERT, Request(Action.COMMENT, ""), NONE, "Comment removed"),
        (
            NONE,
            NOTE,
            Request(Action.CORRECT, at=T - timedelta(minutes=14)),
            Curation(corrected_at=T - timedelta(minutes=14)),
            "time 2024-06-15T14:52:00Z -> 2024-06-15T14:38:00Z",
        ),
        (
            NONE,
            NOTE,
            Request(Action.CORRECT, "rolled back at 14:40", at=T),
            Curation(corrected_text="rolled back at 14:40"),
            "text -> rolled back at 14:40",
        ),
        (
            Curation(corrected_text="y", corrected_at=T),
            NOTE,
            Request(Action.UNCORRECT),
            NONE,
            "Correction reverted",
        ),
    ],
)
def test_actions(
    state: Curation, event: EventRecord, request_: Request, after: Curation, line: str
) -> None:
    found, audit = apply_action(state, event, request_, "ana")
    assert found == after
    assert line in audit
    assert "ana" in audit


@pytest.mark.parametrize(
    ("state", "event", "request_", "says"),
    [
        (Curation(key_moment=True), ALERT, Request(Action.KEY), "already a key moment"),
        (NONE, ALERT, Request(Action.UNKEY), "not a key moment"),
        (Curation(hidden=True), ALERT, Request(Action.HIDE), "already hidden"),
        (NONE, ALERT, Request(Action.UNHIDE), "not hidden"),
        (NONE, ALERT, Request(Action.COMMENT, ""), "no comment to remove"),
        (NONE, ALERT, Request(Action.COMMENT, "x" * 2001), "at most 2000"),
        (NONE, ALERT, Request(Action.CORRECT, "typo"), "only what people entered"),
        (NONE, NOTE, Request(Action.CORRECT, NOTE.text, at=T), "differs from the original"),
        (NONE, NOTE, Request(Action.UNCORRECT), "nothing to revert"),
        (
            NONE,
            EventRecord(T, T, "curation", "ana", "Hidden by ana"),
            Request(Action.HIDE),
            "cannot itself be curated",
        ),
    ],
)
def test_refused_actions(state: Curation, event: EventRecord, request_: Request, says: str) -> None:
    with pytest.raises(CurationError, match=says):
        apply_action(state, event, request_, "ana")


@pytest.mark.parametrize(
    ("action", "at", "says"),
    [("delete", None, "unknown action"), ("correct", "yesterday", "not ISO 8601")],
)
def test_bad_form_fields(action: str, at: str | None, says: str) -> None:
    with pytest.raises(CurationError, match=says):
        parse_request(action, None, at)


def test_naive_time_is_utc() -> None:
    assert parse_request("correct", "x", "2024-06-15T14:38:00").at == T - timedelta(minutes=14)


def test_corrected_event_moves_to_its_time_and_keeps_the_original() -> None:
    events = [
        (1, EventRecord(T - timedelta(minutes=20), T, "alert_firing", None, "a")),
        (2, EventRecord(T - timedelta(minutes=10), T, "note", None, "b")),
        (3, NOTE),
        (4, EventRecord(T + timedelta(minutes=1), T, "note", None, "d")),
    ]
    moved_at = T - timedelta(minutes=14)
    curations = {3: Curation(corrected_at=moved_at), 4: Curation(hidden=True)}
    out = list(curated_timeline(iter(events), curations, {3: NOTE}))
    assert [e.text for e in out] == ["a", "rolled back at 14:38", "b", "d"]
    moved = out[1]
    assert moved.occurred_at == moved_at
    assert moved.curation is not None
    assert moved.curation.original_at == T
    assert moved.curation.original_text == NOTE.text
    assert out[3].curation == Curation(hidden=True)  # flagged, still there


# -- end to end ----------------------------------------------------------------------------


async def post_form(
    bot: BotRuntime, fields: dict[str, str], headers: dict[str, str] | None = None, query: str = ""
) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{bot.url}/incidents/1/curate{query}",
            data=fields,
            headers=PERSON if headers is None else headers,
            allow_redirects=False,
        ) as r,
    ):
        return r.status, r.headers.get("Location", ""), await r.text()


async def forms_of(bot: BotRuntime, event_id: int) -> str:
    _, _, html = await get(bot, "/incidents/1", PERSON)
    found = re.search(rf'<li [^>]*id="event-{event_id}".*?</li>', html, re.S)
    assert found, f"event {event_id} on the page"
    return found.group(0)


async def act(bot: BotRuntime, event_id: int, action: str, **extra: str) -> None:
    html = await forms_of(bot, event_id)
    csrf = unescape(re.findall(r'name="csrf" value="([^"]+)"', html)[0])
    status, location, body = await post_form(
        bot, {"csrf": csrf, "event": str(event_id), "action": action, **extra}
    )
    assert status == 303, visible_text(body)
    assert location == f"/incidents/1#event-{event_id}"


async def draft(bot: BotRuntime) -> str:
    status, _, text = await get(bot, "/incidents/1/export/postmortem", PERSON)
    assert status == 200
    return text


async def export_json(bot: BotRuntime) -> list[dict[str, object]]:
    _, _, text = await get(bot, "/incidents/1/export/json", PERSON)
    events: list[dict[str, object]] = json.loads(text)["events"]
    return events


async def test_curation_from_the_page_shapes_draft_and_exports(
    page_bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user("U0ANA", "ana", email="ana@example.com")
    incident = await open_incident(page_bot)
    await page_bot.incidents.note(incident, "noise: alert flapping", actor="U0ONCALL1", key="n1")
    await page_bot.incidents.note(incident, "rolled back payment-service", actor="U0LEAD", key="n2")
    rows = {e.text: e.id for e in await page_bot.store.timeline(1)}
    noise, rollback = rows["noise: alert flapping"], rows["rolled back payment-service"]
    assert noise is not None
    assert rollback is not None
    assert "noise: alert flapping" in await draft(page_bot)

    await act(page_bot, noise, "hide")
    await act(page_bot, rollback, "key")
    await act(page_bot, rollback, "comment", text="the <b>fix</b>")
    earlier = (page_bot.clock() - timedelta(minutes=30)).replace(microsecond=0)
    await act(page_bot, rollback, "correct", at=earlier.isoformat(), text="rolled back to rev 6")

    text = await draft(page_bot)
    assert "noise: alert flapping" not in text  # hidden: left out of the draft
    key_section = text.split("## Key moments", 1)[1].split("\n## ", 1)[0]
    assert "rolled back to rev 6" in key_section
    assert text.index("## Key moments") < text.index("## Summary")  # at the top
    assert "_(reviewer: the " in key_section
    assert "<b>" not in key_section  # escaped for Markdown, never raw HTML
    assert "Hidden from the post-mortem by" not in text  # the audit trail stays out of it

    events = await export_json(page_bot)
    by_text = {e["text"]: e for e in events}
    assert by_text["noise: alert flapping"]["hidden"] is True  # flagged, not dropped
    fixed = by_text["rolled back to rev 6"]
    assert fixed["key_moment"] is True
    assert fixed["comment"] == "the <b>fix</b>"
    first = await page_bot.store.get(TimelineEvent, rollback)
    assert first is not None
    assert fixed["original"] == {
        "occurred_at": format_timestamp(first.occurred_at),
        "text": "rolled back payment-service",
    }
    assert fixed["occurred_at"] == format_timestamp(earlier)
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)  # the corrected event moved to its time
    audits = [e for e in events if e["kind"] == "curation"]
    # The signed-in person, mapped to their Slack user by e-mail for the audit.
    assert [a["actor"] for a in audits] == ["U0ANA"] * 4
    assert {a["details"]["by"] for a in audits} == {"ana@example.com"}  # type: ignore[index]
    assert any("Hidden from the post-mortem by ana@example.com" in str(a["text"]) for a in audits)

    _, _, html = await get(page_bot, "/incidents/1", PERSON)
    page = visible_text(html)
    assert "hidden from the post-mortem" in page
    assert "key moment" in page
    assert "first recorded at" in page
    assert "the <b>fix</b>" in page  # shown as text
    assert "<b>fix</b>" not in html  # never as markup

    # Undo: everything comes back, nothing was deleted.
    await act(page_bot, noise, "unhide")
    await act(page_bot, rollback, "uncorrect")
    await act(page_bot, rollback, "unkey")
    text = await draft(page_bot)
    assert "noise: alert flapping" in text
    assert "## Key moments" not in text
    assert "rolled back payment-service" in text
    stored = {e.id: e.text for e in await page_bot.store.timeline(1)}
    assert stored[rollback] == "rolled back payment-service"  # the row itself never changed


async def test_read_only_link_cannot_curate(page_bot: BotRuntime) -> None:
    await open_incident(page_bot)
    token = sign_link(WEB_SECRET, 1, page_bot.clock()).token
    _, _, html = await get(page_bot, f"/incidents/1?t={token}")
    assert "Curate" not in visible_text(html)
    assert '<form method="post"' not in html
    csrf = sign_csrf(WEB_SECRET, "ana@example.com", 1, page_bot.clock())
    status, _, body = await post_form(
        page_bot, {"csrf": csrf, "event": "1", "action": "hide"}, headers={}, query=f"?t={token}"
    )
    assert status == 403
    assert "needs a signed-in person" in visible_text(body)
    assert not await page_bot.store.curations(1)


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"csrf": "", "event": "1", "action": "hide"}, 403, "expired"),
        ({"csrf": "BOB", "event": "1", "action": "hide"}, 403, "expired"),  # bob's token
        ({"csrf": "OK", "event": "abc", "action": "hide"}, 400, "event id"),
        ({"csrf": "OK", "event": "999", "action": "hide"}, 400, "has no event 999"),
        ({"csrf": "OK", "event": "1", "action": "delete"}, 400, "unknown action"),
        ({"csrf": "OK", "event": "1", "action": "correct", "text": "x"}, 400, "only what people"),
    ],
)
async def test_bad_curation_requests_change_nothing(
    page_bot: BotRuntime, fields: dict[str, str], status: int, says: str
) -> None:
    await open_incident(page_bot)
    tokens = {
        "OK": sign_csrf(WEB_SECRET, "ana@example.com", 1, page_bot.clock()),
        "BOB": sign_csrf(WEB_SECRET, "bob@example.com", 1, page_bot.clock()),
    }
    fields = {**fields, "csrf": tokens.get(fields["csrf"], fields["csrf"])}
    before = len(await page_bot.store.timeline(1))
    found, _, body = await post_form(page_bot, fields)
    assert found == status
    assert says in visible_text(body)
    assert not await page_bot.store.curations(1)
    assert len(await page_bot.store.timeline(1)) == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("status", [500, 503])
async def test_slack_down_costs_the_mapping_not_the_curation(
    page_bot: BotRuntime, fake_slack: FakeSlack, status: int
) -> None:
    await open_incident(page_bot)
    fake_slack.fail_next("users.lookupByEmail", count=10, status=status)
    await act(page_bot, 1, "key")
    (audit,) = await page_bot.store.timeline_of_kinds(1, ["curation"])
    assert audit.actor == "ana@example.com"  # no Slack user known: the e-mail itself
    assert (await page_bot.store.curations(1))[1].key_moment
