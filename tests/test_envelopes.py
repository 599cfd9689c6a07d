"""Which delivery of a Socket Mode envelope does the work: a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.envelopes import Claim, Verdict, on_delivery

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [
        (None, Verdict.HANDLE),  # first delivery
        (Claim(NOW - 1 * S, NOW - 1 * S), Verdict.ACK_AGAIN),  # decided: same ack again
        (Claim(NOW - 3600 * S, NOW - 3599 * S), Verdict.ACK_AGAIN),  # decided long ago
        (Claim(NOW - 1 * S, None), Verdict.LEAVE),  # its handler is within Slack's window
        (Claim(NOW - 2.9 * S, None), Verdict.LEAVE),
        (Claim(NOW - 3 * S, None), Verdict.HANDLE),  # never decided in time: handler died
        (Claim(NOW - 60 * S, None), Verdict.HANDLE),
    ],
)
def test_on_delivery(claim: Claim | None, verdict: Verdict) -> None:
    assert on_delivery(claim, NOW) is verdict
