from datetime import UTC, datetime

import pytest

from bot.core.rollout import PodTrouble, RolloutStatus
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
        missing={"Kubernetes events": "no answer within 5 s"},
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
    assert ":warning: Kubernetes events unavailable: no answer within 5 s" in rendered
    assert "2026-11-26T14:38:00.000Z" in rendered
