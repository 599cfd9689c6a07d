"""Real collaborators for tests: binaries and services that are either there or not.

The rule, for every real part: in CI (``CI`` set to anything but ``""``,
``"false"`` or ``"0"``) a missing part FAILS the test with the install hint, so
a green CI never hides a skipped integration test; on a laptop it SKIPS with
the same hint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
from collections.abc import Callable
from typing import NoReturn

import asyncpg
import pytest

from bot.standins.alertmanager_process import BinaryMissing

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_DSN = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
POSTGRES_URL = f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
POSTGRES_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; "
    "then create the database: psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE test' "
    "(bash .ci/run does both)"
)

_postgres_problem: list[str | None] = []  # memo: [] unchecked, [None] fine, [hint] broken


def in_ci() -> bool:
    """True when ``CI`` is set to a non-empty value other than "false" or "0"."""
    return os.environ.get("CI", "").strip().lower() not in ("", "false", "0")


def unavailable(hint: str) -> NoReturn:
    """Fail (in CI) or skip (elsewhere) the current test with ``hint``."""
    if in_ci():
        pytest.fail(hint, pytrace=False)
    pytest.skip(hint)


def require_binary(find: Callable[[], str]) -> str:
    """``find()``'s path, or fail/skip with its `BinaryMissing` message (the install hint)."""
    try:
        return find()
    except BinaryMissing as exc:
        unavailable(str(exc))


async def _check_postgres() -> None:
    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def _postgres_unreachable() -> str | None:
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=2):
            pass
    except OSError as exc:
        return f"PostgreSQL is not answering on {POSTGRES_HOST}:{POSTGRES_PORT} ({exc}); "
    # A thread of its own, so that this works from sync and async tests/fixtures alike.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(asyncio.run, _check_postgres()).result(timeout=30)
        except Exception as exc:
            return f"cannot connect to {POSTGRES_DSN} ({type(exc).__name__}: {exc}); "
    return None


def postgres_url_or_skip() -> str:
    """SQLAlchemy URL of the test database, or fail (CI) / skip (laptop) with a hint.

    Checks a TCP connect to 127.0.0.1:5432 and a real asyncpg login to database
    ``test`` as ``postgres``, once per test session.
    """
    if not _postgres_problem:
        _postgres_problem.append(_postgres_unreachable())
    problem = _postgres_problem[0]
    if problem is not None:
        unavailable(problem + POSTGRES_HINT)
    return POSTGRES_URL
