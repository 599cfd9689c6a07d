"""`incident-bot check`: the command and its parts (one module per dependency)."""
