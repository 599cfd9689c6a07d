"""Where the captured Alertmanager payloads are."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
