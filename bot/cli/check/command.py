"""`incident-bot check`: the configuration and every dependency, as a table or as JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli.check.checks import (
    DEFAULT_TIMEOUT,
    OK,
    PROBLEM,
    WARNING,
    CheckResult,
    has_problem,
    problem,
    run_checks,
)
from bot.settings import Settings, validation_problems

_STYLES = {OK: "bold green", WARNING: "bold yellow", PROBLEM: "bold red"}
_GROUPS = ("slack", "prometheus", "kubernetes", "database")
_PIPED_WIDTH = 160


def _settings() -> Settings | CheckResult:
    try:
        return Settings()
    except ValidationError as e:
        problems = validation_problems(e)
        names = ", ".join(p.split(":", 1)[0] for p in problems)
        return problem("config: settings", "; ".join(problems), f"fix {names}")


def render_table(results: list[CheckResult]) -> Table:
    table = Table(title="incident-bot check", show_lines=True, title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("how to fix", overflow="fold")
    for row in results:
        style = _STYLES.get(row.result, "yellow")
        # Text, not markup: details quote PromQL and error messages with [brackets].
        table.add_row(
            Text(row.check), Text(row.result, style=style), Text(row.detail), Text(row.fix)
        )
    return table


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list instead of a table")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="seconds each step (a request to one dependency) may take",
)
@click.option(
    "--insecure-webhook",
    is_flag=True,
    help="as for serve: ALERTMANAGER_WEBHOOK_TOKEN is not required",
)
def check(as_json: bool, timeout: float, insecure_webhook: bool) -> None:
    """Check config, Slack, Prometheus, Kubernetes and the database; exit 1 on a problem."""
    # The clients' own retry warnings would only repeat what the table says.
    for name in ("urllib3", "slack_sdk", "kubernetes", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    settings = _settings()
    if isinstance(settings, CheckResult):
        results = [settings]
    else:
        results = _run(settings, insecure_webhook=insecure_webhook, timeout=timeout, quiet=as_json)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=_PIPED_WIDTH)  # a log or a file: no need to wrap at 80
        console.print(render_table(results))
    if has_problem(results):
        sys.exit(1)


def _run(
    settings: Settings, *, insecure_webhook: bool, timeout: float, quiet: bool
) -> list[CheckResult]:
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return asyncio.run(run_checks(settings, insecure_webhook=insecure_webhook, timeout=timeout))
    done: list[str] = []
    with console.status("checking " + ", ".join(_GROUPS) + "...") as status:

        def progress(label: str) -> None:
            done.append(label)
            waiting = [g for g in _GROUPS if g not in done]
            status.update(f"checked {len(done)}/{len(_GROUPS)}; waiting for {', '.join(waiting)}")

        return asyncio.run(
            run_checks(
                settings, insecure_webhook=insecure_webhook, timeout=timeout, progress=progress
            )
        )


if __name__ == "__main__":
    check()
