"""The `incident-bot` command line."""

from __future__ import annotations

import asyncio
import gc
import signal
from pathlib import Path

import click
import structlog

from bot.cli.check.command import check
from bot.cli.deliveries import deliveries
from bot.cli.malloc_arenas import limit_malloc_arenas
from bot.cli.reports import incidents, postmortem, timeline
from bot.logs import configure_logging
from bot.runtime import BotRuntime
from bot.settings import ConfigError, config_problems, load_catalog, load_settings
from bot.storage.models import Incident


@click.group()
def main() -> None:
    """ChatOps incident bot: Alertmanager -> Slack incident channels, timelines, rollbacks."""


@main.command()
@click.option("--host", default=None, help="listen address (default $HOST or 0.0.0.0)")
@click.option("--port", type=int, default=None, help="listen port (default $PORT or 8080)")
@click.option("--insecure-webhook", is_flag=True, help="accept webhooks without a bearer token")
def serve(host: str | None, port: int | None, insecure_webhook: bool) -> None:
    """Run the bot (migrates the database first)."""
    try:
        settings = load_settings()
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    problems = settings.problems_for_serve(insecure_webhook=insecure_webhook)
    catalog = None
    try:
        catalog = load_catalog(settings.incident_bot_config)
    except ConfigError as e:
        problems.append(str(e))
    if problems or catalog is None:
        raise click.ClickException(config_problems(problems))
    configure_logging(settings.log_level, settings.log_format)
    for weakness in settings.startup_warnings():  # at every start, so nobody forgets
        structlog.get_logger("incident_bot.security").warning(weakness)
    limit_malloc_arenas()  # before any thread is started
    asyncio.run(_serve(BotRuntime(settings, catalog=catalog), host, port))


async def _serve(runtime: BotRuntime, host: str | None, port: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start(host=host, port=port)
    # What start-up made (modules, settings, the app) lives as long as the process: kept
    # out of the garbage collector's sight, a full collection under load walks only what
    # requests made, not the whole heap (shorter pauses, a lower p99).
    gc.freeze()
    mode = "Socket Mode" if runtime.socket is not None else "HTTP (POST /slack/events)"
    click.echo(
        f"incident-bot listening on {host or runtime.settings.host}:{runtime.port}; Slack: {mode}",
        err=True,
    )
    try:
        await stop.wait()
    finally:
        await runtime.stop()


STANDINS_MISSING = (
    "the demo needs the stand-ins (standins/), which this install lacks: from a clone of the "
    "repository run `pip install '.[demo]'`"
)


@main.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("incident-bot-demo"),
    show_default=True,
    help="where the post-mortem draft is written",
)
@click.option(
    "--web",
    is_flag=True,
    help="afterwards, keep the bot running and print the link to the incident's page",
)
def demo(output: Path, web: bool) -> None:
    """The whole outage story on embedded stand-ins: no Slack, cluster or Prometheus needed."""
    # Imported here, not at the top: the stand-ins are not in the production image.
    try:
        from bot.cli.demo import Demo, DemoFailed, serve_until_interrupted
    except ModuleNotFoundError as e:
        if e.name != "standins" and not (e.name or "").startswith("standins."):
            raise
        raise click.ClickException(STANDINS_MISSING) from e

    configure_logging("warning", "console")

    async def keep(bot: BotRuntime, incident: Incident) -> None:
        await serve_until_interrupted(bot, incident, click.echo)

    try:
        asyncio.run(Demo(output, click.echo, web=web, after=keep if web else None).run())
    except DemoFailed as e:
        raise click.ClickException(str(e)) from e
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)


main.add_command(check)
main.add_command(deliveries)
main.add_command(incidents)
main.add_command(timeline)
main.add_command(postmortem)
