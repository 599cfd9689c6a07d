"""People by name in documents read outside Slack: the pure helpers, the cached directory
against the fake Slack over HTTP, and the exports and draft that use them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.exports import EventRecord
from bot.core.people import label_mentions, mentioned_ids, with_names
from bot.core.postmortem import RoleAssignment
from bot.services.people import MAX_AGE, RETRY_FAILED, PeopleDirectory
from bot.services.reports import Reports
from bot.settings import Catalog
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore
from integrations.slack import SlackGateway, make_client
from standins.fake_slack import FakeSlack
from tests.support.bots import Clock

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NAMES = {"U0DANA": "dana", "U0SAM": "Sam Lee"}


@pytest.mark.parametrize(
    ("text", "labelled"),
    [
        (
            "<@U0DANA> made <@U0SAM> the commander",
            "<@U0DANA|dana> made <@U0SAM|Sam Lee> the commander",
        ),
        ("<@U0DANA|old name> ran it", "<@U0DANA|dana> ran it"),  # Slack's label is replaced
        ("<@U0NOBODY> stays an id", "<@U0NOBODY> stays an id"),
        ("no mention, @U0DANA typed by hand", "no mention, @U0DANA typed by hand"),
        ("<#C0INC|inc> and <!here>", "<#C0INC|inc> and <!here>"),
        ("", ""),
    ],
)
def test_label_mentions(text: str, labelled: str) -> None:
    assert label_mentions(text, NAMES) == labelled


def test_a_name_cannot_break_out_of_its_mention() -> None:
    assert label_mentions("<@U0X>", {"U0X": "a|b> <!channel"}) == "<@U0X|ab !channel>"


def test_mentioned_ids_and_names_through_nested_records() -> None:
    assert mentioned_ids(["<@U0DANA> and <@W0SAM|x>", None, "<@U0DANA>"]) == {"U0DANA", "W0SAM"}
    event = EventRecord(T0, T0, "note", "U0DANA", "ask <@U0SAM>")
    nested = {"events": [event], "roles": (RoleAssignment("commander", "<@U0SAM>", T0),)}
    named = with_names(nested, NAMES)
    assert named["events"][0].text == "ask <@U0SAM|Sam Lee>"
    assert named["events"][0].actor == "U0DANA"  # ids stay where they are data
    assert named["roles"][0].user == "<@U0SAM|Sam Lee>"
    assert isinstance(named["roles"], tuple)
    assert isinstance(named["roles"][0], RoleAssignment)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user("U0DANA", "dana.k", real_name="Dana Kowalski", display_name="dana")
    fake.add_user("U0SAM", "sam", real_name="Sam Lee")  # no display name, as many people
    await fake.start()
    yield fake
    await fake.stop()


def gateway(slack: FakeSlack) -> SlackGateway:
    client = make_client(slack.bot_token, slack.url)
    client.retry_handlers = []
    return SlackGateway(client)


async def test_names_are_asked_of_slack_once_and_kept(
    store: IncidentStore, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    people = PeopleDirectory(store, gateway(slack), clock)
    wanted = ["U0DANA", "U0SAM", "U0GONE", "alertmanager", "incident-bot"]
    assert await people.names(wanted) == {"U0DANA": "dana", "U0SAM": "Sam Lee"}
    assert sorted(c.args["user"] for c in slack.calls_to("users.info")) == ["U0DANA", "U0SAM"]

    assert await people.names(wanted) == {"U0DANA": "dana", "U0SAM": "Sam Lee"}
    assert len(slack.calls_to("users.info")) == 2  # from the database this time

    # Without Slack (the CLI with no token) the cache answers alone.
    offline = PeopleDirectory(store, None, clock)
    assert await offline.names(["U0SAM"]) == {"U0SAM": "Sam Lee"}

    # A week later names are asked again; Slack down keeps the names known.
    clock.now = T0 + MAX_AGE + timedelta(minutes=1)
    slack.users["U0SAM"]["profile"]["display_name"] = "sam"
    assert (await people.names(["U0SAM"]))["U0SAM"] == "sam"
    slack.set_outage(True)
    clock.now += MAX_AGE * 2
    assert await people.names(["U0DANA", "U0SAM"]) == {"U0DANA": "dana", "U0SAM": "sam"}


async def test_a_failed_lookup_is_not_asked_again_for_a_while(
    store: IncidentStore, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    people = PeopleDirectory(store, gateway(slack), clock)
    slack.set_outage(True)
    assert await people.names(["U0DANA"]) == {}
    asked = len(slack.calls)
    assert asked > 0
    slack.set_outage(False)
    # Within RETRY_FAILED the next document does not wait for Slack again.
    clock.now = T0 + RETRY_FAILED - timedelta(seconds=1)
    assert await people.names(["U0DANA"]) == {}
    assert len(slack.calls) == asked
    clock.now = T0 + RETRY_FAILED
    assert await people.names(["U0DANA"]) == {"U0DANA": "dana"}


async def incident_with_events(store: IncidentStore) -> Incident:
    incident = await store.save(
        Incident(
            title="HighErrorRate on payments",
            severity="sev1",
            service="payments",
            started_at=T0,
            detected_at=T0 + timedelta(seconds=60),
            acknowledged_at=T0 + timedelta(seconds=90),
            commander="U0SAM",
            roles={"commander": "U0SAM"},
        )
    )
    assert incident.id is not None
    rows: list[dict[str, Any]] = [
        {"kind": "acknowledged", "actor": "U0DANA", "text": "Acknowledged by <@U0DANA>"},
        {"kind": "role_assigned", "actor": "U0DANA", "text": "<@U0DANA> made <@U0SAM> lead"},
        {"kind": "note", "actor": "U0SAM", "text": "rolling back"},
    ]
    for i, row in enumerate(rows):
        at = T0 + timedelta(seconds=90 + i)
        await store.add_event(
            TimelineEvent(
                incident_id=incident.id,
                occurred_at=at,
                recorded_at=at,
                source_key=f"people:{i}",
                **row,
            )
        )
    return incident


async def test_exports_and_the_draft_show_people_by_name(
    store: IncidentStore, slack: FakeSlack
) -> None:
    incident = await incident_with_events(store)
    clock = Clock(T0)
    reports = Reports(store, Catalog(), clock, people=PeopleDirectory(store, gateway(slack), clock))
    markdown = (await reports.timeline_bytes(incident, "md")).decode()
    assert "| acknowledged | @dana | Acknowledged by @dana |" in markdown
    assert "| role_assigned | @dana | @dana made @Sam Lee lead |" in markdown
    assert "U0DANA" not in markdown and "U0SAM" not in markdown

    text = (await reports.timeline_bytes(incident, "csv")).decode().removeprefix("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["actor"] for r in rows] == ["'@dana", "'@dana", "'@Sam Lee"]  # formula-guarded

    document = json.loads(await reports.timeline_bytes(incident, "json"))
    first = document["events"][0]
    assert (first["actor"], first["actor_name"]) == ("U0DANA", "dana")  # the id stays
    assert first["text"] == "Acknowledged by <@U0DANA|dana>"

    draft = (await reports.postmortem(incident)).markdown
    assert "| Commander | @Sam Lee |" in draft
    assert "@U0" not in draft
