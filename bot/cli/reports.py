"""`incident-bot timeline`, `postmortem` and `incidents`: reports on the command line.

They read `DATABASE_URL` (migrating it first, as `serve` does), the catalog
(`INCIDENT_BOT_CONFIG`) and, for the post-mortem's peak error rate and chart,
`PROMETHEUS_URL`; no Slack token is needed.

- `timeline REF [--format md|csv|json] [-o FILE]`: the export, streamed to FILE
  (written to `FILE.part`, then renamed) or to stdout.
- `postmortem REF [-o FILE]`: the Markdown draft, to FILE (default
  `INC-7-postmortem.md` in the current directory) with the chart beside it
  (`<name>-chart.png`, linked from the draft) when Prometheus has data for the
  incident window; `-o -` writes the draft to stdout, without a chart.
- `incidents [--open] [--stats] [--since 30d] [--json]`: the list, or the
  stats (`--since` defaults to 30d for them; `all` for every incident); tables
  on a terminal, tab-separated lines when piped, JSON with `--json` (the same
  documents as the HTTP API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.check.results import mask_database_url
from bot.cli.report_tables import incident_line, incidents_table, stats_lines, stats_table
from bot.clock import system_clock
from bot.core.exports import incident_fields
from bot.core.postmortem import PostmortemTemplateError
from bot.core.stats import parse_since
from bot.logs import configure_logging
from bot.services.people import PeopleDirectory
from bot.services.reports import EXPORT_FORMATS, Reports, incident_id_of
from bot.settings import ConfigError, Settings, load_catalog, load_settings
from bot.storage.db import Schema, make_engine, schema_state
from bot.storage.models import Incident
from bot.storage.store import IncidentStore
from integrations.prometheus import PrometheusSource
from integrations.slack import SlackGateway, make_client

# The tables are importable from here too, beside the commands that print them.
__all__ = [
    "chart_beside",
    "incident_line",
    "incidents",
    "incidents_table",
    "postmortem",
    "reports_cli",
    "require_database",
    "stats_lines",
    "stats_table",
    "timeline",
]

PROMETHEUS_TIMEOUT = 5.0
STATS_SINCE = "30d"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@contextlib.asynccontextmanager
async def _open_reports(*, prometheus: bool = False) -> AsyncIterator[Reports]:
    try:
        settings = load_settings()
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    configure_logging("error", settings.log_format)  # to stderr: stdout may be the report
    try:
        catalog = load_catalog(settings.incident_bot_config)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    source = (
        PrometheusSource(
            settings.prometheus_url, timeout=PROMETHEUS_TIMEOUT, verify=settings.prometheus_verify
        )
        if prometheus
        else None
    )
    engine = make_engine(settings.database_url)
    try:
        await require_database(settings.database_url, engine)
        store = IncidentStore(engine)
        yield Reports(
            store,
            catalog,
            system_clock,
            prometheus=source,
            timeout=PROMETHEUS_TIMEOUT,
            template_path=catalog.postmortem_template,
            people=PeopleDirectory(store, _slack_for_names(settings), system_clock),
        )
    finally:
        await engine.dispose()


def _slack_for_names(settings: Settings) -> SlackGateway | None:
    """With the bot's token, names the bot has not cached yet are asked of Slack (one try
    each, within the directory's few seconds); without it, the cache alone answers."""
    if settings.slack_bot_token is None:
        return None
    client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    client.retry_handlers = []
    return SlackGateway(client)


async def require_database(database_url: str, engine: AsyncEngine) -> None:
    """Read-only commands read the bot's database; they never create or migrate one."""
    shown = mask_database_url(database_url)
    try:
        state = await schema_state(database_url, engine)
    except Exception as e:  # the driver's own errors: refused, auth, unknown database...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise click.ClickException(f"cannot read the database {shown}: {first}") from e
    if state.schema is Schema.CURRENT:
        return
    if state.schema is Schema.AHEAD:
        raise click.ClickException(
            f"{state.describe(shown)}: use the incident-bot version that wrote it"
        )
    if state.schema is Schema.BEHIND:
        raise click.ClickException(
            f"{state.describe(shown)}: start `incident-bot serve` once to migrate it"
        )
    raise click.ClickException(
        f"{state.describe(shown)}: point DATABASE_URL at the bot's database "
        "(the one `incident-bot serve` uses)"
    )


LATEST_SHOWN = 5


async def _find(reports: Reports, ref: str) -> Incident:
    incident = await reports.incident(ref)
    if incident is not None:
        return incident
    if incident_id_of(ref) is None:
        raise click.ClickException(f"{ref!r} is not an incident ref: refs look like INC-7")
    latest = [row.ref for row in (await reports.incidents())[:LATEST_SHOWN]]
    known = f"the latest: {', '.join(latest)}" if latest else "there are no incidents yet"
    raise click.ClickException(f"no incident has the ref {ref}; {known}")


# -- timeline -----------------------------------------------------------------------


