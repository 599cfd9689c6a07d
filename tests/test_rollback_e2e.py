"""/rollback through the running bot against the fake Kubernetes: preview, confirm, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import BotRuntime
from bot.storage.models import Rollback
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from standins.fake_slack_state import FakeChannel, FakeMessage
from tests.support.alerts import alert, notification, send
from tests.support.bots import SLACK_MODES, Clock, mode_of, running_bot
from tests.support.polling import eventually
from tests.support.slack_client import click, slash

NS, NAME = "production", "payment-service"


@pytest.fixture
async def rollout_bot(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    clock: Clock,
) -> AsyncIterator[BotRuntime]:
    """The bot on the fake cluster, where payment-service rolled out v2.3.1 an hour ago."""
    now = datetime.now(UTC)
    fake_kube.add_deployment(
        NS,
        NAME,
        image="payments:v2.3.0",
        env={"POOL_TIMEOUT": "30s"},
        created_at=now - timedelta(days=2),
    )
    fake_kube.roll_out(
        NS,
        NAME,
        template_patch={
            "spec": {
                "containers": [
                    {
                        "name": NAME,
                        "image": "payments:v2.3.1",
                        "env": [{"name": "POOL_TIMEOUT", "value": "3s"}],
                    }
                ]
            }
        },
        at=now - timedelta(hours=1),
    )
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        f"sqlite:///{tmp_path / 'bot.db'}",
        fake_slack,
        kubeconfig=kubeconfig,
        clock=clock,
        mode=mode_of(request),
    ) as runtime:
        yield runtime


@pytest.fixture
def room(fake_slack: FakeSlack) -> FakeChannel:
    channel = fake_slack.add_channel("payments-oncall")
    channel.members |= {"U0ONCALL1", "U0ONCALL2", "U0STRANGER"}
    return channel


def image(kube: FakeKubernetes) -> str:
    return str(kube.deployment(NS, NAME)["spec"]["template"]["spec"]["containers"][0]["image"])


async def preview(fake_slack: FakeSlack, room: FakeChannel) -> FakeMessage:
    await fake_slack.wait_for_call("chat.postMessage")
    return next(m for m in room.messages if m.blocks and "Roll back" in str(m.blocks))


def button(message: FakeMessage, action_id: str) -> dict[str, Any]:
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no {action_id} button in {message.blocks}")


async def rollback_row(bot: BotRuntime) -> Rollback | None:
    return await bot.store.get(Rollback, 1)


@pytest.mark.parametrize("rollout_bot", SLACK_MODES, indirect=True)
async def test_preview_then_confirm_rolls_back_and_reports_progress(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    assert "Looking at the rollout history" in await slash(
        rollout_bot, "/rollback", NAME, channel=room.id
    )
    message = await preview(fake_slack, room)
    text = str(message.blocks)
    assert "revision 2 · `payments:v2.3.1`" in text and "revision 1 · `payments:v2.3.0`" in text
    assert "env ~ POOL_TIMEOUT (value changes)" in text
    assert image(fake_kube) == "payments:v2.3.1"  # the preview changes nothing
    confirm = button(message, "rollback_confirm")
    await click(
        rollout_bot, "rollback_confirm", confirm["value"], channel=room.id, user="U0ONCALL1"
    )

    async def done() -> bool:
        row = await rollback_row(rollout_bot)
        return row is not None and row.status == "completed"

    await eventually(done, what="the rollout to finish")
    assert image(fake_kube) == "payments:v2.3.0"
    patches = [r for r in fake_kube.requests if r.method == "PATCH"]
    assert len(patches) == 1 and patches[0].content_type.startswith("application/json-patch+json")
    assert [op["path"] for op in patches[0].body] == [
        "/metadata/resourceVersion",
        "/spec/template",
        "/metadata/annotations",
    ]
    await eventually(lambda: _says(message, "successfully rolled out"), what="the progress message")

    async def announced() -> bool:  # posted just after the row is marked completed
        return any(
            ":white_check_mark: Rollback" in m.text and "completed" in m.text for m in room.messages
        )

    await eventually(announced, what="the completion message")


async def test_cancel_changes_nothing(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    await slash(rollout_bot, "/rollback", NAME, channel=room.id)
    message = await preview(fake_slack, room)
    await click(
        rollout_bot,
        "rollback_cancel",
        button(message, "rollback_cancel")["value"],
        channel=room.id,
        user="U0ONCALL1",
    )
    await eventually(lambda: _status(rollout_bot, "cancelled"), what="the cancellation")
    assert image(fake_kube) == "payments:v2.3.1"
    await eventually(lambda: _says(message, "cancelled"), what="the preview to say so")


async def _says(message: FakeMessage, text: str) -> bool:
    return text in message.text


async def _status(bot: BotRuntime, status: str) -> bool:
    row = await rollback_row(bot)
    return row is not None and row.status == status


async def test_a_deployment_changed_since_the_preview_is_not_patched(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    await slash(rollout_bot, "/rollback", NAME, channel=room.id)
    message = await preview(fake_slack, room)
    fake_kube.roll_out(NS, NAME, image="payments:v2.4.0")  # someone deploys meanwhile
    await click(
        rollout_bot,
        "rollback_confirm",
        button(message, "rollback_confirm")["value"],
        channel=room.id,
        user="U0ONCALL1",
    )
    await eventually(lambda: _status(rollout_bot, "stale"), what="the refusal")
    assert image(fake_kube) == "payments:v2.4.0"
    assert [r for r in fake_kube.requests if r.method == "PATCH"] == []


@pytest.mark.parametrize(
    ("user", "age", "reason"),
    [
        ("U0ONCALL2", timedelta(0), "only <@U0ONCALL1>"),
        ("U0ONCALL1", timedelta(minutes=16), "older than 15 minutes"),
    ],
    ids=["someone-else", "stale-click"],
)
async def test_clicks_by_others_or_too_late_do_nothing_but_say_why(
    rollout_bot: BotRuntime,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    room: FakeChannel,
    clock: Clock,
    user: str,
    age: timedelta,
    reason: str,
) -> None:
    room.members.add(user)
    await slash(rollout_bot, "/rollback", NAME, channel=room.id)
    message = await preview(fake_slack, room)
    clock.now += age
    await click(
        rollout_bot,
        "rollback_confirm",
        button(message, "rollback_confirm")["value"],
        channel=room.id,
        user=user,
    )
    (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert reason in said.args["text"] and said.args["user"] == user
    assert image(fake_kube) == "payments:v2.3.1"


@pytest.mark.parametrize(
    ("user", "text", "reason"),
    [
        ("U0STRANGER", NAME, "is not allowed to roll back"),
        ("U0ONCALL1", f"{NAME} -n staging", "not allowed in namespace staging"),
        ("U0ONCALL1", f"{NAME} --to-revision 2", "already at that template (revision 2)"),
        ("U0ONCALL1", f"{NAME} --to-revision 9", "unable to find revision 9"),
        ("U0ONCALL1", "nosuch -n production", "No deployment nosuch in namespace production"),
    ],
    ids=["unauthorized", "namespace", "already-current", "unknown-revision", "unknown-deployment"],
)
async def test_refusals(
    rollout_bot: BotRuntime,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    room: FakeChannel,
    user: str,
    text: str,
    reason: str,
) -> None:
    room.members.add(user)
    await slash(rollout_bot, "/rollback", text, channel=room.id, user=user)
    (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert reason in said.args["text"]
    assert image(fake_kube) == "payments:v2.3.1"
    assert fake_slack.calls_to("chat.postMessage") == []


async def test_group_members_may_roll_back(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, room: FakeChannel
) -> None:
    await slash(rollout_bot, "/rollback", NAME, channel=room.id, user="U0ONCALL2")  # in S0PAYONCALL
    assert "Confirm" in str((await preview(fake_slack, room)).blocks)


async def test_paused_deployment_is_refused(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    fake_kube.add_deployment(NS, "paused-app", image="x:1", paused=True)
    await slash(rollout_bot, "/rollback", "paused-app -n production", channel=room.id)
    (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert "is paused: resume it first" in said.args["text"]


async def test_argo_cd_managed_needs_force(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    fake_kube.add_deployment(
        NS,
        "argo-app",
        image="x:1",
        annotations={
            "argocd.argoproj.io/tracking-id": "argo-app:apps/Deployment:production/argo-app"
        },
    )
    fake_kube.roll_out(NS, "argo-app", image="x:2")
    await slash(rollout_bot, "/rollback", "argo-app -n production", channel=room.id)
    first = await preview(fake_slack, room)
    assert "Prefer a Git revert" in str(first.blocks)
    assert "rollback_confirm" not in str(first.blocks)
    await slash(rollout_bot, "/rollback", "argo-app -n production --force", channel=room.id)
    await fake_slack.wait_for_call("chat.postMessage", count=2)
    assert "rollback_confirm" in str(room.messages[-1].blocks)


async def test_to_revision_dry_run_and_history(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    await slash(rollout_bot, "/rollback", f"{NAME} --to-revision 1 --dry-run", channel=room.id)
    (dry,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert "Dry run" in dry.args["text"] and "`payments:v2.3.0`" in dry.args["text"]
    (patch,) = [r for r in fake_kube.requests if r.method == "PATCH"]
    assert patch.query.get("dryRun") == "All"
    assert image(fake_kube) == "payments:v2.3.1"
    await slash(rollout_bot, "/rollback", f"{NAME} --history", channel=room.id, user="U0STRANGER")
    (_, history) = await fake_slack.wait_for_call("chat.postEphemeral", count=2)
    assert "rev 2 (current)" in history.args["text"] and "rev 1" in history.args["text"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("--to-revision x", "--to-revision takes a revision number"),
        ("a b", "one deployment at a time"),
        ("--nope", "unknown option"),
    ],
)
async def test_bad_arguments_get_the_usage_line(
    rollout_bot: BotRuntime, room: FakeChannel, text: str, reason: str
) -> None:
    answer = await slash(rollout_bot, "/rollback", text, channel=room.id)
    assert reason in answer and "Usage: /rollback <deployment>" in answer


@pytest.mark.parametrize(
    ("after", "hinted"), [(timedelta(minutes=1), True), (timedelta(hours=2), False)]
)
async def test_suspected_deploy_hint_on_new_incidents(
    rollout_bot: BotRuntime,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    after: timedelta,
    hinted: bool,
) -> None:
    rolled = fake_kube.replicasets(NS, NAME)
    newest = max(
        rolled, key=lambda r: int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    )
    rolled_at = datetime.fromisoformat(
        newest["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    )
    await send(rollout_bot, notification(alert("a1", starts=rolled_at + after)))
    (incident,) = await eventually(lambda: _opened(rollout_bot), what="the incident channel")
    channel = fake_slack.channels[incident.channel_id or ""]
    first = str(channel.messages[0].blocks)
    if not hinted:
        assert "Suspected cause" not in first
        return
    expected = "payment-service revision 2 (image payments:v2.3.1) rolled out 1m before the alert"
    assert f"Suspected cause: {expected}" in first
    assert "Roll back to revision 1" in first
    suggestion = button(channel.messages[0], "rollback_suggested")
    channel.members.add("U0ONCALL1")
    await click(
        rollout_bot, "rollback_suggested", suggestion["value"], channel=channel.id, user="U0ONCALL1"
    )
    await fake_slack.wait_for_call("chat.postMessage", count=3)
    assert any("rollback_confirm" in str(m.blocks) for m in channel.messages)

    async def requested() -> bool:
        kinds = [e.kind for e in await rollout_bot.store.timeline(incident.id or 0)]
        return "suspected_deploy" in kinds and "rollback_requested" in kinds

    await eventually(requested, what="the suspected deploy and the request on the timeline")


async def _opened(bot: BotRuntime) -> list[Any]:
    return [i for i in await bot.store.incidents() if i.alert_message_ts]


async def test_a_restart_mid_rollout_resumes_the_watch(
    tmp_path: Path, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    fake_kube.add_deployment(NS, "cart", image="cart:v1")
    fake_kube.roll_out(NS, "cart", image="cart:v2")
    fake_kube.set_rollout_mode("manual")  # the rollback will not finish while the first bot runs
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig-2")
    db = f"sqlite:///{tmp_path / 'restart.db'}"
    async with running_bot(db, fake_slack, kubeconfig=kubeconfig) as first:
        await slash(first, "/rollback", "cart -n production", channel=room.id)
        message = await preview(fake_slack, room)
        await click(
            first,
            "rollback_confirm",
            button(message, "rollback_confirm")["value"],
            channel=room.id,
            user="U0ONCALL1",
        )
        await eventually(lambda: _status(first, "patched"), what="the patch")
    fake_kube.set_rollout_mode("instant")
    async with running_bot(db, fake_slack, kubeconfig=kubeconfig) as second:
        await eventually(lambda: _status(second, "completed"), what="the resumed watch")
        await eventually(lambda: _says(message, "successfully rolled out"), what="the message")
    assert (
        fake_kube.deployment(NS, "cart")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "cart:v1"
    )


async def test_a_double_click_confirms_once_and_says_who_confirmed(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    await slash(rollout_bot, "/rollback", NAME, channel=room.id)
    message = await preview(fake_slack, room)
    value = button(message, "rollback_confirm")["value"]
    await asyncio.gather(
        *(
            click(rollout_bot, "rollback_confirm", value, channel=room.id, user="U0ONCALL1")
            for _ in "ab"
        )
    )
    await eventually(lambda: _status(rollout_bot, "completed"), what="the rollout to finish")
    (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert "already confirmed by <@U0ONCALL1>" in said.args["text"]
    assert len([r for r in fake_kube.requests if r.method == "PATCH"]) == 1
    assert not any("stale" in m.text or "nothing was changed" in m.text for m in room.messages)


async def test_permission_is_checked_again_at_the_click(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    await slash(rollout_bot, "/rollback", NAME, channel=room.id)
    message = await preview(fake_slack, room)
    policy = rollout_bot.rollback.catalog.rollback  # taken off the rota after the preview
    policy.allowed_users.remove("U0ONCALL1")
    policy.allowed_groups.clear()
    await click(
        rollout_bot,
        "rollback_confirm",
        button(message, "rollback_confirm")["value"],
        channel=room.id,
        user="U0ONCALL1",
    )
    (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert "is not allowed to roll back" in said.args["text"]
    assert await _status(rollout_bot, "pending")
    assert [r for r in fake_kube.requests if r.method == "PATCH"] == []


async def test_history_only_in_rollback_namespaces(
    rollout_bot: BotRuntime, fake_slack: FakeSlack, fake_kube: FakeKubernetes, room: FakeChannel
) -> None:
    fake_kube.add_deployment("kube-system", "coredns", image="coredns:1.11")
    await slash(
        rollout_bot,
        "/rollback",
        "coredns -n kube-system --history",
        channel=room.id,
        user="U0STRANGER",
    )
    (said,) = await fake_slack.wait_for_call("chat.postEphemeral")
    assert "Not showing the history" in said.args["text"]
    assert "coredns:1.11" not in said.args["text"]
