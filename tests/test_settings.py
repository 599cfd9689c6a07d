import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr
from urllib3.exceptions import InsecureRequestWarning

from bot.settings import Catalog, ConfigError, Settings, async_database_url, load_catalog

SECRET = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("values", "insecure", "message"),
    [
        ({}, False, "SLACK_BOT_TOKEN is not set"),
        ({"slack_bot_token": "xoxb-1"}, False, "SLACK_SIGNING_SECRET is not set"),
        (
            {"slack_bot_token": "xoxb-1", "slack_signing_secret": SECRET},
            False,
            "ALERTMANAGER_WEBHOOK_TOKEN",
        ),
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": SECRET}, True, None),
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
    with pytest.raises(ConfigError, match=message):
        settings.require_for_serve(insecure_webhook=insecure)


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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_SIGNING_SECRET": "   "}, "SLACK_SIGNING_SECRET is not set"),
        ({"ALERTMANAGER_WEBHOOK_TOKEN": ""}, "ALERTMANAGER_WEBHOOK_TOKEN is not set"),
        (
            {"SLACK_SIGNING_SECRET": "short"},
            "SLACK_SIGNING_SECRET is 5 characters; use at least 16",
        ),
        ({"ALERTMANAGER_WEBHOOK_TOKEN": "x" * 15}, "ALERTMANAGER_WEBHOOK_TOKEN is 15 characters"),
        ({"API_TOKEN": "abc"}, "API_TOKEN is 3 characters"),
    ],
)
def test_blank_secrets_are_unset_and_short_ones_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    base = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": SECRET,
        "ALERTMANAGER_WEBHOOK_TOKEN": SECRET,
    }
    for key, value in {**base, **env}.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    with pytest.raises(ConfigError, match=message):
        settings.require_for_serve(insecure_webhook=False)
    if not env.get("API_TOKEN", "x").strip():
        assert settings.api_token is None


def test_blank_api_token_means_api_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "")
    assert Settings().api_token is None


def test_bearer_ok_refuses_an_empty_expected_token() -> None:
    from bot.http.web import bearer_ok

    assert not bearer_ok("Bearer ", SecretStr(""))
    assert not bearer_ok("Bearer", SecretStr(" "))
    assert bearer_ok(f"Bearer {SECRET}", SecretStr(SECRET))
    assert not bearer_ok("Bearer caf\udcc3", SecretStr(SECRET))  # undecodable header bytes


def test_bolt_refuses_an_empty_signing_secret() -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.app import make_bolt_app

    with pytest.raises(ValueError, match="empty signing secret"):
        make_bolt_app(client=AsyncWebClient(token="xoxb-1"), signing_secret="")


def test_prometheus_tls_is_verified_unless_told_otherwise(tmp_path: Path) -> None:
    assert Settings().prometheus_verify is True
    ca = tmp_path / "ca.pem"
    assert Settings(prometheus_ca_file=ca).prometheus_verify == str(ca)
    insecure = Settings(prometheus_insecure_skip_verify=True, prometheus_ca_file=ca)
    assert insecure.prometheus_verify is False
    assert any("PROMETHEUS_INSECURE_SKIP_VERIFY" in w for w in insecure.startup_warnings())
    assert any("--insecure-webhook" in w for w in Settings().startup_warnings())
    assert Settings(alertmanager_webhook_token=SecretStr(SECRET)).startup_warnings() == []


TLS = Path(__file__).resolve().parent / "fixtures" / "tls"


@asynccontextmanager
async def self_signed_prometheus() -> AsyncIterator[str]:
    """A Prometheus query API over HTTPS with a certificate no system CA vouches for."""

    async def query(request: web.Request) -> web.Response:
        sample = {"metric": {"job": "api"}, "value": [1700000000, "1"]}
        result = {"resultType": "vector", "result": [sample]}
        return web.json_response({"status": "success", "data": result})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    app = web.Application()
    app.router.add_route("*", "/api/v1/query", query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_the_prometheus_client_verifies_tls_by_default() -> None:
    from integrations.prometheus import PrometheusSource, PrometheusUnavailable, Sample

    async with self_signed_prometheus() as url:
        with pytest.raises(PrometheusUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await PrometheusSource(url).instant("up")
        skip = PrometheusSource(url, verify=False)
        with pytest.warns(InsecureRequestWarning):
            assert await skip.instant("up") == [Sample({"job": "api"}, 1.0)]


def test_check_shows_an_insecure_webhook_as_a_warning() -> None:
    from bot.cli.check.checks import WARNING, check_settings

    settings = Settings(slack_bot_token=SecretStr("xoxb-1"), slack_signing_secret=SecretStr(SECRET))
    row = check_settings(settings, insecure_webhook=True)
    assert row.result == WARNING and "--insecure-webhook" in row.detail


def test_check_asks_patch_only_in_rollback_namespaces_and_by_a_catalog_name() -> None:
    from bot.cli.check.kubernetes import _patch_targets

    catalog = Catalog.model_validate(
        {
            "services": {
                "payments": {"namespace": "production", "deployment": "payment-service"},
                "search": {"namespace": "production"},
                "docs": {"namespace": "docs", "deployment": "docs-web"},
            },
            "rollback": {"namespaces": ["production", "staging"]},
        }
    )
    # resourceNames in the chart's Role allow a named deployment; "" asks about any.
    assert _patch_targets(catalog) == {"production": "payment-service", "staging": ""}
