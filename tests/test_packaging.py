"""What ships where: the production image holds no stand-in, a clone's install runs the demo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.repository import ROOT, tracked_files


def _rule(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: `**` any depth, `*` within one segment."""
    pattern = pattern.strip("/")
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def sent_to_docker(names: list[str]) -> list[str]:
    """The files `docker build .` receives: the last matching .dockerignore rule wins, and a
    rule that matches a folder matches everything inside it."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, _rule(line.lstrip("!"))))
    sent = []
    for name in names:
        parts = name.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        kept = True
        for keep, rule in rules:
            if any(rule.fullmatch(prefix) for prefix in prefixes):
                kept = keep
        if kept:
            sent.append(name)
    return sent


def build_wheel(names: list[str], tmp_path: Path) -> list[str]:
    """`pip wheel --no-deps .` (as the Dockerfile runs it) over a tree holding only `names`."""
    tree = tmp_path / "src"
    for name in names:
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    out = tmp_path / "wheels"
    subprocess.run(  # noqa: S603 - pip of the running interpreter
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q", "-w", out, "."],
        cwd=tree,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("incident_bot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def top_level(files: list[str]) -> set[str]:
    return {name.split("/")[0] for name in files}


def test_the_image_wheel_holds_no_stand_in(tmp_path: Path) -> None:
    sent = sent_to_docker(tracked_files())
    assert not [name for name in sent if name.startswith(("standins/", "tests/"))]
    files = build_wheel(sent, tmp_path)
    top = top_level(files)
    assert {"bot", "commands", "integrations"} <= top
    assert "standins" not in top
    # what `serve` reads from the package: the migrations (Alembic) and the templates
    assert "bot/storage/migrations/env.py" in files
    assert "bot/storage/migrations/versions/0001_initial_schema.py" in files
    assert "bot/templates/postmortem.md.j2" in files
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    copied = [line for line in dockerfile if line.startswith("COPY")]
    assert copied
    assert not [line for line in copied if "standins" in line or "tests" in line]


def test_an_install_from_a_clone_includes_the_stand_ins_for_the_demo(tmp_path: Path) -> None:
    top = top_level(build_wheel(tracked_files(), tmp_path))
    assert {"bot", "commands", "integrations", "standins"} <= top
    assert "tests" not in top


# An install without the stand-ins, whatever this environment has: an editable install
# of the clone (as .ci/run makes) would find them, so the import is made to fail as it does
# in the image.
WITHOUT_STANDINS = "import sys; sys.modules['standins'] = None; from bot.cli import main; main()"


def test_the_demo_without_stand_ins_says_how_to_get_them(tmp_path: Path) -> None:
    for package in ("bot", "commands", "integrations"):
        shutil.copytree(ROOT / package, tmp_path / package)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for command in (["demo"], ["demo", "--web"]):
        result = subprocess.run(  # noqa: S603 - our own console entry point
            [sys.executable, "-c", WITHOUT_STANDINS, *command, "--output", str(tmp_path / "out")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            "Error: the demo needs the stand-ins (standins/), which this install lacks: from a "
            "clone of the repository run `pip install '.[demo]'`"
        ]
        assert not (tmp_path / "out").exists()
