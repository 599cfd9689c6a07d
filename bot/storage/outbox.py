"""The Slack outbox's job kinds: what a `SlackJob` row asks the Slack worker to do.

Stored as their string values in `slack_jobs.kind`, so a `StrEnum` (equal to its value) reads
back from rows written before it existed.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    OPEN_CHANNEL = "open_channel"  # create the incident channel, invite, pin the alert message
    POST_MESSAGE = "post_message"  # a message into the incident channel
    SYNC_INCIDENT = "sync_incident"  # bring the pinned message and the digest line up to date
