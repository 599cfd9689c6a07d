"""How long the bot keeps what it was sent: pure decisions, `now` passed in.

Kept for good: incidents, their timelines, action items, rollbacks (the audit trail).
Purged: the raw bodies Alertmanager and Slack sent once they are processed, after
`webhook_days` and `slack_event_days`; an unprocessed or parked delivery is kept until
someone deals with it, since content is never a reason to lose an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PURGE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class RetentionPolicy:
    webhook_days: int = 30
    slack_event_days: int = 7

    def webhook_cutoff(self, now: datetime) -> datetime:
        """Processed webhook bodies older than this go."""
        return now - timedelta(days=self.webhook_days)

    def slack_event_cutoff(self, now: datetime) -> datetime:
        """Processed Slack event bodies (and Socket Mode acks) older than this go."""
        return now - timedelta(days=self.slack_event_days)


def purge_key(now: datetime, every: timedelta = PURGE_EVERY) -> str:
    """The claim for this period's purge: the one replica that inserts it runs the purge."""
    seconds = int(every.total_seconds())
    slot = int(now.timestamp()) // seconds * seconds
    return f"purge:{datetime.fromtimestamp(slot, tz=now.tzinfo).isoformat()}"
