"""The rows `incident-bot check` reports, and how a row shows a URL or a failure.

A `CheckResult` is OK, PROBLEM or SKIPPED, with a detail and how to fix it. Nothing here
prints a secret: passwords in URLs are masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import sqlalchemy as sa

Outcome = Literal["OK", "WARNING", "PROBLEM", "SKIPPED"]
OK: Outcome = "OK"
WARNING: Outcome = "WARNING"  # works, but weaker than it should be in production
PROBLEM: Outcome = "PROBLEM"
SKIPPED: Outcome = "SKIPPED"


@dataclass(frozen=True)
class CheckResult:
    check: str
    result: Outcome
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def ok(check: str, detail: str) -> CheckResult:
    return CheckResult(check, OK, detail)


def warning(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, WARNING, detail, fix)


def problem(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, PROBLEM, detail, fix)


def skipped(check: str, detail: str) -> CheckResult:
    return CheckResult(check, SKIPPED, detail)


def has_problem(results: Iterable[CheckResult]) -> bool:
    return any(r.result == PROBLEM for r in results)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for display."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***@"
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=userinfo + host))


def mask_database_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot read: show only its scheme
        return url.split("://", 1)[0] + "://..."


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_MAX_REASON = 300


def reason(error: BaseException) -> str:
    """Why a request failed, short: "connection refused", not three nested exceptions."""
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, aiohttp.ClientConnectorError):
        error = error.os_error
    text = str(error)
    if found := _ERRNO.search(text):
        return found.group(1).strip().lower()
    if "timed out" in text.lower():
        return "no answer in time"
    line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."
