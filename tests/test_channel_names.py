from datetime import UTC, datetime

import pytest

from bot.core.channel_names import MAX_LENGTH, incident_channel_name, slug

DAY = datetime(2026, 11, 26, 14, 32, tzinfo=UTC)


@pytest.mark.parametrize(
    ("parts", "suffix", "expected"),
    [
        (("payments", "HighErrorRate"), None, "inc-20261126-payments-higherrorrate"),
        (("payments", "HighErrorRate"), 2, "inc-20261126-payments-higherrorrate-2"),
        (("Payments API", "High Error/Rate!"), None, "inc-20261126-payments-api-high-error-rate"),
        ((None, "PodRestarting"), None, "inc-20261126-podrestarting"),
        (("zahlungsdienst-ümlaut", "x"), None, "inc-20261126-zahlungsdienst-mlaut-x"),
        (("___", "--"), None, "inc-20261126"),
    ],
)
def test_channel_names(parts: tuple[str | None, ...], suffix: int | None, expected: str) -> None:
    assert incident_channel_name("inc", DAY, *parts, suffix=suffix) == expected


@pytest.mark.parametrize("suffix", [None, 7, 123])
def test_long_names_are_cut_to_slack_limit_keeping_the_suffix(suffix: int | None) -> None:
    name = incident_channel_name("inc", DAY, "s" * 100, "alert", suffix=suffix)
    assert len(name) <= MAX_LENGTH
    if suffix is not None:
        assert name.endswith(f"-{suffix}")


def test_slug_keeps_underscores() -> None:
    assert slug("Error_Budget  Burn") == "error_budget-burn"
