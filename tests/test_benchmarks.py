"""The benchmarks run (briefly, without thresholds): they must keep working as the code moves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.realparts import unavailable

ROOT = Path(__file__).resolve().parent.parent


def test_export_benchmark_runs_and_reports_each_format() -> None:
    result = subprocess.run(  # noqa: S603 - our own benchmark script
        [sys.executable, str(ROOT / "benchmarks" / "export_timeline.py"), "--events", "3000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for fmt in ("csv", "json", "md"):
        assert re.search(rf"3,000 events\s+{fmt}\s+[\d.]+ s", result.stdout), result.stdout
    assert "peak memory growth" in result.stdout


def test_ingest_benchmark_runs_and_reports_the_ratio() -> None:
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed: apt-get install wrk (bash .ci/run does)")
    result = subprocess.run(  # noqa: S603 - our own benchmark script
        [
            sys.executable,
            str(ROOT / "benchmarks" / "ingest.py"),
            "--duration",
            "1",
            "--databases",
            "sqlite",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"bare aiohttp .*\s1\.00\s", result.stdout), result.stdout
    bot = re.search(
        r"incident-bot serve, SQLite\s+(\d+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)", result.stdout
    )
    assert bot is not None, result.stdout
    assert int(bot.group(1)) > 0
