"""Reports from the database (bot/services/reports.py and the store's report queries), on SQLite and
PostgreSQL; Prometheus figures and the chart from the real Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.core.exports import CSV_BOM, CSV_COLUMNS
from bot.core.postmortem import ActionItem as DraftAction
from bot.core.postmortem import RoleAssignment, SeverityChange
from bot.services.reports import Reports, incident_id_of
from bot.storage.db import make_engine, migrate
from bot.storage.models import ActionItem, Incident, IncidentAlert, Rollback, TimelineEvent
from bot.storage.store import IncidentStore
from integrations.prometheus import PrometheusSource
from tests.support.metrics_exporter import TrafficExporter
from tests.support.prometheus_process import PrometheusProcess, find_prometheus
from tests.support.realparts import require_binary
from tests.support.report_data import (
    CATALOG,
    T0,
    at,
    bulk_events,
    closed_port,
    prometheus_has_history,
)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def make_incident(store: IncidentStore, **values: Any) -> Incident:
    fields: dict[str, Any] = {
        "title": "HighErrorRate on payments",
        "severity": "sev1",
        "service": "payments",
        "started_at": T0,
        "detected_at": at(60),
    }
    fields.update(values)
    return await store.save(Incident(**fields))


def event(incident: Incident, seconds: float, kind: str, text: str, **values: Any) -> TimelineEvent:
    assert incident.id is not None
    fields: dict[str, Any] = {
        "incident_id": incident.id,
        "occurred_at": at(seconds),
        "recorded_at": at(seconds + 1),
        "kind": kind,
        "text": text,
        "source_key": f"test:{incident.id}:{kind}:{seconds}:{text[:20]}",
    }
    fields.update(values)
    return TimelineEvent(**fields)


async def add_events(store: IncidentStore, *events: TimelineEvent) -> None:
    for row in events:
        assert await store.add_event(row)


# -- the store ----------------------------------------------------------------------------


async def test_stream_timeline_pages_by_time_then_id_without_gaps_or_repeats(
    store: IncidentStore,
) -> None:
    incident = await make_incident(store)
    # Several events share a time, across page boundaries; inserted out of order.
    times = [5, 1, 1, 1, 3, 3, 1, 9, 3, 5, 1, 7]
    await add_events(store, *(event(incident, t, "note", f"n{i}") for i, t in enumerate(times)))
    assert incident.id is not None
    streamed = [e async for e in store.stream_timeline(incident.id, page=3)]
    assert [(e.occurred_at, e.id) for e in streamed] == sorted(
        (e.occurred_at, e.id) for e in streamed
    )
    assert len({e.id for e in streamed}) == len(times)
    assert [e.id for e in streamed] == [e.id for e in await store.timeline(incident.id)]
    # Exactly a multiple of the page, and an empty timeline.
    assert len([e async for e in store.stream_timeline(incident.id, page=4)]) == len(times)
    other = await make_incident(store)
    assert other.id is not None
    assert [e async for e in store.stream_timeline(other.id)] == []
    assert await store.timeline_count(incident.id) == len(times)
    first = await store.timeline_edge(incident.id, 2)
    last = await store.timeline_edge(incident.id, 2, newest=True)
    assert [e.id for e in first] == [e.id for e in streamed[:2]]
    assert [e.id for e in last] == [e.id for e in streamed[-2:]]


def test_refs_that_no_row_can_have_are_none() -> None:
    assert incident_id_of("INC-7") == 7
    assert incident_id_of("inc-7") == 7
    assert incident_id_of("7") == 7
    for junk in ("", "INC-", "INC-0", "INC--1", "INC-1.5", "x", "9" * 30, "INC-2147483648"):
        assert incident_id_of(junk) is None, junk


# -- exports from the database ------------------------------------------------------------


async def test_exports_stream_every_event_in_all_three_formats(store: IncidentStore) -> None:
    incident = await make_incident(store)
    await bulk_events(store, incident, 2500)
    reports = Reports(store, CATALOG, FixedClock(at(3600)), page_size=100)

    body = await reports.timeline_bytes(incident, "csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix(CSV_BOM))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2501
    assert rows[1][5] == 'step 0, "quoted", ünïcode'
    assert rows[-1][5] == 'step 2499, "quoted", ünïcode'

    document = json.loads(await reports.timeline_bytes(incident, "json"))
    assert document["incident"]["ref"] == incident.ref
    assert [e["details"]["i"] for e in document["events"]] == list(range(2500))

    markdown = (await reports.timeline_bytes(incident, "md")).decode("utf-8")
    assert markdown.startswith(f"# {incident.ref} timeline")
    assert markdown.count("| note |") == 2500

    name, content = await reports.timeline_file(incident, "csv")
    assert name == f"{incident.ref}-timeline.csv"
    assert content == body


async def test_a_reader_that_stops_early_ends_the_export(store: IncidentStore) -> None:
    incident = await make_incident(store)
    await bulk_events(store, incident, 3000)
    reports = Reports(store, CATALOG, FixedClock(at(3600)), page_size=100)
    async with contextlib.aclosing(reports.timeline_chunks(incident, "json")) as batches:
        first = await anext(batches)
    assert first.startswith(b'{"incident"')
    # Nothing left running: the autouse fixture fails the test otherwise.


# -- post-mortem context ------------------------------------------------------------------


async def story(store: IncidentStore) -> Incident:
    """An incident with every kind of record the draft reads."""
    incident = await make_incident(
        store,
        status="resolved",
        acknowledged_at=at(120),
        identified_at=at(600),
        mitigated_at=at(900),
        resolved_at=at(1800),
        commander="U0LEAD",
        roles={"commander": "U0LEAD", "scribe": "U0ONCALL2"},
        resolution_summary="rolled back payment-service to revision 6",
    )
    assert incident.id is not None
    iid = incident.id
    await store.save(
        IncidentAlert(
            incident_id=iid,
            fingerprint="fp1",
            status="resolved",
            starts_at=T0,
            ends_at=at(880),
            labels={"alertname": "HighErrorRate", "service": "payments", "severity": "critical"},
            annotations={"summary": "Error rate above 5%"},
            generator_url="http://prometheus:9090/graph?g0.expr=errors",
        )
    )
    await add_events(
        store,
        event(incident, 0, "alert_firing", "HighErrorRate firing", actor="alertmanager"),
        event(
            incident,
            -240,
            "suspected_deploy",
            "Suspected cause: payment-service revision 7",
            actor="incident-bot",
            details={
                "deployment": "payment-service",
                "revision": 7,
                "images": ["pay:1.8.0"],
                "rolled_out_at": at(-240).isoformat(),
            },
        ),
        event(incident, 120, "acknowledged", "Acknowledged by <@U0ONCALL1>", actor="U0ONCALL1"),
        event(
            incident,
            130,
            "role_assigned",
            "<@U0ONCALL1> made <@U0LEAD> the commander",
            actor="U0ONCALL1",
            details={"role": "commander", "user": "U0LEAD", "actor": "U0ONCALL1"},
        ),
        event(
            incident,
            140,
            "severity_changed",
            "<@U0LEAD> changed the severity: sev2 -> sev1",
            actor="U0LEAD",
            details={"from": "sev2", "to": "sev1", "actor": "U0LEAD"},
        ),
        event(
            incident,
            200,
            "status_checked",
            "/status payments: Error rate 45.0%",
            actor="U0ONCALL1",
            details={
                "error_rate": 0.45,
                "latency_p95": 1.2,
                "request_rate": 200.0,
                "images": ["pay:1.8.0"],
                "pods_in_trouble": 0,
            },
        ),
        event(
            incident,
            300,
            "command",
            "/incident note looking at deploys -> Noted.",
            actor="U0ONCALL2",
            details={"command": "/incident note looking at deploys", "result": "Noted."},
        ),
        event(
            incident,
            310,
            "note",
            "TODO: alert on 5xx per pod @U0ONCALL2 --due 2026-12-01",
            actor="U0ONCALL2",
        ),
        event(incident, 320, "note", "  todo add a canary stage", actor="U0ONCALL1"),
        event(incident, 330, "note", "Todos are fun, not an action", actor="U0ONCALL1"),
        event(incident, 700, "rollback_completed", "Rollback completed", actor="U0ONCALL1"),
        event(incident, 900, "alert_resolved", "HighErrorRate resolved", actor="alertmanager"),
    )
    await store.save(
        Rollback(
            incident_id=iid,
            channel_id="C1",
            requested_by="U0ONCALL1",
            namespace="production",
            deployment="payment-service",
            resource_version="1",
            from_revision=7,
            to_revision=6,
            from_images=["pay:1.8.0"],
            to_images=["pay:1.7.3"],
            status="completed",
            created_at=at(640),
            confirmed_by="U0ONCALL1",
            confirmed_at=at(650),
            finished_at=at(700),
        )
    )
    await store.save(
        Rollback(
            incident_id=iid,
            channel_id="C1",
            requested_by="U0STRANGER",
            namespace="production",
            deployment="payment-service",
            resource_version="1",
            to_revision=5,
            status="cancelled",
            created_at=at(630),
        )
    )
    await store.save(
        ActionItem(
            incident_id=iid,
            text="Add a canary stage",
            owner="U0LEAD",
            due="2026-12-15",
            created_by="U0LEAD",
            created_at=at(1000),
        )
    )
    # What incident_service writes for a TODO note: the core's parse of the note wins.
    await store.save(
        ActionItem(
            incident_id=iid,
            text="alert on 5xx per pod @U0ONCALL2 --due 2026-12-01",
            source="note",
            created_by="U0ONCALL2",
            created_at=at(310),
        )
    )
    return incident


async def test_postmortem_context_gathers_every_record_the_draft_shows(
    store: IncidentStore,
) -> None:
    incident = await story(store)
    reports = Reports(store, CATALOG, FixedClock(at(3600)))
    context, view = await reports.postmortem_context(incident)

    assert view is None  # no Prometheus given
    assert context.now == at(3600)
    assert context.incident.ref == incident.ref
    assert context.incident.summary == "rolled back payment-service to revision 6"
    assert [e.occurred_at for e in context.events] == sorted(e.occurred_at for e in context.events)
    assert context.events[0].kind == "suspected_deploy"
    assert len(context.events) == 12
    assert context.severity_history == [
        SeverityChange(at(60), None, "sev2", "alertmanager"),
        SeverityChange(at(140), "sev2", "sev1", "<@U0LEAD>"),
    ]
    # The event explains the commander; the scribe is known only from incident.roles.
    assert context.roles == [
        RoleAssignment("scribe", "<@U0ONCALL2>", at(120)),
        RoleAssignment("commander", "<@U0LEAD>", at(130)),
    ]
    (rollback,) = context.rollbacks  # the cancelled preview never ran
    assert rollback["from_images"] == ["pay:1.8.0"]
    assert rollback["to_images"] == ["pay:1.7.3"]
    assert rollback["to_revision"] == 6
    assert rollback["by"] == "<@U0ONCALL1>"
    assert rollback["at"] == at(650)
    assert rollback["outcome"] == "completed"
    assert context.suspected_deploy is not None
    assert context.suspected_deploy["revision"] == 7
    assert context.suspected_deploy["reason"].startswith("Suspected cause")
    assert context.suspected_deploy["rolled_out_at"] == at(-240)
    assert context.incident.commander == "<@U0LEAD>"
    (figures,) = context.status_figures
    assert figures.at == at(200)
    assert dict(figures.figures) == {
        "error_rate": 0.45,
        "latency_p95_s": 1.2,
        "request_rate": 200.0,
    }
    (alert,) = context.alerts
    assert alert["name"] == "HighErrorRate"
    assert alert["ends_at"] == at(880)
    assert alert["generator_url"].startswith("http://prometheus:9090/")
    assert [(c.at, c.user, c.command, c.result) for c in context.commands] == [
        (at(200), "<@U0ONCALL1>", "/status payments", "Error rate 45.0%"),
        (at(300), "<@U0ONCALL2>", "/incident note looking at deploys", "Noted."),
        (
            at(630),
            "<@U0STRANGER>",
            "/rollback payment-service -n production --to-revision 5",
            "cancelled",
        ),
        (
            at(640),
            "<@U0ONCALL1>",
            "/rollback payment-service -n production --to-revision 6",
            "completed",
        ),
    ]
    assert list(context.action_items) == [
        DraftAction("Add a canary stage", "<@U0LEAD>", date(2026, 12, 15), "action"),
        DraftAction("alert on 5xx per pod", "@U0ONCALL2", date(2026, 12, 1), "note"),
    ]  # "todo add a canary stage" is the first item again; "Todos are fun" is no TODO
    assert context.participants[:2] == ["<@U0ONCALL1>", "<@U0LEAD>"]
    assert set(context.participants) == {
        "<@U0ONCALL1>",
        "<@U0LEAD>",
        "<@U0ONCALL2>",
    }  # not "alertmanager", "incident-bot"; the cancelled preview's requester took no part

    draft = await reports.postmortem(incident, chart_filename="chart.png")
    assert draft.chart is None  # no Prometheus: no chart, and no link to one
    markdown = draft.markdown
    assert "](chart.png)" not in markdown
    assert f"# Post-mortem: {incident.ref} HighErrorRate on payments" in markdown
    assert "**Status: Draft**" in markdown
    assert "| 2026-11-26T14:40:50Z | @U0ONCALL1 | production/payment-service" in markdown
    assert "pay:1.7.3" in markdown
    assert "| 2026-11-26T14:33:20Z | 45% | 1.2 s | 200 req/s |" in markdown
    assert "| revision | 7 |" in markdown
    assert "| rolled_out_at | 2026-11-26T14:26:00Z |" in markdown
    assert "| Commander | @U0LEAD |" in markdown
    assert "| 1 | Add a canary stage | @U0LEAD | 2026-12-15 | action |" in markdown
    # Each action item once, although the table and the TODO note both hold it.
    assert markdown.count("alert on 5xx per pod") == 2  # the action item and the timeline note
    assert "Participants: @U0ONCALL1, @U0LEAD, @U0ONCALL2" in markdown
    assert "`severity=critical`" in markdown
    assert "| Time to mitigate | mitigated - impact start (the impact's length) | 15m 0s |" in (
        markdown
    )

    name, content = await reports.postmortem_file(incident, "md")
    assert name == f"{incident.ref}-postmortem.md"
    assert content.decode("utf-8") == markdown


async def test_a_huge_incident_draft_shows_both_ends_of_the_timeline_and_points_to_the_export(
    store: IncidentStore,
) -> None:
    incident = await make_incident(store)
    await bulk_events(store, incident, 30)
    # A TODO note in the middle, left out of the timeline section, is still an action item.
    await add_events(store, event(incident, 1.45, "note", "TODO: page earlier"))
    reports = Reports(store, CATALOG, FixedClock(at(3600)), timeline_edge=5)
    context, _ = await reports.postmortem_context(incident)
    kinds = [e.kind for e in context.events]
    assert kinds == ["note"] * 5 + ["omitted"] + ["note"] * 5
    gap = context.events[5]
    assert "21 more events" in gap.text
    assert f"incident-bot timeline {incident.ref} --format md" in gap.text
    assert context.events[4].details == {"i": 4}
    assert context.events[-1].details == {"i": 29}
    assert [a.text for a in context.action_items] == ["page earlier"]
    markdown = (await reports.postmortem(incident)).markdown
    assert "21 more events, left out of this draft" in markdown
    assert f"GET /api/v1/incidents/{incident.ref}/timeline?format=md" in markdown
    assert "| 1 | page earlier |" in markdown

    # At the limit (2 * edge + 1 events) nothing is left out.
    small = await make_incident(store)
    await bulk_events(store, small, 11)
    context, _ = await reports.postmortem_context(small)
    assert [e.kind for e in context.events] == ["note"] * 11


async def test_a_replacement_template_is_used_and_its_faults_are_reported(
    store: IncidentStore, tmp_path: Path
) -> None:
    incident = await make_incident(store)
    template = tmp_path / "pm.md.j2"
    template.write_text("# {{ incident.ref }}: {{ durations.time_to_detect|duration }}\n")
    reports = Reports(store, CATALOG, FixedClock(at(3600)), template_path=template)
    assert (await reports.postmortem(incident)).markdown == f"# {incident.ref}: 1m 0s\n"
    template.write_text("{{ nope.nothing }}\n")
    with pytest.raises(ValueError, match="line 1"):
        await reports.postmortem(incident)
    reports.template_path = tmp_path / "missing.j2"
    with pytest.raises(ValueError, match=r"missing\.j2"):
        await reports.postmortem(incident)


# -- Prometheus ---------------------------------------------------------------------------


async def test_a_dead_or_failing_prometheus_costs_the_figures_not_the_draft(
    store: IncidentStore,
) -> None:
    incident = await make_incident(store)
    dead = PrometheusSource(f"http://127.0.0.1:{closed_port()}", timeout=2)
    reports = Reports(store, CATALOG, FixedClock(at(3600)), prometheus=dead, timeout=3)
    draft = await reports.postmortem(incident, chart_filename="c.png")
    assert draft.context.peak_error_rate is None
    assert draft.chart is None
    assert "Peak error rate" not in draft.markdown

    async def broken(_request: web.Request) -> web.Response:
        return web.json_response({"status": "error", "error": "overloaded"}, status=500)

    app = web.Application()
    app.router.add_route("*", "/api/v1/query_range", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        failing = PrometheusSource(f"http://127.0.0.1:{port}", timeout=2)
        reports.prometheus = failing
        draft = await reports.postmortem(incident, chart_filename="c.png")
        assert draft.chart is None
        assert draft.context.peak_error_rate is None
    finally:
        await runner.cleanup()


@pytest.fixture
async def traffic(tmp_path: Path) -> AsyncIterator[tuple[TrafficExporter, PrometheusProcess]]:
    """The real Prometheus scraping payments at 45% errors, 1.2 s p95, every second."""
    require_binary(find_prometheus)
    async with TrafficExporter(services=("payments",)) as exporter:
        exporter.set_traffic("payments", rps=200, error_ratio=0.45, latency_s=1.2)
        prometheus = PrometheusProcess(
            workdir=tmp_path / "prometheus", scrape_targets=[exporter.target]
        )
        async with prometheus:
            await prometheus_has_history(prometheus.url)
            yield exporter, prometheus


async def test_peak_error_rate_and_chart_from_the_real_prometheus(
    traffic: tuple[TrafficExporter, PrometheusProcess], tmp_path: Path
) -> None:
    _, prometheus = traffic
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    await migrate(engine)
    try:
        store = IncidentStore(engine)
        now = datetime.now(UTC)
        incident = await make_incident(
            store, started_at=now - timedelta(minutes=2), detected_at=now - timedelta(minutes=1)
        )
        source = PrometheusSource(prometheus.url)
        reports = Reports(store, CATALOG, lambda: datetime.now(UTC), prometheus=source, timeout=10)
        draft = await reports.postmortem(incident, chart_filename="INC-chart.png")
    finally:
        await engine.dispose()
    peak = draft.context.peak_error_rate
    assert peak == pytest.approx(0.45, abs=0.05)
    assert draft.context.peak_error_rate_at is not None
    assert incident.started_at <= draft.context.peak_error_rate_at <= datetime.now(UTC)
    assert draft.chart is not None
    assert draft.chart.startswith(b"\x89PNG\r\n\x1a\n")
    assert "![Error rate and latency](INC-chart.png)" in draft.markdown
    assert "Peak error rate over the incident window (Prometheus): **4" in draft.markdown


# -- stats --------------------------------------------------------------------------------


async def test_stats_count_rollbacks_that_came_before_mitigation(store: IncidentStore) -> None:
    now = at(40 * 86400)
    fast = await make_incident(
        store,
        started_at=at(86400),
        detected_at=at(86400 + 60),
        acknowledged_at=at(86400 + 120),
        mitigated_at=at(86400 + 600),
        resolved_at=at(86400 + 1200),
        severity="sev1",
    )
    slow = await make_incident(
        store,
        started_at=at(20 * 86400),
        detected_at=at(20 * 86400 + 60),
        mitigated_at=at(20 * 86400 + 3600),
        severity="sev2",
    )
    await make_incident(
        store, started_at=at(39 * 86400), detected_at=at(39 * 86400), severity="sev3"
    )

    def rollback(incident: Incident, confirmed: datetime, status: str = "completed") -> Rollback:
        return Rollback(
            incident_id=incident.id,
            channel_id="C1",
            requested_by="U1",
            namespace="production",
            deployment="payment-service",
            resource_version="1",
            to_revision=1,
            status=status,
            created_at=confirmed,
            confirmed_at=confirmed,
        )

    assert fast.mitigated_at is not None and slow.mitigated_at is not None
    await store.save(rollback(fast, fast.mitigated_at - timedelta(minutes=5)))
    await store.save(rollback(slow, slow.mitigated_at + timedelta(minutes=5)))  # after: no
    await store.save(rollback(slow, slow.started_at, status="failed"))  # failed: no

    reports = Reports(store, CATALOG, FixedClock(now))
    stats = await reports.stats(None)
    assert stats.incidents == 3
    assert stats.by_severity == {"sev1": 1, "sev2": 1, "sev3": 1, "sev4": 0}
    assert stats.mitigated_by_rollback == 1
    assert stats.rollback_share == pytest.approx(1 / 3)
    assert stats.time_to_mitigate.count == 2
    assert stats.time_to_mitigate.median == timedelta(seconds=(600 + 3600) / 2)
    assert stats.time_to_acknowledge.count == 1

    recent = await reports.stats(timedelta(days=30))
    assert recent.incidents == 2
    assert recent.mitigated_by_rollback == 0
    assert recent.since == now - timedelta(days=30)
    assert (await reports.stats(timedelta(hours=1))).incidents == 0


async def test_the_listing_filters_open_and_recent(store: IncidentStore) -> None:
    await make_incident(store, started_at=at(0), status="resolved", resolved_at=at(100))
    await make_incident(store, started_at=at(86400 * 3), detected_at=at(86400 * 3))
    reports = Reports(store, CATALOG, FixedClock(at(86400 * 4)))
    assert [r.ref for r in await reports.incidents()] == ["INC-2", "INC-1"]
    assert [r.ref for r in await reports.incidents(open_only=True)] == ["INC-2"]
    assert [r.ref for r in await reports.incidents(since=timedelta(days=2))] == ["INC-2"]
    assert await reports.incident("INC-2") is not None
    assert await reports.incident("INC-3") is None
    assert await reports.incident("INC-99999999999999") is None


async def test_reports_leave_the_event_loop_free_while_exporting(store: IncidentStore) -> None:
    incident = await make_incident(store)
    await bulk_events(store, incident, 5000)
    reports = Reports(store, CATALOG, FixedClock(at(3600)))
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        body = await reports.timeline_bytes(incident, "md")
    finally:
        done.set()
        await task
    assert body.count(b"| note |") == 5000
    assert ticks > 3  # the loop kept running other work during the export
