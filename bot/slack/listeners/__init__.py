"""Bolt listeners, one module per family of commands and events."""
