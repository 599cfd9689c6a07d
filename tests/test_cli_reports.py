"""`incident-bot timeline | postmortem | incidents` as a user runs them: real processes on a
SQLite file the test prepares through the store; the chart from the real Prometheus."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

import bot.cli
from bot.cli.reports import chart_beside, incidents_table, stats_table
from bot.core.exports import CSV_BOM, CSV_COLUMNS, IncidentRecord
from bot.core.stats import incident_stats
from bot.storage.db import make_engine, migrate
from bot.storage.models import Incident, Rollback, TimelineEvent
from bot.storage.store import IncidentStore
from tests.support.metrics_exporter import TrafficExporter
from tests.support.prometheus_process import PrometheusProcess, find_prometheus
from tests.support.realparts import require_binary
from tests.support.report_data import closed_port, prometheus_has_history

# Through `incident-bot` once bot/cli/__init__.py registers the commands; until then, on their own.
CLI = "bot.cli" if "postmortem" in bot.cli.main.commands else "bot.cli.reports"
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(hours=2)
NOTES = ('Rolled back, "payments" → rev 6, ünïcode 🚀', "=1+2", "two\nlines")


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console entry point
        [sys.executable, "-m", CLI, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def env_for(database: Path, **values: str) -> dict[str, str]:
    ours = ("SLACK_", "ALERTMANAGER_", "API_TOKEN", "PROMETHEUS_URL", "INCIDENT_BOT_CONFIG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env["PROMETHEUS_URL"] = f"http://127.0.0.1:{closed_port()}"  # down unless a test says
    env["LOG_FORMAT"] = "console"
    env.update(values)
    return env


async def prepare(database: Path, *, service_started: datetime | None = None) -> None:
    """INC-1: resolved after a rollback, with notes; INC-2: open, sev3; INC-3 (when asked):
    payments, started `service_started`, for the chart."""
    engine = make_engine(f"sqlite:///{database}")
    await migrate(engine)
    try:
        store = IncidentStore(engine)
        first = await store.save(
            Incident(
                title="HighErrorRate on payments",
                severity="sev1",
                service="payments",
                group_labels={"alertname": "HighErrorRate", "service": "payments"},
                status="resolved",
                started_at=START,
                detected_at=START + timedelta(minutes=1),
                acknowledged_at=START + timedelta(minutes=3),
                mitigated_at=START + timedelta(minutes=20),
                resolved_at=START + timedelta(minutes=50),
                channel_id="C1",
                channel_name="inc-payments",
                commander="U0LEAD",
                resolution_summary="rolled back to revision 6",
            )
        )
        assert first.id is not None
        for i, (kind, text) in enumerate(
            [("alert_firing", "HighErrorRate firing"), *(("note", n) for n in NOTES)]
        ):
            await store.add_event(
                TimelineEvent(
                    incident_id=first.id,
                    occurred_at=START + timedelta(minutes=i),
                    recorded_at=START + timedelta(minutes=i, seconds=2),
                    kind=kind,
                    actor="U0ONCALL1",
                    text=text,
                    source_key=f"cli:{i}",
                )
            )
        await store.save(
            Rollback(
                incident_id=first.id,
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
                created_at=START + timedelta(minutes=9),
                confirmed_at=START + timedelta(minutes=10),
                confirmed_by="U0ONCALL1",
            )
        )
        await store.save(
            Incident(
                title="Slow search",
                severity="sev3",
                service="search",
                started_at=NOW - timedelta(minutes=30),
                detected_at=NOW - timedelta(minutes=29),
            )
        )
        if service_started is not None:
            await store.save(
                Incident(
                    title="Payments errors",
                    severity="sev2",
                    service="payments",
                    started_at=service_started,
                    detected_at=service_started,
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "bot.db"
    await prepare(path)
    return path


def one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode != 0
    assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- timeline -------------------------------------------------------------------------------


def test_timeline_to_a_file_and_to_stdout_in_each_format(database: Path, tmp_path: Path) -> None:
    env = env_for(database)
    out = tmp_path / "exports" / "inc1.csv"
    out.parent.mkdir()
    result = run("timeline", "INC-1", "--format", "csv", "-o", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stderr
    assert [p.name for p in out.parent.iterdir()] == ["inc1.csv"]  # no .part left
    text = out.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text.removeprefix(CSV_BOM), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[5] for r in rows[1:]] == ["HighErrorRate firing", NOTES[0], "'=1+2", "two\nlines"]
    assert rows[1][0] == START.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    result = run("timeline", "inc-1", env=env, cwd=tmp_path)  # Markdown by default
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# INC-1 timeline: HighErrorRate on payments")
    assert "two<br>lines" in result.stdout
    assert START.strftime("| %Y-%m-%dT%H:%M:%SZ | alert_firing |") in result.stdout

    result = run("timeline", "1", "--format", "JSON", "-o", "-", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["incident"]["ref"] == "INC-1"
    assert [e["text"] for e in document["events"]][1:] == list(NOTES)


def test_timeline_refusals_are_one_line(database: Path, tmp_path: Path) -> None:
    env = env_for(database)
    one_line_error(
        run("timeline", "INC-9", env=env, cwd=tmp_path),
        "no incident has the ref INC-9; the latest: INC-2, INC-1",
    )
    one_line_error(
        run("postmortem", "nope", env=env, cwd=tmp_path),
        "'nope' is not an incident ref: refs look like INC-7",
    )
    missing = tmp_path / "no" / "such" / "dir.md"
    result = run("timeline", "INC-1", "-o", str(missing), env=env, cwd=tmp_path)
    one_line_error(result, f"cannot write {missing}")
    result = run("timeline", "INC-1", "--format", "xlsx", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "xlsx" in result.stderr
    assert "Traceback" not in result.stderr


# -- postmortem -----------------------------------------------------------------------------


def test_postmortem_without_prometheus_writes_the_draft_and_says_why_no_chart(
    database: Path, tmp_path: Path
) -> None:
    env = env_for(database)
    result = run("postmortem", "INC-1", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    draft_path = tmp_path / "INC-1-postmortem.md"
    assert "no chart" in result.stderr
    assert draft_path.exists()
    assert not list(tmp_path.glob("*.png"))
    draft = draft_path.read_text(encoding="utf-8")
    assert draft.startswith("# Post-mortem: INC-1 HighErrorRate on payments")
    assert "](INC-1-postmortem-chart.png)" not in draft
    assert "pay:1.7.3" in draft  # the rollback
    assert "| Time to mitigate | mitigated - impact start (the impact's length) | 20m 0s |" in draft
    assert "rolled back to revision 6" in draft

    result = run("postmortem", "INC-1", "-o", "-", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert without_stamp(result.stdout) == without_stamp(draft)


def without_stamp(markdown: str) -> str:
    return re.sub(r"generated by incident-bot at \S+;", "", markdown)


@pytest.fixture
async def traffic(tmp_path: Path) -> AsyncIterator[PrometheusProcess]:
    """The real Prometheus scraping payments at 45% errors, 1.2 s p95."""
    require_binary(find_prometheus)
    async with TrafficExporter(services=("payments",)) as exporter:
        exporter.set_traffic("payments", rps=200, error_ratio=0.45, latency_s=1.2)
        prometheus = PrometheusProcess(
            workdir=tmp_path / "prometheus", scrape_targets=[exporter.target]
        )
        async with prometheus:
            await prometheus_has_history(prometheus.url)
            yield prometheus


async def test_postmortem_writes_the_chart_beside_the_draft_and_links_it(
    traffic: PrometheusProcess, tmp_path: Path
) -> None:
    database = tmp_path / "bot.db"
    await prepare(database, service_started=datetime.now(UTC) - timedelta(minutes=2))
    env = env_for(database, PROMETHEUS_URL=traffic.url)
    out = tmp_path / "reports" / "INC-3 draft.md"
    out.parent.mkdir()
    result = run("postmortem", "INC-3", "-o", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    chart = out.parent / "INC-3-draft-chart.png"
    assert f"Wrote {out} and its chart {chart}" in result.stderr
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    draft = out.read_text(encoding="utf-8")
    assert "![Error rate and latency](INC-3-draft-chart.png)" in draft
    assert "Peak error rate over the incident window (Prometheus): **4" in draft


def test_the_chart_name_is_one_a_markdown_link_can_hold() -> None:
    assert chart_beside(Path("out/INC-7 draft (v2).md")) == Path("out/INC-7-draft-v2-chart.png")
    assert chart_beside(Path("INC-7-postmortem.md")) == Path("INC-7-postmortem-chart.png")
    assert chart_beside(Path("((.md")) == Path("postmortem-chart.png")


# -- incidents ------------------------------------------------------------------------------


def test_incidents_list_json_and_stats(database: Path, tmp_path: Path) -> None:
    env = env_for(database)
    result = run("incidents", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["INC-2", "sev3", "investigating"],
        ["INC-1", "sev1", "resolved"],
    ]
    assert lines[1].endswith("\t#inc-payments\tHighErrorRate on payments")

    result = run("incidents", "--open", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["count"] == 1
    assert document["incidents"][0]["ref"] == "INC-2"
    assert document["incidents"][0]["started_at"].endswith("Z")

    result = run("incidents", "--since", "1h", env=env, cwd=tmp_path)
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["INC-2"]

    result = run("incidents", "--stats", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["incidents"] == 2
    assert stats["by_severity"] == {"sev1": 1, "sev2": 0, "sev3": 1, "sev4": 0}
    assert stats["mitigated_by_rollback"] == 1
    assert stats["rollback_share"] == 0.5
    (noisy,) = stats["noisy_groups"]  # the declared incident has no alert group
    assert noisy["group"] == 'alertname="HighErrorRate", service="payments"'
    assert (noisy["incidents"], noisy["last"]) == (1, "INC-1")
    assert stats["time_to_mitigate"] == {
        "count": 1,
        "median_seconds": 1200.0,
        "p90_seconds": 1200.0,
    }
    since = datetime.fromisoformat(stats["since"].replace("Z", "+00:00"))
    assert abs(since - (datetime.now(UTC) - timedelta(days=30))) < timedelta(minutes=5)

    result = run("incidents", "--stats", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "incidents\t2" in result.stdout
    assert "time to mitigate\tmedian 20m 0s\tp90 20m 0s\tof 1" in result.stdout
    assert "mitigated by rollback\t1\t50%" in result.stdout
    assert 'noisy alert group\talertname="HighErrorRate", service="payments"\t1 incidents' in (
        result.stdout
    )

    result = run("incidents", "--stats", "--since", "all", "--json", env=env, cwd=tmp_path)
    assert json.loads(result.stdout)["since"] is None

    result = run("incidents", "--stats", "--since", "soon", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--since" in result.stderr
    assert "Traceback" not in result.stderr


def test_tables_on_a_terminal() -> None:
    record = IncidentRecord(
        ref="INC-7",
        title="Payments [down] for *everyone*",
        status="monitoring",
        severity="sev1",
        service="payments",
        channel_id="C1",
        channel_name="inc-7",
        started_at=START,
        detected_at=START,
        mitigated_at=START + timedelta(minutes=12),
    )
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    console.print(incidents_table([record]))
    text = out.getvalue()
    for expected in ("INC-7", "sev1", "monitoring", "12m 0s", "#inc-7", "Payments [down]"):
        assert expected in text
    out.truncate(0)
    stats = incident_stats([record], rolled_back={"INC-7"}, since=None, now=NOW)
    console.print(stats_table(stats))
    text = out.getvalue()
    for expected in ("time to mitigate", "12m 0s", "mitigated by rollback", "100%", "sev1"):
        assert expected in text
