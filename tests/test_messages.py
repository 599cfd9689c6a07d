from datetime import UTC, datetime

import pytest

from bot.core.alerts import parse_notification
from bot.core.incident_rules import IncidentStatus
from bot.core.messages import (
    IncidentCard,
    alert_message_blocks,
    channel_topic,
    digest_text,
    incident_title,
)
from tests.support.fixture_files import FIXTURES

NOTIFICATION = parse_notification(
    (FIXTURES / "v4-firing-prometheus-2.42-am-0.25.json").read_bytes()
)
STARTED = datetime(2026, 11, 26, 10, 12, 55, 272000, tzinfo=UTC)


def card(status: IncidentStatus = IncidentStatus.INVESTIGATING, **extra: object) -> IncidentCard:
    values: dict[str, object] = {
        "ref": "INC-7",
        "title": "PaymentsDown on payments: Payments service is down",
        "severity": "sev1",
        "status": status,
        "service": "payments",
        "channel_id": "C1",
        "started_at": STARTED,
    }
    values.update(extra)
    return IncidentCard(**values)  # type: ignore[arg-type]


def test_title_is_the_summary_when_it_names_the_service() -> None:
    assert incident_title(NOTIFICATION) == "Payments service is down"


def test_title_without_summary_does_not_repeat_the_alertname() -> None:
    bare = NOTIFICATION.model_copy(update={"common_annotations": {}})
    assert incident_title(bare) == "PaymentsDown on payments"


@pytest.mark.parametrize(
    ("status", "mitigated", "expected"),
    [
        (IncidentStatus.INVESTIGATING, None, "INC-7 | sev1 | investigating | payments | "),
        (
            IncidentStatus.MONITORING,
            STARTED,
            "INC-7 | sev1 | monitoring (alerts resolved) | payments",
        ),
        (IncidentStatus.RESOLVED, STARTED, "INC-7 | sev1 | resolved | payments"),
    ],
)
def test_topic(status: IncidentStatus, mitigated: datetime | None, expected: str) -> None:
    assert channel_topic(card(status, mitigated_at=mitigated)).startswith(expected)


def test_topic_fits_slack_limit() -> None:
    assert len(channel_topic(card(title="x" * 400))) == 250


@pytest.mark.parametrize(
    ("channel", "expected"),
    [("C1", "in <#C1>"), (None, "(channel pending)")],
)
def test_digest_line(channel: str | None, expected: str) -> None:
    text = digest_text(card(channel_id=channel))
    assert text.startswith(":red_circle: *INC-7* sev1")
    assert "since 2026-11-26T10:12:55.272Z" in text
    assert text.endswith(expected)


def test_alert_message_shows_what_oncall_needs() -> None:
    blocks = alert_message_blocks(
        card(), NOTIFICATION, runbook="https://runbooks.example.com/payments"
    )
    text = str(blocks)
    assert blocks[0]["type"] == "header"
    for expected in (
        "Payments service is down",
        "Synthetic always-firing alert",
        "`severity=critical`",
        "`service=payments`",
        "2026-11-26T10:12:55.272Z",
        "<http://vm:19090/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1|Prometheus graph>",
        "<https://runbooks.example.com/payments|Runbook>",
        "<http://vm:19093|Alertmanager>",
    ):
        assert expected in text
    assert "alertname=" not in text  # already the title
