"""A sample incident timeline (the brief's outage) and golden-file comparison, shared by
the export and post-mortem tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.exports import (
    EventRecord,
    IncidentRecord,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


BOT = "incident-bot"


ONCALL = "U0ONCALL1"


def at(minute: int, second: float = 0) -> datetime:
    """A time on the day of the brief's outage, 2024-06-15 14:MM:SS UTC."""
    return datetime(2024, 6, 15, 14, 0, tzinfo=UTC) + timedelta(minutes=minute, seconds=second)


INCIDENT = IncidentRecord(
    ref="INC-7",
    title="HighErrorRate on payments: 5xx rate above 5%",
    status="resolved",
    severity="sev1",
    service="payments",
    channel_id="C0INC7",
    channel_name="inc-20240615-payments-higherrorrate",
    started_at=at(30),
    detected_at=at(32, 5.25),
    acknowledged_at=at(33, 10),
    identified_at=at(40),
    mitigated_at=at(45, 30.5),
    resolved_at=at(50),
    commander=ONCALL,
)


GRAPH = (
    "http://prometheus:9090/graph?g0.expr=rate(http_requests_total%7Bstatus%3D~%225..%22%7D[5m])"
)


PRIMARY_EVENTS: tuple[tuple[int, float, str, str, str, dict[str, object]], ...] = (
    (30, 0, "deploy", "argo-cd", "payment-service v2.3.1 rolled out", {"revision": 42}),
    (
        32,
        5.25,
        "alert_firing",
        BOT,
        "New alert HighErrorRate firing (service=payments)",
        {"fingerprint": "a1b2c3", "labels": {"alertname": "HighErrorRate", "service": "payments"}},
    ),
    (32, 7, "channel_opened", BOT, "Opened #inc-20240615-payments-higherrorrate", {}),
    (33, 10, "acknowledged", ONCALL, "Acknowledged by <@U0ONCALL1|jürgen>", {}),
    (34, 0, "command", ONCALL, "/status payments", {"error_rate": 0.45, "latency_p95_s": 1.2}),
    (
        35,
        12,
        "note",
        ONCALL,
        'Looks like the deploy, "v2.3.1", broke the pool; logs:\nline 1, with a comma\n'
        "line 2 | piped",
        {},
    ),
    (36, 0, "note", "@cmd", '=HYPERLINK("http://evil.example","click me")', {}),
    (37, 0, "note", "Zoë", "+1 agreed 👍", {}),
    (38, 0, "note", "李雷", "-2 for the canary 🐤: 数据库连接池耗尽", {}),
    (38, 30, "note", ONCALL, "@cmd run the runbook", {}),
    (39, 0, "note", ONCALL, "TODO: alert on DB pool saturation <@U0DBA|dana> --due 2024-07-01", {}),
    (40, 0, "status_changed", ONCALL, "investigating → identified: bad deployment v2.3.1", {}),
    (
        42,
        0,
        "rollback_started",
        ONCALL,
        "Rollback of production/payment-service to revision 41",
        {"from_revision": 42, "to_revision": 41},
    ),
    (44, 50, "rollback_finished", BOT, "Rollout of payment-service complete", {}),
    (45, 30.5, "alert_resolved", BOT, "Alert HighErrorRate resolved (service=payments)", {}),
    (45, 30.5, "incident_mitigated", BOT, "All alerts resolved: incident marked mitigated", {}),
    (50, 0, "status_changed", ONCALL, "monitoring → resolved", {}),
    (51, 0, "note", "Zoë", "todo write the customer email, ünd check refunds", {}),
    (52, 0, "note", ONCALL, "\tTab first\r\nthen CRLF", {}),
)


def _events() -> list[EventRecord]:
    out = []
    for minute, second, kind, actor, text, details in PRIMARY_EVENTS:
        occurred = at(minute, second)
        link = GRAPH if kind == "alert_firing" else None
        recorded = occurred + timedelta(milliseconds=750)
        out.append(EventRecord(occurred, recorded, kind, actor, text, details, link))
    return out


EVENTS = _events()


def check_golden(name: str, text: str, directory: Path = GOLDEN) -> None:
    """Compare with tests/golden/<name>, byte for byte; rewrite it when UPDATE_GOLDEN=1."""
    path = directory / name
    data = text.encode("utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
    assert data == path.read_bytes(), f"{name} differs; UPDATE_GOLDEN=1 rewrites it"
