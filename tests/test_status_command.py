from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.pod_health import ContainerState, PodTrouble
from bot.core.pod_logs import LogLine
from bot.core.rollout import RolloutStatus
from bot.core.status_report import FiringAlert, MetricReading, StatusReport
from commands.common import UsageError
from commands.status import StatusArgs, parse_status, render_status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", StatusArgs(None, None)),
        ("payments", StatusArgs("payments", None)),
        ("payments -n staging", StatusArgs("payments", "staging")),
        ("-n staging", StatusArgs(None, "staging")),
        ("--namespace=prod payments", StatusArgs("payments", "prod")),
    ],
)
def test_parse(text: str, expected: StatusArgs) -> None:
    assert parse_status(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("payments search", "one service at a time"),
        ("-n", "-n needs a value"),
        ("--verbose", "unknown option"),
        ('"payments', "No closing quotation"),
    ],
)
def test_parse_errors_show_usage(text: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_status(text)
    assert reason in str(caught.value)
    assert "Usage: /status [service] [-n namespace]" in str(caught.value)


def test_render_shows_numbers_with_units_and_marks_only_what_matters() -> None:
    report = StatusReport(
        "payments",
        "production",
        "payment-service",
        datetime(2026, 11, 26, 14, 38, tzinfo=UTC),
        metrics=(MetricReading("error_rate", 0.45, 0.005), MetricReading("latency_p95", 0.3, 0.3)),
        alerts=(FiringAlert("HighErrorRate", "critical", None),),
        rollout=RolloutStatus(
            3, 3, 1, 1, False, "progressing", "1 of 3 updated replicas are available..."
        ),
        pods=(PodTrouble("payment-service-abc", False, 4, "CrashLoopBackOff", None),),
        missing={"Events": "no answer within 5 s"},
    )
    text, blocks = render_status(report)
    rendered = str(blocks)
    assert (
        text
        == "/status payments: Error rate 45.0%, p95 latency 300 ms, 1/3 ready, 1 alert(s) firing"
    )
    assert ":rotating_light: 45.0% ↑ (30 min ago 0.5%)" in rendered
    assert "300 ms →" in rendered
    assert ":rotating_light: 300" not in rendered
    assert ":hourglass_flowing_sand:" in rendered
    assert "CrashLoopBackOff" in rendered
    assert ":warning: *Events* unavailable: no answer within 5 s" in rendered
    assert "2026-11-26T14:38:00.000Z" in rendered


def container(name: str, image: str, state: str, reason: str | None, **extra: object) -> Any:
    values: dict[str, object] = {
        "name": name,
        "image": image,
        "init": False,
        "state": state,
        "reason": reason,
        "message": None,
        "ready": state == "running",
        "restarts": 0,
        "last_reason": None,
        "last_exit_code": None,
        "last_finished_at": None,
    }
    return ContainerState(**(values | extra))  # type: ignore[arg-type]


def test_render_each_section_or_why_it_is_missing_in_its_place() -> None:
    report = StatusReport(
        "payments",
        "production",
        "payment-service",
        datetime(2026, 11, 26, 14, 38, tzinfo=UTC),
        rollout=RolloutStatus(3, 3, 2, 2, False, "progressing", "2 of 3 updated..."),
        missing={"Pods": "Kubernetes API error 500: boom", "Revisions": "no answer within 5 s"},
    )
    _, blocks = render_status(report)
    texts = [b["text"]["text"] for b in blocks if "text" in b]
    rollout = next(i for i, t in enumerate(texts) if "*Rollout*" in t)
    assert texts[rollout + 1] == ":warning: *Revisions* unavailable: no answer within 5 s"
    assert texts[rollout + 2] == ":warning: *Pods* unavailable: Kubernetes API error 500: boom"


def test_render_containers_of_a_pod_and_labelled_log_lines() -> None:
    pods = (
        PodTrouble(
            "pay-abc",
            False,
            6,
            "CrashLoopBackOff",
            None,
            phase="Running",
            containers=(
                container("migrate", "migrate:v7", "terminated", "Completed", init=True),
                container(
                    "app",
                    "pay:v2.3.1",
                    "waiting",
                    "CrashLoopBackOff",
                    restarts=6,
                    last_reason="Error",
                    last_exit_code=1,
                ),
                container("proxy", "envoy:1.30", "running", None),
            ),
        ),
        PodTrouble(
            "pay-def",
            False,
            0,
            "ImagePullBackOff",
            None,
            phase="Pending",
            message='Back-off pulling image "pay:v2.3.2"',
            containers=(
                container(
                    "app",
                    "pay:v2.3.2",
                    "waiting",
                    "ImagePullBackOff",
                    message='Back-off pulling image "pay:v2.3.2"',
                ),
            ),
        ),
    )
    lines = tuple(
        LogLine("pay-abc/app (previous)", f"ERROR pool exhausted {i}") for i in range(200)
    )
    report = StatusReport(
        "payments",
        "production",
        "payment-service",
        datetime(2026, 11, 26, 14, 38, tzinfo=UTC),
        pods=pods,
        log_lines=lines,
    )
    _, blocks = render_status(report)
    text = "\n".join(b["text"]["text"] for b in blocks if "text" in b)
    assert "init migrate migrate:v7: terminated Completed" in text
    assert (
        "app pay:v2.3.1: waiting CrashLoopBackOff · 6 restart(s) · last ended Error (exit 1)"
        in text
    )
    assert "proxy envoy:1.30: running, ready" in text
    assert (
        ":boom: pay-def (Pending): ImagePullBackOff, 0 restart(s)\n"
        '      Back-off pulling image "pay:v2.3.2"' in text
    )
    assert text.count('Back-off pulling image "pay:v2.3.2"') == 1
    logs = next(
        b["text"]["text"]
        for b in blocks
        if "Errors in pod logs" in b.get("text", {}).get("text", "")
    )
    assert "pay-abc/app (previous): ERROR pool exhausted 0" in logs
    assert len(logs) <= 3000 and logs.endswith("```")
