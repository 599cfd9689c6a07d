"""The `incident-bot` command as a user runs it: a real process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.storage.db import make_engine, migrate


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console entry point
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALERTMANAGER_"))}
    env.update(values)
    return env


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 32},
            "ALERTMANAGER_WEBHOOK_TOKEN is not set",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_SIGNING_SECRET": "s" * 32,
                "ALERTMANAGER_WEBHOOK_TOKEN": "t" * 32,
                "INCIDENT_BOT_CONFIG": "missing.yaml",
            },
            "missing.yaml",
        ),
    ],
)
def test_serve_refuses_with_one_line(tmp_path: Path, values: dict[str, str], reason: str) -> None:
    result = run("serve", env=clean_env(**values), cwd=tmp_path)
    assert result.returncode != 0
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_names_every_missing_setting_in_one_run(tmp_path: Path) -> None:
    env = clean_env(INCIDENT_BOT_CONFIG="missing.yaml", PORT="eighty")
    result = run("serve", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # An invalid value stops before anything else can be judged; it is named with all others.
    assert "PORT: Input should be a valid integer" in result.stderr
    env = clean_env(INCIDENT_BOT_CONFIG="missing.yaml")
    result = run("serve", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "4 settings to fix:" in result.stderr
    for name in (
        "SLACK_BOT_TOKEN is not set",
        "SLACK_SIGNING_SECRET is not set",
        "ALERTMANAGER_WEBHOOK_TOKEN is not set",
        "missing.yaml",
    ):
        assert name in result.stderr


@pytest.mark.parametrize("args", [("incidents",), ("timeline", "INC-1"), ("postmortem", "INC-1")])
def test_read_only_commands_never_create_a_database(tmp_path: Path, args: tuple[str]) -> None:
    path = tmp_path / "bot.db"
    result = run(*args, env=clean_env(DATABASE_URL=f"sqlite:///{path}"), cwd=tmp_path)
    assert result.returncode == 1
    assert f"sqlite:///{path}: no database yet: point DATABASE_URL at the bot's database" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not path.exists()


def test_incidents_on_a_database_with_none_yet(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"

    async def create() -> None:
        engine = make_engine(f"sqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(create())
    env = clean_env(DATABASE_URL=f"sqlite:///{path}")
    result = run("incidents", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "no incidents yet" in result.stderr
    result = run("timeline", "INC-1", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no incident has the ref INC-1; there are no incidents yet" in result.stderr
