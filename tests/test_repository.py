"""The repository is self-contained: a user's clone has nothing beside it, and the suite runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.repository import ROOT, tracked_files

READS_OUTSIDE = re.compile(r"\.\./shared|[\"']shared[\"']\s*/|parents\[2\]")


def test_no_file_reads_outside_the_repository() -> None:
    offenders = []
    for name in tracked_files():
        if not name.endswith((".py", ".sh")) and not name.startswith(".ci/"):
            continue
        if name == "tests/test_repository.py":
            continue
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        if READS_OUTSIDE.search(text):
            offenders.append(name)
    assert offenders == []


def test_the_suite_collects_in_a_copy_with_nothing_beside_it(tmp_path: Path) -> None:
    copy = tmp_path / "clone" / "incident-bot"
    for name in tracked_files():
        if not (ROOT / name).is_file():
            continue  # deleted in the work tree, not yet committed
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^\d+ tests collected", result.stdout, re.MULTILINE), result.stdout[-500:]
    assert "error" not in result.stdout.lower().splitlines()[-1]
