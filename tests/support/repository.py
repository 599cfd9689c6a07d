"""The repository's own files, as git lists them (or the tree, in a copy without .git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def tracked_files() -> list[str]:
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        listing = [git, "ls-files", "-z"]
        out = subprocess.run(listing, cwd=ROOT, capture_output=True, check=True).stdout  # noqa: S603
        return [name for name in out.decode().split("\0") if name]
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
