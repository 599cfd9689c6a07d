"""The benchmarks run (briefly, without thresholds): they must keep working as the code moves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_export_benchmark_runs_and_reports_each_format() -> None:
    result = subprocess.run(  # noqa: S603 - our own benchmark script
        [sys.executable, str(ROOT / "benchmarks" / "export_timeline.py"), "--events", "3000"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for fmt in ("csv", "json", "md"):
        assert re.search(rf"3,000 events\s+{fmt}\s+[\d.]+ s", result.stdout), result.stdout
    assert "peak memory growth" in result.stdout
