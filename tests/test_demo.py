"""`incident-bot demo`: the whole story, as a newcomer runs it, and the post-mortem it writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

STEPS = [
    "Deploy: payment-service revision 2",
    "Prometheus fires HighErrorRate",
    "INC-1 opened: #inc-",
    "Suspected cause: payment-service revision 2",
    "runs /status: payments: Error rate 45.0%",
    "@dana makes @sam the commander; @sam: /incident status identified",
    "Rollback preview: production/payment-service: revision 2",
    "confirms; the bot patches the deployment",
    "Rollback completed",
    "HighErrorRate resolved",
    "@sam resolves: /incident status resolved Rolled back payment-service to v2.3.0",
    "Time to acknowledge",
    "Post-mortem draft written to",
    "Error-rate chart beside it:",
]
TIMELINE = [
    "suspected_deploy",
    "alert_firing",
    "incident_opened",
    "channel_opened",
    "status_checked",
    "status_changed",
    "rollback_requested",
    "rollback_confirmed",
    "rollback_patched",
    "rollback_completed",
    "alert_resolved",
    "incident_mitigated",
    "status_changed",
]


def test_demo_tells_the_story_in_order_and_writes_the_postmortem(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own console entry point
        [sys.executable, "-m", "bot.cli", "demo", "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    story, _, afterwards = result.stdout.partition("\n\n")
    lines = story.splitlines()
    positions = [next(i for i, line in enumerate(lines) if step in line) for step in STEPS]
    assert positions == sorted(positions), lines
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  ")
    assert all(stamp.match(line) for line in lines)
    assert "<@U" not in result.stdout  # people by name, as read outside Slack

    draft_line = next(line for line in lines if "written to " in line)
    draft_path = Path(draft_line.split("written to ")[1])
    chart = draft_path.parent / "INC-1-error-rate.png"
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "![Error rate and latency](INC-1-error-rate.png)" in draft_path.read_text("utf-8")

    # The database stays in the output folder, and the printed command reads it.
    command = afterwards.strip().splitlines()[-1].split()
    assert command[0].startswith("DATABASE_URL=sqlite:///")
    assert command[1:] == ["incident-bot", "timeline", "INC-1"]
    env = {**os.environ, "DATABASE_URL": command[0].removeprefix("DATABASE_URL=")}
    timeline = subprocess.run(  # noqa: S603 - our own console entry point
        [sys.executable, "-m", "bot.cli", *command[2:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert timeline.returncode == 0, timeline.stderr
    assert timeline.stdout.startswith("# INC-1 timeline: High error rate detected on payments")
    # Names the bot learned from Slack while it ran are kept for documents read later.
    assert "| @sam | /incident status resolved" in timeline.stdout
    assert "U0SAM" not in timeline.stdout

    draft = draft_path.read_text(encoding="utf-8")
    rows = [line.split(" | ")[1] for line in draft.splitlines() if line.startswith("| 20")]
    kinds = [k for k in rows if k in TIMELINE]
    order = [kinds.index(k) for k in dict.fromkeys(TIMELINE)]
    assert order == sorted(order), kinds
    fired_at = lines[1][:20]
    assert f"| {fired_at} | alert_firing |" in draft  # to the second, in UTC
    assert "| Time to mitigate | mitigated - impact start" in draft
    assert "Status: Draft" in draft
