"""The read-only HTTP API against the running bot, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.core.exports import CSV_BOM, CSV_COLUMNS
from bot.runtime import BotRuntime
from bot.storage.models import Incident
from standins.fake_slack import FakeSlack
from tests.support.alerts import T0, alert, notification, send, wait_settled
from tests.support.bots import make_bot
from tests.support.report_data import bulk_events

TOKEN = "api-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOTES = (
    'Rolling back, "payment-service" to rev 6, ünïcode ✓ 🚀',
    '=HYPERLINK("http://evil.example","click")',
    "line one\nline two, with a | pipe",
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def api_bot(database_url: str, fake_slack: FakeSlack) -> AsyncIterator[BotRuntime]:
    async with make_bot(
        database_url,
        fake_slack,
        api_token=SecretStr(TOKEN),
        prometheus_url=f"http://127.0.0.1:{closed_port()}",  # Prometheus down
    ) as runtime:
        yield runtime


async def get(
    bot: BotRuntime, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(bot.url + path, headers=AUTH if headers is None else headers) as r,
    ):
        return r.status, dict(r.headers), await r.read()


async def get_json(bot: BotRuntime, path: str, **kwargs: Any) -> tuple[int, Any]:
    status, headers, body = await get(bot, path, **kwargs)
    assert headers["Content-Type"].startswith("application/json")
    return status, json.loads(body)


async def alert_incident(bot: BotRuntime) -> Incident:
    """INC-1 from real Alertmanager notifications (firing, then resolved), with notes."""
    assert await send(bot, notification(alert("a1"))) == 200
    await wait_settled(bot)
    incident = await bot.store.incident("INC-1")
    assert incident is not None
    for i, text in enumerate(NOTES):
        assert await bot.incidents.note(incident, text, actor="U0ONCALL1", key=f"test:note:{i}")
    resolved = alert("a1", "resolved", ends=T0 + timedelta(minutes=2))
    assert await send(bot, notification(resolved)) == 200
    await wait_settled(bot)
    incident = await bot.store.incident("INC-1")
    assert incident is not None
    assert incident.mitigated_at == T0 + timedelta(minutes=2)
    return incident


# -- refusals -------------------------------------------------------------------------------


async def test_the_api_is_off_without_api_token(bot: BotRuntime) -> None:
    for path in ("/api/v1/incidents", "/api/v1/incidents/INC-1/timeline", "/api/v1/stats"):
        status, body = await get_json(bot, path)
        assert status == 404
        assert body["error"] == "api_disabled"
        assert "API_TOKEN" in body["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
        {"Authorization": TOKEN},
    ],
)
async def test_a_missing_or_wrong_token_is_refused(
    api_bot: BotRuntime, headers: dict[str, str]
) -> None:
    for path in (
        "/api/v1/incidents",
        "/api/v1/incidents/INC-1",
        "/api/v1/incidents/INC-1/timeline?format=csv",
        "/api/v1/incidents/INC-1/postmortem",
        "/api/v1/stats",
    ):
        status, response_headers, body = await get(api_bot, path, headers=headers)
        assert status == 401, path
        assert json.loads(body)["error"] == "unauthorized"
        assert response_headers["WWW-Authenticate"].startswith("Bearer")


async def test_unknown_incidents_and_bad_parameters_are_4xx_never_500(
    api_bot: BotRuntime,
) -> None:
    assert (await get_json(api_bot, "/api/v1/incidents"))[1] == {"incidents": [], "count": 0}
    for ref in ("INC-1", "INC-0", "abc", "99999999999999999999999", "INC-2147483648", "%20"):
        for tail in ("", "/timeline", "/timeline?format=md", "/postmortem"):
            status, body = await get_json(api_bot, f"/api/v1/incidents/{ref}{tail}")
            assert status == 404, (ref, tail)
            assert body["error"] == "not_found"
    bad = [
        ("/api/v1/incidents/INC-1/timeline?format=xlsx", "bad_format"),
        ("/api/v1/incidents/INC-1/timeline?format=", "bad_format"),
        ("/api/v1/stats?since=forever", "bad_since"),
        ("/api/v1/stats?since=0d", "bad_since"),
        ("/api/v1/stats?since=99999999999999999w", "bad_since"),
        ("/api/v1/incidents?since=1y", "bad_since"),
        ("/api/v1/incidents?open=maybe", "bad_open"),
    ]
    for path, error in bad:
        status, body = await get_json(api_bot, path)
        assert (status, body["error"]) == (400, error), path
        assert body["detail"]
    status, _ = await get_json(api_bot, "/api/v1/nothing-here")
    assert status == 404


# -- an incident built by Alertmanager notifications ----------------------------------------


async def test_timeline_in_json_csv_and_markdown_for_an_alert_built_incident(
    api_bot: BotRuntime,
) -> None:
    incident = await alert_incident(api_bot)
    stored = list(await api_bot.store.timeline(1))

    status, headers, body = await get(api_bot, "/api/v1/incidents/INC-1/timeline?format=json")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="INC-1-timeline.json"'
    assert headers["Transfer-Encoding"] == "chunked"
    document = json.loads(body)
    assert document["incident"]["ref"] == "INC-1"
    mitigated = (T0 + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert document["incident"]["mitigated_at"] == mitigated
    events = document["events"]
    assert len(events) == len(stored)
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    assert all(e["occurred_at"].endswith("Z") and e["recorded_at"].endswith("Z") for e in events)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "alert_firing"
    assert {"incident_opened", "channel_opened", "note", "alert_resolved"} <= set(kinds)
    assert [e["text"] for e in events if e["kind"] == "note"] == list(NOTES)
    assert set(events[0]) == {
        "occurred_at",
        "recorded_at",
        "kind",
        "actor",
        "actor_name",
        "text",
        "details",
        "link",
        "phase",
        "key_moment",
        "hidden",
        "comment",
        "original",
    }
    # The default format is JSON.
    assert (await get(api_bot, "/api/v1/incidents/inc-1/timeline"))[2] == body

    status, headers, body = await get(api_bot, "/api/v1/incidents/INC-1/timeline?format=CSV")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="INC-1-timeline.csv"'
    text = body.decode("utf-8")
    assert text.startswith(CSV_BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(CSV_BOM))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(stored) + 1
    notes = [r[5] for r in rows[1:] if r[3] == "note"]
    assert notes == [NOTES[0], "'" + NOTES[1], NOTES[2]]  # the formula is defused
    assert all(r[-1] == "INC-1" for r in rows[1:])

    status, headers, body = await get(api_bot, "/api/v1/incidents/INC-1/timeline?format=md")
    assert status == 200
    assert headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="INC-1-timeline.md"'
    markdown = body.decode("utf-8")
    assert markdown.startswith("# INC-1 timeline: ")
    assert "## Detection" in markdown
    assert "line one<br>line two, with a \\| pipe" in markdown
    assert T0.strftime("| %Y-%m-%dT%H:%M:%SZ | alert_firing |") in markdown

    # The Slack `/incident timeline` and `/incident postmortem` hooks make the same files.
    assert api_bot.incident_deps.timeline_file is not None
    name, content = await api_bot.incident_deps.timeline_file(incident, "md")
    assert (name, content) == ("INC-1-timeline.md", body)
    assert api_bot.incident_deps.postmortem_file is not None
    name, content = await api_bot.incident_deps.postmortem_file(incident, "md")
    assert name == "INC-1-postmortem.md"
    assert content.startswith(b"# Post-mortem: INC-1 ")


async def test_incident_list_detail_postmortem_and_stats(api_bot: BotRuntime) -> None:
    await alert_incident(api_bot)

    status, listing = await get_json(api_bot, "/api/v1/incidents")
    assert status == 200
    assert listing["count"] == 1
    (item,) = listing["incidents"]
    assert item["ref"] == "INC-1"
    assert item["severity"] == "sev1"
    assert item["service"] == "payments"
    assert item["status"] == "monitoring"
    assert item["channel_name"].startswith("inc-")
    assert item["channel_id"]
    assert item["started_at"] == T0.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (await get_json(api_bot, "/api/v1/incidents?open=true"))[1]["count"] == 1
    assert (await get_json(api_bot, "/api/v1/incidents?open"))[1]["count"] == 1
    assert (await get_json(api_bot, "/api/v1/incidents?since=1h"))[1]["count"] == 1
    status, single = await get_json(api_bot, "/api/v1/incidents/1")
    assert (status, single) == (200, item)

    status, headers, body = await get(api_bot, "/api/v1/incidents/INC-1/postmortem")
    assert status == 200
    assert headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="INC-1-postmortem.md"'
    draft = body.decode("utf-8")
    assert draft.startswith("# Post-mortem: INC-1 ")
    assert "**Status: Draft**" in draft
    assert "`alertname=HighErrorRate`" in draft
    assert "<http://prometheus:9090/graph?g0.expr=errors>" in draft
    assert 'Rolling back, "payment-service" to rev 6, ünïcode ✓ 🚀' in draft
    assert "Peak error rate" not in draft  # Prometheus is down: no figure, still a draft
    assert "2m 0s" in draft  # time to mitigate: the alert's endsAt - startsAt

    status, stats = await get_json(api_bot, "/api/v1/stats")
    assert status == 200
    assert stats["incidents"] == 1
    assert stats["by_severity"] == {"sev1": 1, "sev2": 0, "sev3": 0, "sev4": 0}
    assert stats["time_to_mitigate"] == {"count": 1, "median_seconds": 120.0, "p90_seconds": 120.0}
    assert stats["mitigated_by_rollback"] == 0
    assert stats["since"] is not None
    status, lifetime = await get_json(api_bot, "/api/v1/stats?since=all")
    assert (status, lifetime["since"], lifetime["incidents"]) == (200, None, 1)


# -- 50,000 events --------------------------------------------------------------------------

EVENTS = 50_000
MEMORY_BOUND = 40 * 1024 * 1024


async def test_a_50000_event_timeline_streams_as_csv_with_bounded_memory(
    api_bot: BotRuntime,
) -> None:
    incident = await api_bot.store.save(
        Incident(
            title="A very long incident",
            severity="sev2",
            service="payments",
            started_at=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
            detected_at=datetime(2026, 11, 26, 14, 1, tzinfo=UTC),
        )
    )
    await bulk_events(api_bot.store, incident, EVENTS)

    lines = 0
    size = 0
    tail = b""
    healthz_ms: float | None = None
    started = time.monotonic()
    tracemalloc.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{api_bot.url}/api/v1/incidents/{incident.ref}/timeline?format=csv", headers=AUTH
            ) as response,
        ):
            assert response.status == 200
            async for chunk in response.content.iter_chunked(64 * 1024):
                lines += chunk.count(b"\n")
                size += len(chunk)
                tail = (tail + chunk)[-4096:]
                if healthz_ms is None and lines > 10_000:
                    # The server answers other requests while it streams.
                    before = time.monotonic()
                    async with session.get(f"{api_bot.url}/healthz") as health:
                        assert health.status == 200
                    healthz_ms = (time.monotonic() - before) * 1000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started

    assert lines == EVENTS + 1
    assert size > 5 * 1024 * 1024  # more than the bound's eighth: the body was not buffered
    last = tail.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
    assert last.startswith(b"2026-11-26T15:53:19.900Z,")  # 14:30:00 + 49,999 x 0.1 s
    assert b"step 49999" in last
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.1f} MiB"
    assert healthz_ms is not None and healthz_ms < 2000
    assert elapsed < 30, f"{elapsed:.1f} s"


async def test_a_failure_half_way_cuts_the_stream_instead_of_ending_it_cleanly(
    api_bot: BotRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await alert_incident(api_bot)

    async def failing(_incident: Incident, _fmt: str) -> AsyncIterator[bytes]:
        yield b"occurred_at,recorded_at\r\n"
        raise RuntimeError("database went away")

    monkeypatch.setattr(api_bot.reports, "timeline_chunks", failing)
    async with aiohttp.ClientSession() as session:
        url = f"{api_bot.url}/api/v1/incidents/INC-1/timeline?format=csv"
        async with session.get(url, headers=AUTH) as response:
            assert response.status == 200  # the headers were out before the failure
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
    # The bot goes on serving.
    status, _ = await get_json(api_bot, "/api/v1/incidents")
    assert status == 200
