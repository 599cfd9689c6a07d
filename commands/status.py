"""`/status [service] [-n namespace]`: parsing and Block Kit rendering (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.alerts import format_timestamp
from bot.core.block_kit import Block, code_section, context, section
from bot.core.escaping import code, mrkdwn
from bot.core.pod_health import ContainerState, PodTrouble
from bot.core.redaction import redact
from bot.core.rollout import Revision
from bot.core.status_report import MetricReading, StatusReport, format_value
from commands.common import UsageError, split_args, take_option

USAGE = (
    "Usage: /status [service] [-n namespace]  (inside an incident channel the service is optional)"
)


@dataclass(frozen=True)
class StatusArgs:
    service: str | None
    namespace: str | None


def parse_status(text: str) -> StatusArgs:
    args = split_args(text, USAGE)
    namespace = take_option(args, "-n", "--namespace", usage=USAGE)
    unknown = [a for a in args if a.startswith("-")]
    if unknown:
        raise UsageError(USAGE, f"unknown option {unknown[0]}")
    if len(args) > 1:
        raise UsageError(USAGE, f"one service at a time, got {' '.join(args)}")
    return StatusArgs(args[0] if args else None, namespace)


def _metric_line(m: MetricReading) -> str:
    icon = ":rotating_light: " if m.breached else ""
    trend = {"rising": " ↑", "falling": " ↓", "steady": " →"}.get(m.trend or "", "")
    before = f" (30 min ago {format_value(m.key, m.before)})" if m.before is not None else ""
    return f"*{m.label}*\n{icon}{format_value(m.key, m.now)}{trend}{before}"


def _revision_line(r: Revision, current: bool) -> str:
    when = f" · {format_timestamp(r.created_at)[:16]}Z" if r.created_at else ""
    mark = " (current)" if current else ""
    images = mrkdwn(", ".join(r.images)) or "no image"
    return f"rev {r.number}{mark} · {images}{when}"


_REST = "`kubectl` shows the rest"


def render_status(report: StatusReport) -> tuple[str, list[Block]]:
    """The plain-text fallback and the blocks, compact enough for a phone."""
    where = (
        f" · {mrkdwn(report.namespace)}/{mrkdwn(report.deployment)}" if report.deployment else ""
    )
    blocks: list[Block] = [section(f":bar_chart: *{mrkdwn(report.service)}*{where}")]
    if report.metrics:
        fields = [{"type": "mrkdwn", "text": _metric_line(m)} for m in report.metrics[:10]]
        blocks.append({"type": "section", "fields": fields})
    for name, problem in report.metric_errors.items():
        blocks.append(section(f":x: {mrkdwn(name)}: {mrkdwn(redact(problem))}"))
    if report.alerts:
        names = ", ".join(
            f"{mrkdwn(a.name)} ({mrkdwn(a.severity or 'no severity')})" for a in report.alerts
        )
        blocks.append(section(f":rotating_light: Firing: {names}"))
    if report.silences:
        lines = [
            f":no_bell: {code(s.matchers)} by {mrkdwn(s.created_by)} until "
            f"{format_timestamp(s.ends_at) if s.ends_at else '?'}"
            for s in report.silences
        ]
        blocks.append(section("*Active silences*\n" + "\n".join(lines)))
    blocks += _kubernetes_blocks(report)
    for part, why in report.missing.items():
        if part not in KUBERNETES_SECTIONS:
            blocks.append(_unavailable(part, why))
    blocks.append(context(f"as of {format_timestamp(report.generated_at)}"))
    return report.summary_line(), blocks


KUBERNETES_SECTIONS = ("Deployment", "Revisions", "Pods", "Events", "Logs")
MAX_PODS_SHOWN = 5


def _unavailable(part: str, why: str) -> Block:
    # Errors can carry a URL with its credentials, or a token: never shown.
    return section(f":warning: *{mrkdwn(part)}* unavailable: {mrkdwn(redact(why))}")


def _kubernetes_blocks(report: StatusReport) -> list[Block]:
    """Each section where it belongs, or in its place the reason it is missing."""
    missing = report.missing
    blocks: list[Block] = []
    rollout = report.rollout
    if rollout is not None:
        icon = {
            "progressing": ":hourglass_flowing_sand: ",
            "failed": ":x: ",
            "paused": ":double_vertical_bar: ",
        }
        blocks.append(
            section(
                f"{icon.get(rollout.state, '')}*Rollout* {mrkdwn(rollout.message)}\n"
                f"desired {rollout.desired} · updated {rollout.updated} · ready {rollout.ready}"
                f" · available {rollout.available}"
            )
        )
    if "Deployment" in missing:
        blocks.append(_unavailable("Deployment", missing["Deployment"]))
    if report.revisions:
        lines = [_revision_line(r, i == 0) for i, r in enumerate(report.revisions)]
        blocks.append(section("*Revisions*\n" + "\n".join(lines)))
    elif "Revisions" in missing:
        blocks.append(_unavailable("Revisions", missing["Revisions"]))
    if report.pods:
        blocks.append(section(_pods_text(report.pods), rest=_REST))
    elif "Pods" in missing:
        blocks.append(_unavailable("Pods", missing["Pods"]))
    if report.events:
        lines = [
            mrkdwn(f"{e.object} {e.reason}: {e.message}") + f" (x{e.count})" for e in report.events
        ]
        blocks.append(section("*Warning events*\n" + "\n".join(lines), rest=_REST))
    elif "Events" in missing:
        blocks.append(_unavailable("Events", missing["Events"]))
    if report.log_lines:
        title = "*Errors in pod logs* (pods in trouble first)"
        lines = [f"{line.source}: {line.text}" for line in report.log_lines]
        rest = "`kubectl logs --previous` shows them"
        blocks.append(code_section(title, lines, rest=rest))
    if "Logs" in missing:
        blocks.append(_unavailable("Logs", missing["Logs"]))
    return blocks


def _pods_text(pods: tuple[PodTrouble, ...]) -> str:
    lines = ["*Pods in trouble*"]
    for p in pods[:MAX_PODS_SHOWN]:
        reason = p.reason or ("not ready" if not p.ready else "restarted")
        phase = f" ({mrkdwn(p.phase)})" if p.phase and p.phase != "Running" else ""
        lines.append(f":boom: {mrkdwn(p.name)}{phase}: {mrkdwn(reason)}, {p.restarts} restart(s)")
        if p.message:
            lines.append(f"      {mrkdwn(p.message[:300])}")
        lines += [f"      • {_container_line(c, p.message)}" for c in p.containers]
    if len(pods) > MAX_PODS_SHOWN:
        lines.append(f"... and {len(pods) - MAX_PODS_SHOWN} more")
    return "\n".join(lines)


def _container_line(c: ContainerState, said: str | None) -> str:
    kind = "init " if c.init else ""
    state = c.state + (f" {c.reason}" if c.reason else "")
    if c.state == "running":
        state += ", ready" if c.ready else ", not ready"
    parts = [f"{kind}{c.name} {c.image}: {state}"]
    if c.message and c.state != "running" and c.message != said:
        parts.append(c.message[:200])
    if c.restarts:
        parts.append(f"{c.restarts} restart(s)")
    if c.last_reason:
        code = f" (exit {c.last_exit_code})" if c.last_exit_code is not None else ""
        parts.append(f"last ended {c.last_reason}{code}")
    return mrkdwn(" · ".join(parts))