@click.command("timeline")
@click.argument("ref")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_FORMATS), case_sensitive=False),
    default="md",
    show_default=True,
    help="Markdown for people, CSV for spreadsheets, JSON",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    default=None,
    help="write to FILE instead of stdout",
)
def timeline(ref: str, fmt: str, output: Path | None) -> None:
    """Export an incident's timeline (INC-7) as Markdown, CSV or JSON."""
    fmt = fmt.lower()

    async def work() -> None:
        async with _open_reports() as reports:
            incident = await _find(reports, ref)
            chunks = reports.timeline_chunks(incident, fmt)
            if output is None or str(output) == "-":
                out = sys.stdout.buffer
                try:
                    async with contextlib.aclosing(chunks) as batches:
                        async for batch in batches:
                            out.write(batch)
                    out.flush()
                except BrokenPipeError:  # `| head`: the reader has seen enough
                    os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
                return
            part = output.with_name(output.name + ".part")
            try:
                with part.open("wb") as file:
                    async with contextlib.aclosing(chunks) as batches:
                        async for batch in batches:
                            file.write(batch)
                os.replace(part, output)
            except OSError as e:
                part.unlink(missing_ok=True)
                raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from e
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            click.echo(f"Wrote {output}", err=True)

    asyncio.run(work())


# -- postmortem ---------------------------------------------------------------------


@click.command("postmortem")
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    default=None,
    help="the draft's file (default INC-7-postmortem.md here); the chart goes beside it; "
    "- for stdout, without the chart",
)
def postmortem(ref: str, output: Path | None) -> None:
    """Write the post-mortem draft of an incident (INC-7), with its chart."""

    async def work() -> None:
        async with _open_reports(prometheus=True) as reports:
            incident = await _find(reports, ref)
            to_stdout = output is not None and str(output) == "-"
            target = output if output is not None else Path(f"{incident.ref}-postmortem.md")
            chart_path = chart_beside(target)
            try:
                draft = await reports.postmortem(
                    incident, chart_filename=None if to_stdout else chart_path.name
                )
            except PostmortemTemplateError as e:
                raise click.ClickException(str(e)) from e
            if to_stdout:
                click.echo(draft.markdown, nl=False)
                return
            try:
                if draft.chart is not None:
                    chart_path.write_bytes(draft.chart)
                target.write_text(draft.markdown, encoding="utf-8")
            except OSError as e:
                raise click.ClickException(f"cannot write {target}: {e.strerror or e}") from e
            if draft.chart is not None:
                click.echo(f"Wrote {target} and its chart {chart_path}", err=True)
            else:
                url = reports.prometheus.url if reports.prometheus else "Prometheus"
                click.echo(
                    f"Wrote {target} (no chart: {url} had no data for "
                    f"{incident.service or 'the incident'} in its window, or did not answer)",
                    err=True,
                )

    asyncio.run(work())


def chart_beside(markdown: Path) -> Path:
    """`out/INC-7 draft.md` -> `out/INC-7-draft-chart.png`: a name a Markdown link can hold."""
    stem = _SAFE_NAME.sub("-", markdown.stem).strip("-") or "postmortem"
    return markdown.with_name(f"{stem}-chart.png")


# -- incidents ----------------------------------------------------------------------


@click.command("incidents")
@click.option("--open", "open_only", is_flag=True, help="only incidents not yet resolved")
@click.option("--stats", is_flag=True, help="counts, time to acknowledge/mitigate/resolve")
@click.option(
    "--since",
    default=None,
    metavar="30d",
    help="only incidents that started this long ago or later (h, d, w); "
    f"the stats default to {STATS_SINCE}; 'all' for every incident",
)
@click.option("--json", "as_json", is_flag=True, help="JSON, as the HTTP API answers")
def incidents(open_only: bool, stats: bool, since: str | None, as_json: bool) -> None:
    """List incidents, or (--stats) their metrics."""
    window = _since(since if since is not None else (STATS_SINCE if stats else None))
    console = Console()

    async def work() -> None:
        async with _open_reports() as reports:
            if stats:
                figures = await reports.stats(window)
                if as_json:
                    click.echo(json.dumps(figures.to_json(), indent=2))
                elif console.is_terminal:
                    console.print(stats_table(figures))
                else:
                    click.echo(stats_lines(figures))
                return
            rows = await reports.incidents(open_only=open_only, since=window)
            if not rows and not as_json:
                click.echo(
                    "no incidents yet" if window is None else "no incidents in that period",
                    err=True,
                )
                return
            if as_json:
                document = {"incidents": [incident_fields(r) for r in rows], "count": len(rows)}
                click.echo(json.dumps(document, indent=2, ensure_ascii=False))
            elif console.is_terminal:
                console.print(incidents_table(rows))
            else:
                for row in rows:
                    click.echo(incident_line(row))

    asyncio.run(work())


def _since(text: str | None) -> timedelta | None:
    if text is None or text.strip().lower() == "all":
        return None
    try:
        return parse_since(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from e


@click.group()
def reports_cli() -> None:
    """The report commands on their own (`python -m bot.cli.reports`); `incident-bot` has them."""


for _command in (timeline, postmortem, incidents):
    reports_cli.add_command(_command)

if __name__ == "__main__":
    reports_cli()
