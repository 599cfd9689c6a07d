"""Structured logging (structlog): JSON for machines, console for people.

Every line goes through one formatter, the bot's own and the libraries' (Alembic,
slack-bolt, slack-sdk, aiohttp) alike: with LOG_FORMAT=json each line is one JSON
object, so nothing a request sends can forge a line that looks like another record.
"""

from __future__ import annotations

import logging
import sys

import structlog

# Library loggers and the level below which their records are noise in production:
# slack-bolt logs whole request bodies at INFO when a signature fails, slack-sdk a line
# per retry attempt, Alembic "Context impl SQLiteImpl." at every start.
QUIET_LIBRARIES = {
    "slack_bolt": logging.WARNING,
    "slack_sdk": logging.WARNING,
    "alembic": logging.WARNING,
    "aiohttp.access": logging.WARNING,
}


def configure_logging(level: str = "info", fmt: str | None = None) -> None:
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):  # basicConfig's or a previous call's plain handler
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, quiet in QUIET_LIBRARIES.items():
        # LOG_LEVEL=debug shows them all; otherwise only their warnings and errors.
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else quiet)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
