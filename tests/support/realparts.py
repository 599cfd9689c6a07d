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

from tests.support.alertmanager_process import BinaryMissing

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
# Each test session works in a database of its own (created from the maintenance database
# `test`, dropped at the end), so that two suites on one machine never drop each other's schema.
POSTGRES_ADMIN_DSN = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
POSTGRES_DATABASE = f"incident_bot_test_{os.getpid()}"
POSTGRES_DSN = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE}"
POSTGRES_URL = f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE}"
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _check_postgres() -> None:
    """Log in to `test`, drop databases of test sessions that died, create this session's."""
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'incident_bot_test_%'"
        )
        for row in names:
            suffix = str(row["datname"]).removeprefix("incident_bot_test_")
            if suffix.isascii() and suffix.isdigit() and not _pid_alive(int(suffix)):
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", POSTGRES_DATABASE
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{POSTGRES_DATABASE}"')
    finally:
        await conn.close()


async def _drop_session_database() -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


def drop_postgres_session_database() -> None:
    """Drop this session's database if it was created (called at the end of the session)."""
    if _postgres_problem and _postgres_problem[0] is None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _drop_session_database()).result(timeout=60)


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
            return f"cannot connect to {POSTGRES_ADMIN_DSN} ({type(exc).__name__}: {exc}); "
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
