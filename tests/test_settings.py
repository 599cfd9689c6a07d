from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.settings import Catalog, ConfigError, Settings, async_database_url, load_catalog


@pytest.mark.parametrize(
    ("values", "insecure", "message"),
    [
        ({}, False, "SLACK_BOT_TOKEN is not set"),
        ({"slack_bot_token": "xoxb-1"}, False, "SLACK_SIGNING_SECRET is not set"),
        (
            {"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"},
            False,
            "ALERTMANAGER_WEBHOOK_TOKEN",
        ),
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, True, None),
        ({"slack_bot_token": "xoxb-1", "slack_app_token": "xapp-1"}, True, None),
    ],
)
def test_serve_refuses_to_start_without_what_it_needs(
    values: dict[str, str], insecure: bool, message: str | None
) -> None:
    settings = Settings.model_validate({k: SecretStr(v) for k, v in values.items()})
    if message is None:
        settings.require_for_serve(insecure_webhook=insecure)
        return
    with pytest.raises(ConfigError, match=message) as caught:
        settings.require_for_serve(insecure_webhook=insecure)
    assert "\n" not in str(caught.value)


def test_secrets_never_show_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("ALERTMANAGER_WEBHOOK_TOKEN", "am-very-secret")
    settings = Settings()
    assert "very-secret" not in repr(settings)
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///./incident-bot.db", "sqlite+aiosqlite:///./incident-bot.db"),
        ("postgresql://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgres://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
    ],
)
def test_async_database_url(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


def test_catalog_defaults_without_a_file() -> None:
    catalog = load_catalog(None)
    assert catalog.incident.channel_prefix == "inc"
    assert catalog.incident.reopen_window.total_seconds() == 3600


def test_catalog_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "services:\n  payments:\n    namespace: production\n    responders: [S0PAY]\n"
        "rollback:\n  namespaces: [production]\n"
    )
    catalog = load_catalog(path)
    assert catalog.services["payments"].responders == ["S0PAY"]
    assert isinstance(catalog, Catalog)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  payments:\n    respnders: [S0PAY]\n", "services.payments.respnders"),
        ("incident: [1, 2\n", "INCIDENT_BOT_CONFIG"),
        ("incident:\n  reopen_window_minutes: -5\n", "reopen_window_minutes"),
    ],
)
def test_catalog_errors_name_the_wrong_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_catalog(path)


def test_missing_catalog_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_catalog(tmp_path / "nope.yaml")
