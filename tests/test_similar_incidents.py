""" "Seen before?" on SQLite and PostgreSQL with a few hundred past incidents, end to end."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bot.runtime import BotRuntime
from bot.storage.models import Incident, Rollback, TimelineEvent
from standins.fake_slack import FakeSlack
from tests.support.alerts import GROUP, alert, notification, send
from tests.support.polling import eventually
from tests.support.slack_client import slash

GROUP_LABELS = {"alertname": "HighErrorRate", "service": "payments"}
DAY = timedelta(days=1)


def _incident(
    n: int, started: datetime, *, service: str, alertname: str, same_group: bool
) -> Incident:
    return Incident(
        group_key=GROUP if same_group else f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        group_labels=GROUP_LABELS if same_group else {"alertname": alertname, "service": service},
        alertname=alertname,
        title=f"{alertname} on {service} #{n}",
        status="resolved",
        severity="sev2",
        service=service,
        started_at=started,
        detected_at=started,
        mitigated_at=started + timedelta(minutes=10 + n % 50),
        resolved_at=started + timedelta(hours=2),
        channel_id=f"CPAST{n:04d}",
        channel_name=f"inc-past-{n}",
        resolution_summary=f"summary {n}",
    )


async def seed(bot: BotRuntime, now: datetime, start: datetime) -> dict[str, int]:
    """360 past incidents over 120 days: every 8 h one, cycling through the same alert group,
    the same service with another alert, and two other services. The newest of the group
    (2 days ago) was fixed by a rollback, the one before by a note marked as the fix."""
    shapes = [
        ("payments", "HighErrorRate", True),
        ("payments", "HighLatency", False),
        ("checkout", "HighErrorRate", False),
        ("search", "PodCrashLooping", False),
    ]
    rows = []
    for n in range(360):
        started = now - 2 * DAY - n * timedelta(hours=8)
        service, alertname, same = shapes[n % 4]
        rows.append(_incident(n, started, service=service, alertname=alertname, same_group=same))
    async with bot.store.unit() as unit:
        unit.session.add_all(rows)
        await unit.session.flush()
    newest, before = rows[0], rows[4]
    assert newest.id is not None and before.id is not None
    async with bot.store.unit() as unit:
        unit.session.add(
            Rollback(
                incident_id=newest.id,
                channel_id="CPAST0000",
                requested_by="U0ONCALL1",
                namespace="production",
                deployment="payment-service",
                resource_version="1",
                from_revision=7,
                to_revision=6,
                to_images=["registry/payment-service:v2.3.0"],
                status="completed",
                created_at=newest.started_at + timedelta(minutes=5),
                confirmed_at=newest.started_at + timedelta(minutes=6),
            )
        )
        await unit.add_event(
            TimelineEvent(
                incident_id=before.id,
                kind="note",
                actor="U0LEAD",
                text="Fix: raised the connection pool to 50",
                occurred_at=before.started_at,
                recorded_at=before.started_at,
                source_key="seed:fix-note",
            )
        )
    # The window is the 90 days before the new incident started.
    in_window = [r for r in rows if r.started_at >= start - 90 * DAY and r.group_key == GROUP]
    oldest = min(r.started_at for r in in_window)
    return {
        "same_group": len(in_window),
        "newest": newest.id,
        "before": before.id,
        "days": round((now - oldest) / DAY),
    }


async def test_seen_before_similar_previous_occurrences_and_noisy_groups(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=1)
    facts = await seed(bot, now, start)
    assert await send(bot, notification(alert("fp-new", starts=start))) == 200

    async def opened() -> Incident | None:
        rows = [r for r in await bot.store.incidents() if r.channel_id and r.alert_message_ts]
        return next((r for r in rows if not r.channel_id.startswith("CPAST")), None)  # type: ignore[union-attr]

    incident = await eventually(opened, what="the new incident's channel")
    assert incident.channel_id is not None
    first = fake_slack.channels[incident.channel_id].messages[0]
    texts = [b["text"]["text"] for b in first.blocks or [] if isinstance(b.get("text"), dict)]
    seen = next(t for t in texts if "Seen" in t)
    days = facts["days"]
    assert seen == (
        f":repeat: Seen {facts['same_group']} times in {days} days. Last: *INC-{facts['newest']}* "
        f"(<#CPAST0000>), 2 days ago, mitigated in 10m by rolling back payment-service to "
        "revision 6 (`v2.3.0`). `/incident similar` lists them"
    )
    (row,) = [e for e in await bot.store.timeline(incident.id or 0) if e.kind == "seen_before"]
    assert row.text.startswith(f"Seen {facts['same_group']} times")

    started = time.perf_counter()
    listed = await slash(bot, "/incident", "similar", channel=incident.channel_id)
    took = time.perf_counter() - started
    lines = listed.splitlines()
    assert lines[0] == "*Similar incidents* (last 90 days, best match first)"
    assert len(lines) == 11
    assert lines[1].startswith(f"• *INC-{facts['newest']}* (<#CPAST0000>) 2 days ago ·")
    assert (
        "by rolling back payment-service to revision 6 (`v2.3.0`) · _same alert group_"
        in (lines[1])
    )
    assert lines[2].startswith(f"• *INC-{facts['before']}* (<#CPAST0004>) 3 days ago")
    assert "; fix: raised the connection pool to 50 · _same alert group_" in lines[2]
    assert all(line.endswith("_same alert group_") for line in lines[1:])
    print(f"/incident similar over 360 incidents on {bot.store.dialect}: {took * 1000:.0f} ms")

    draft = await bot.reports.postmortem(incident)
    section = draft.markdown.split("## Previous occurrences", 1)[1].split("## ", 1)[0]
    assert f"| INC-{facts['newest']} |" in section
    assert "mitigated in 10m by rolling back payment-service to revision 6 (" in section
    assert section.count("| same alert group |") == 10

    stats = await bot.reports.stats(timedelta(days=30))
    top = stats.noisy_groups[0]
    assert top.group == 'alertname="HighErrorRate", service="payments"'
    # Seeded 2 + n/3 days ago; the one exactly 30 days before the test began is out.
    in_30_days = sum(1 for n in range(0, 360, 4) if 2 + n / 3 < 30) + 1  # and the new one
    assert top.incidents == in_30_days
    assert top.last_ref == incident.ref
    assert stats.to_json()["noisy_groups"][0]["incidents"] == in_30_days


async def test_a_first_incident_says_not_seen_before(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    assert await send(bot, notification(alert("fp-1"))) == 200

    async def opened() -> Incident | None:
        rows = await bot.store.incidents()
        return rows[0] if rows and rows[0].alert_message_ts else None

    incident = await eventually(opened, what="the incident channel")
    first = fake_slack.channels[incident.channel_id or ""].messages[0]
    assert "Not seen before: no incident of this alert in the last 90 days." in str(first.blocks)
    listed = await slash(bot, "/incident", "similar", channel=incident.channel_id or "")
    assert listed == "No similar incident in the last 90 days."
