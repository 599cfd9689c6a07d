"""The incident list and the stats of `incident-bot incidents`: rich tables on a terminal,
tab-separated lines when piped."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from bot.core.exports import IncidentRecord, format_utc_seconds
from bot.core.lifecycle import format_duration
from bot.core.postmortem import format_percent
from bot.core.stats import DurationSummary, IncidentStats


def incident_line(row: IncidentRecord) -> str:
    """One tab-separated line: ref, severity, status, start, channel, title."""
    channel = f"#{row.channel_name}" if row.channel_name else "-"
    started = format_utc_seconds(row.started_at)
    title = " ".join(row.title.split())
    return f"{row.ref}\t{row.severity}\t{row.status}\t{started}\t{channel}\t{title}"


def incidents_table(rows: list[IncidentRecord]) -> Table:
    table = Table(title=f"Incidents ({len(rows)})", title_justify="left")
    for name in ("ref", "sev", "status", "started (UTC)", "mitigated after", "service"):
        table.add_column(name, no_wrap=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("title", overflow="fold")
    for row in rows:
        impact = row.mitigated_at - row.started_at if row.mitigated_at else None
        table.add_row(
            Text(row.ref, style="bold"),
            Text(row.severity, style="red" if row.severity == "sev1" else ""),
            Text(row.status),
            Text(format_utc_seconds(row.started_at)),
            Text(format_duration(impact, every_unit=True, unknown="—")),
            Text(row.service or "—"),
            Text(f"#{row.channel_name}" if row.channel_name else "—"),
            Text(row.title),
        )
    return table


def _window(stats: IncidentStats) -> str:
    start = format_utc_seconds(stats.since) if stats.since else "the first incident"
    return f"{start} to {format_utc_seconds(stats.until)}"


def _summary_cells(summary: DurationSummary) -> tuple[str, str, str]:
    return (
        format_duration(summary.median, every_unit=True, unknown="—"),
        format_duration(summary.p90, every_unit=True, unknown="—"),
        str(summary.count),
    )


_MEASURES = (
    ("time to acknowledge", "time_to_acknowledge"),
    ("time to mitigate", "time_to_mitigate"),
    ("time to resolve", "time_to_resolve"),
)


def stats_table(stats: IncidentStats) -> Table:
    table = Table(title=f"Incidents {_window(stats)}", title_justify="left")
    table.add_column("measure", no_wrap=True)
    table.add_column("median", justify="right")
    table.add_column("p90", justify="right")
    table.add_column("incidents", justify="right")
    table.add_row("incidents", "", "", str(stats.incidents))
    for severity, count in stats.by_severity.items():
        table.add_row(f"  {severity}", "", "", str(count))
    for label, name in _MEASURES:
        summary: DurationSummary = getattr(stats, name)
        table.add_row(label, *_summary_cells(summary))
    share = format_percent(stats.rollback_share)
    table.add_row("mitigated by rollback", share, "", str(stats.mitigated_by_rollback))
    for group in stats.noisy_groups:
        last = f"last {group.last_ref} {format_utc_seconds(group.last_started_at)}"
        table.add_row(f"noisy: {group.group}", last, "", str(group.incidents))
    return table


def stats_lines(stats: IncidentStats) -> str:
    lines: list[str] = [f"window\t{_window(stats)}", f"incidents\t{stats.incidents}"]
    lines += [f"{sev}\t{count}" for sev, count in stats.by_severity.items()]
    for label, name in _MEASURES:
        median, p90, count = _summary_cells(getattr(stats, name))
        lines.append(f"{label}\tmedian {median}\tp90 {p90}\tof {count}")
    share = format_percent(stats.rollback_share)
    lines.append(f"mitigated by rollback\t{stats.mitigated_by_rollback}\t{share}")
    for group in stats.noisy_groups:
        last = f"last {group.last_ref} {format_utc_seconds(group.last_started_at)}"
        lines.append(f"noisy alert group\t{group.group}\t{group.incidents} incidents\t{last}")
    return "\n".join(lines)
