"""Socket Mode envelopes handled once, across redeliveries and replicas: the decision.

Slack sends an envelope again when it saw no ack (the socket dropped, the app was slow),
possibly over another replica's socket. The first delivery claims the envelope; the
ack is recorded when the bot decides it. A later delivery of a decided envelope is
only acked again (with the same answer); one still being handled inside Slack's
ack window is left alone (Slack will send it again if that handler dies); one claimed
longer ago than the window and never decided belongs to a handler that died, and is
handled again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

ACK_WINDOW = timedelta(seconds=3)  # Slack's: an envelope not acked by then failed


class Verdict(Enum):
    HANDLE = "handle"  # run the listeners and ack with their answer
    ACK_AGAIN = "ack_again"  # decided before: send the same ack, run nothing
    LEAVE = "leave"  # someone is handling it now: neither run nor ack


@dataclass(frozen=True)
class Claim:
    claimed_at: datetime
    acked_at: datetime | None


def on_delivery(claim: Claim | None, now: datetime) -> Verdict:
    if claim is None:
        return Verdict.HANDLE
    if claim.acked_at is not None:
        return Verdict.ACK_AGAIN
    if now - claim.claimed_at < ACK_WINDOW:
        return Verdict.LEAVE
    return Verdict.HANDLE
