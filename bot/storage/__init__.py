"""Persistence: the engine, the tables, the store, the migrations, the Slack outbox's job kinds."""
