"""`/rollback`: parsing, and the preview / progress / history messages (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.alerts import format_timestamp
from bot.core.block_kit import (
    CONFIRM_TEXT,
    Block,
    clip,
    code_section,
    context,
    lines_within,
    section,
)
from bot.core.escaping import code, code_block, mention, mrkdwn
from bot.core.rollback import RollbackPlan
from bot.core.rollout import Revision, RolloutStatus
from commands.common import UsageError, split_args, take_flag, take_option

USAGE = (
    "Usage: /rollback <deployment> [-n namespace] [--to-revision N] [--dry-run] [--history] "
    "[--force]  (inside an incident channel the deployment is optional)"
)
CONFIRM = "rollback_confirm"
CANCEL = "rollback_cancel"
SUGGESTED = "rollback_suggested"
HISTORY_TEXT = 6_000  # a couple of screens; kubectl shows every revision
_DIFF_REST = "`kubectl rollout history --revision N` shows each revision whole"


@dataclass(frozen=True)
class RollbackArgs:
    deployment: str | None
    namespace: str | None
    to_revision: int | None
    dry_run: bool
    history: bool
    force: bool


def parse_rollback(text: str) -> RollbackArgs:
    args = split_args(text, USAGE)
    namespace = take_option(args, "-n", "--namespace", usage=USAGE)
    raw_revision = take_option(args, "--to-revision", usage=USAGE)
    flags = {name: take_flag(args, f"--{name}") for name in ("dry-run", "history", "force")}
    unknown = [a for a in args if a.startswith("-")]
    if unknown:
        raise UsageError(USAGE, f"unknown option {unknown[0]}")
    if len(args) > 1:
        raise UsageError(USAGE, f"one deployment at a time, got {' '.join(args)}")
    revision = None
    if raw_revision is not None:
        if not raw_revision.isdigit() or int(raw_revision) < 1:
            raise UsageError(USAGE, f"--to-revision takes a revision number, got {raw_revision}")
        revision = int(raw_revision)
    deployment = args[0].removeprefix("deployment/") if args else None
    return RollbackArgs(
        deployment, namespace, revision, flags["dry-run"], flags["history"], flags["force"]
    )


def _images(images: tuple[str, ...]) -> str:
    return ", ".join(code(i) for i in images) or "no image"


def _where(plan: RollbackPlan) -> str:
    return mrkdwn(f"{plan.namespace}/{plan.deployment}")


def plan_summary(plan: RollbackPlan) -> str:
    """Plain words, for the timeline and the confirm dialog: escaped for mrkdwn."""
    return mrkdwn(
        f"{plan.namespace}/{plan.deployment}: revision {plan.from_revision} "
        f"({', '.join(plan.from_images)}) -> revision {plan.to_revision} "
        f"({', '.join(plan.to_images)})"
    )


def render_preview(
    plan: RollbackPlan, *, rollback_id: int, requested_by: str, force: bool
) -> tuple[str, list[Block]]:
    text = f"Rollback preview: {plan_summary(plan)}"
    blocks = [
        section(f":rewind: *Roll back {_where(plan)}?* (asked by {mention(requested_by)})"),
        section(
            f"*Now:* revision {plan.from_revision} · {_images(plan.from_images)}\n"
            f"*After:* revision {plan.to_revision} · {_images(plan.to_images)}"
        ),
        code_section("*Pod template changes*", plan.diff, rest=_DIFF_REST),
    ]
    if plan.gitops is not None:
        blocks.append(
            section(
                f":warning: {mrkdwn(plan.gitops)}: its self-heal will put the bad version back. "
                "Prefer a Git revert of the change"
                + (". You chose --force." if force else "; to roll back here anyway, add --force.")
            )
        )
        if not force:
            return text, blocks
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONFIRM,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Confirm rollback"},
                    "value": str(rollback_id),
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Roll back?"},
                        "text": {"type": "mrkdwn", "text": clip(plan_summary(plan), CONFIRM_TEXT)},
                        "confirm": {"type": "plain_text", "text": "Roll back"},
                        "deny": {"type": "plain_text", "text": "Not yet"},
                    },
                },
                {
                    "type": "button",
                    "action_id": CANCEL,
                    "value": str(rollback_id),
                    "text": {"type": "plain_text", "text": "Cancel"},
                },
            ],
        }
    )
    blocks.append(context("Only the person who asked can confirm; the buttons expire in 15 min."))
    return text, blocks


def render_dry_run(plan: RollbackPlan, server_images: tuple[str, ...]) -> str:
    return (
        f":test_tube: Dry run (dryRun=All, nothing changed): the API server accepts rolling back "
        f"{_where(plan)} to revision {plan.to_revision}; its pod template "
        f"would run {_images(server_images)}.\n" + code_block("\n".join(plan.diff))
    )


def render_progress(
    plan: RollbackPlan, status: RolloutStatus, *, by: str
) -> tuple[str, list[Block]]:
    icon = {
        "complete": ":white_check_mark:",
        "failed": ":x:",
        "progressing": ":hourglass_flowing_sand:",
    }
    line = (
        f"{icon.get(status.state, ':hourglass_flowing_sand:')} Rollback of "
        f"{_where(plan)} to revision {plan.to_revision}, confirmed by {mention(by)}: "
        f"{mrkdwn(status.message)} "
        f"(ready {status.ready}/{status.desired}, updated {status.updated})"
    )
    return line, [section(line)]


def render_history(
    namespace: str, deployment: str, revs: list[Revision], current: int | None
) -> str:
    lines = [f"*Rollout history of {mrkdwn(namespace)}/{mrkdwn(deployment)}*"]
    for rev in revs:
        mark = " (current)" if rev.number == current else ""
        when = format_timestamp(rev.created_at) if rev.created_at else "unknown time"
        lines.append(f"rev {rev.number}{mark} · {_images(rev.images)} · created {when}")
    history = f"`kubectl rollout history deployment/{deployment} -n {namespace}`"
    return lines_within(lines, HISTORY_TEXT, lambda n: f"… {n} older revision(s): {history}")


def suggestion_button(namespace: str, deployment: str, revision: int) -> Block:
    return {
        "type": "button",
        "action_id": SUGGESTED,
        "text": {"type": "plain_text", "text": f"Roll back to revision {revision}"},
        "value": f"{namespace}/{deployment}/{revision}",
    }


def parse_suggestion(value: str) -> tuple[str, str, int]:
    namespace, deployment, revision = value.split("/")
    return namespace, deployment, int(revision)
