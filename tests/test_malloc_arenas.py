"""The serving process caps glibc's malloc arenas, unless the operator set the cap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import malloc_arenas
from bot.cli.malloc_arenas import limit_malloc_arenas


def test_glibc_takes_the_cap() -> None:
    # In a process of its own: the cap is process-wide and outlives the call.
    code = "from bot.cli.malloc_arenas import limit_malloc_arenas as f; print(f())"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == "True", out.stderr


def test_the_operators_malloc_arena_max_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is False


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(malloc_arenas.ctypes.util, "find_library", lambda _name: None)
    assert limit_malloc_arenas() is False
    monkeypatch.setattr(malloc_arenas.ctypes.util, "find_library", lambda _name: "libnone.so")
    assert limit_malloc_arenas() is False  # one that does not load
