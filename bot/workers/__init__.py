"""Loops that do accepted work in the background: intake, the Slack outbox, reminders."""
