"""The incident page's SVG chart: drawn on the server (pure, table of cases) and served."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.svg_chart import Mark, render_svg_chart
from bot.runtime import BotRuntime
from standins.fake_prometheus import FakePrometheus
from standins.fake_slack import FakeSlack
from tests.support.slack_client import slash
from tests.support.web_pages import PERSON, get, open_incident, visible_text, web_bot

T = datetime(2024, 6, 15, 14, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def points(values: list[float]) -> list[tuple[datetime, float]]:
    return [(T + timedelta(minutes=i), v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("errors", "marks", "shows", "hides"),
    [
        (
            [0.001, 0.45, 0.44, 0.002],
            [Mark(T + timedelta(minutes=1), "impact start", "start")],
            ["impact start", "Error rate", "p95 latency"],
            ["no data"],
        ),
        ([], [], ["no data"], []),
        ([0.1, float("nan"), 0.2], [], ["Error rate"], ["no data"]),
        ([0.1], [Mark(T - timedelta(hours=2), "long before")], [], ["long before"]),
        (
            [0.1],
            [Mark(T + timedelta(minutes=2), '<script>alert("x")</script>')],
            ["&lt;script&gt;"],
            ["<script>"],
        ),
    ],
)
def test_svg_chart(
    errors: list[float], marks: list[Mark], shows: list[str], hides: list[str]
) -> None:
    svg = render_svg_chart(
        points(errors), points([0.2, 1.4]), marks, T, T + timedelta(minutes=10), "INC-7 chart"
    )
    root = ET.fromstring(svg)  # noqa: S314 - our own SVG: well-formed whatever the labels say
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title") is not None
    for text in shows:
        assert text in svg
    for text in hides:
        assert text not in svg
    lines = root.findall(f"{SVG}path")
    assert len(lines) == (2 if errors else 1)  # one line per panel with data


@pytest.fixture
async def fake_prometheus() -> AsyncIterator[FakePrometheus]:
    fake = FakePrometheus()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_page_shows_chart_and_last_status_figures(
    database_url: str, fake_slack: FakeSlack, fake_prometheus: FakePrometheus
) -> None:
    now = datetime.now(UTC)
    fake_prometheus.set_traffic(
        "payments", now - timedelta(hours=1), error_ratio=0.45, latency_s=1.4
    )
    async with web_bot(database_url, fake_slack, prometheus_url=fake_prometheus.url) as bot:
        incident = await open_incident(bot)
        assert incident.channel_id is not None
        _, _, html = await get(bot, "/incidents/1", PERSON)
        assert "No /status was run" in words(html)
        assert 'src="/incidents/1/chart.svg"' in html
        await slash(bot, "/status", "", channel=incident.channel_id)
        await wait_status(bot)
        _, _, html = await get(bot, "/incidents/1", PERSON)
        assert "error rate 45%" in words(html)
        status, headers, svg = await get(bot, "/incidents/1/chart.svg", PERSON)
    assert status == 200
    assert headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(svg)  # noqa: S314 - the bot's own SVG
    assert len(root.findall(f"{SVG}path")) == 2  # error rate and latency, from Prometheus
    assert "impact start" in svg


def words(html: str) -> str:
    return " ".join(visible_text(html).split())


async def wait_status(bot: BotRuntime) -> None:
    from tests.support.polling import eventually

    async def checked() -> bool:
        return bool(await bot.store.timeline_of_kinds(1, ["status_checked"]))

    await eventually(checked, what="the /status figures on the timeline")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_chart_without_prometheus_says_so_and_needs_access(
    database_url: str, fake_slack: FakeSlack
) -> None:
    async with web_bot(database_url, fake_slack) as bot:
        await open_incident(bot)
        status, _, svg = await get(bot, "/incidents/1/chart.svg", PERSON)
        assert status == 200
        assert "no data" in svg
        assert "Prometheus gave no data" in svg
        status, _, _ = await get(bot, "/incidents/1/chart.svg")
        assert status == 403
