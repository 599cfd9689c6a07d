"""Secrets out of what the bot shows: a table of real-looking log lines and errors."""

from __future__ import annotations

import pytest

from bot.core.redaction import mask_secrets, redact, strip_url_credentials

# (line as a program logs it, what /status may show of it)
LINES = [
    ("DB_PASSWORD=hunter2 starting", "DB_PASSWORD=**** starting"),
    ("ERROR login failed password=hunter2 user=app", "ERROR login failed password=**** user=app"),
    ("ERROR passwd: hunter2", "ERROR passwd: ****"),
    ("ERROR pwd=hunter2", "ERROR pwd=****"),
    ('ERROR {"password": "hunter2", "user": "app"}', 'ERROR {"password": "****", "user": "app"}'),
    ("ERROR {'password': 'hunter2'}", "ERROR {'password': '****'}"),
    ("ERROR refresh failed access_token=ya29.a0AfH6SM", "ERROR refresh failed access_token=****"),
    ("ERROR oauth client_secret: 8f7d6c5b4a", "ERROR oauth client_secret: ****"),
    ("ERROR s3 secret_key=wJalrXUtnFEMI/K7MDENG", "ERROR s3 secret_key=****"),
    ("ERROR AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "ERROR AWS_SECRET_ACCESS_KEY=****"),
    ("ERROR x-api-key: 12345abcdef", "ERROR x-api-key: ****"),
    ("ERROR apiKey=12345abcdef&page=2", "ERROR apiKey=****&page=2"),
    ('ERROR "credentials": "c2VjcmV0"', 'ERROR "credentials": "****"'),
    ("ERROR GITHUB_TOKEN=abc123", "ERROR GITHUB_TOKEN=****"),
    ("ERROR token 'abc123'", "ERROR token '****'"),
    ("ERROR Authorization: Bearer eyJhbGciOi.xyz", "ERROR Authorization: Bearer ****"),
    ("ERROR calling with Bearer abcdefghijklmnop", "ERROR calling with Bearer ****"),
    ("ERROR Authorization: Basic dXNlcjpwYXNz", "ERROR Authorization: Basic ****"),
    ("ERROR redis://:s3cret@cache:6379/0 refused", "ERROR redis://:****@cache:6379/0 refused"),
    (
        "ERROR postgres://app:s3cret@db:5432/pay timeout",
        "ERROR postgres://app:****@db:5432/pay timeout",
    ),
    ("ERROR amqp://guest:guest@mq// closed", "ERROR amqp://guest:****@mq// closed"),
    ("ERROR https://user:pa55@prometheus:9090/api", "ERROR https://user:****@prometheus:9090/api"),
    ("ERROR slack xoxb-1234-5678-AbCdEfGh rejected", "ERROR slack **** rejected"),
    ("ERROR app token xapp-1-A0-123-abcdef", "ERROR app token **** "[:-1]),
    ("ERROR key AKIAIOSFODNN7EXAMPLE denied", "ERROR key **** denied"),
    ("ERROR push ghp_0123456789abcdefghijABCDEFGHIJ012345 refused", "ERROR push **** refused"),
    (
        "ERROR jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM expired",
        "ERROR jwt **** expired",
    ),
    ("ERROR -----BEGIN RSA PRIVATE KEY-----MIIEow-----END RSA PRIVATE KEY-----", "ERROR ****"),
    ("ERROR OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx", "ERROR OPENAI_API_KEY=****"),
    ("ERROR session_token=abc; path=/", "ERROR session_token=****; path=/"),
    # Lines without a secret stay as they are.
    ("ERROR connection refused to db:5432", "ERROR connection refused to db:5432"),
    ("ERROR password authentication failed for user app",) * 2,
    ("ERROR ssh://git@github.com/org/repo clone failed",) * 2,
    ("ERROR token: ****", "ERROR token: ****"),
    ("ERROR 5xx rate 45% on payments", "ERROR 5xx rate 45% on payments"),
]


@pytest.mark.parametrize(("line", "masked"), LINES, ids=[f"line{i}" for i in range(len(LINES))])
def test_mask_secrets(line: str, masked: str) -> None:
    assert mask_secrets(line) == masked


def test_table_is_big_enough() -> None:
    assert sum(1 for line, masked in LINES if line != masked) >= 30


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            "Cannot connect to host https://admin:hunter2@prometheus.example:9090/api/v1/query",
            "Cannot connect to host https://prometheus.example:9090/api/v1/query",
        ),
        ("http://u@am:9093 refused", "http://am:9093 refused"),
        ("no URL here", "no URL here"),
    ],
)
def test_urls_in_errors_lose_their_credentials(error: str, shown: str) -> None:
    assert strip_url_credentials(error) == shown
    assert "hunter2" not in redact(error)


def test_slack_network_errors_read_as_one_phrase() -> None:
    import aiohttp

    from integrations.slack import unreachable

    assert unreachable(TimeoutError()) == "unreachable: no answer in time"
    error = aiohttp.ClientError("https://bot:hunter2@slack.example/api failed\nmore")
    assert unreachable(error) == "unreachable: https://slack.example/api failed"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("INC-7", 7),
        ("inc-7", 7),
        (" 7 ", 7),
        ("INC-²", None),
        ("²", None),
        ("٣", None),
        ("9" * 5000, None),
        ("INC-" + "9" * 19, None),
        ("INC--1", None),
        ("", None),
    ],
)
def test_refs_that_are_not_numbers_are_refused_not_crashed_on(
    ref: str, expected: int | None
) -> None:
    from bot.storage.store import parse_ref

    assert parse_ref(ref) == expected
