"""Configuration: environment variables (pydantic-settings) and the YAML service catalog."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.incident_rules import SEVERITIES
from bot.core.reminders import default_status_minutes
from bot.core.web_access import parse_networks
from bot.core.web_tokens import secret_problem

# A shared secret shorter than this can be guessed; Slack's signing secrets have 32 characters.
MIN_SECRET_LENGTH = 16
_SHARED_SECRETS = {
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "alertmanager_webhook_token": "ALERTMANAGER_WEBHOOK_TOKEN",
    "api_token": "API_TOKEN",
}


class ConfigError(ValueError):
    """A setting is missing or wrong; the message is one line a user can act on."""


class IncidentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_prefix: str = "inc"
    digest_channel: str | None = "incidents"
    severities: list[str] = Field(default_factory=lambda: list(SEVERITIES))
    service_label: str = "service"
    reopen_window_minutes: int = Field(default=60, ge=0)
    roles: list[str] = Field(default_factory=list)  # beyond commander, communications, scribe
    # Nudge the commander after this many minutes without a status update (null: never).
    status_update_minutes: dict[str, int | None] = Field(default_factory=default_status_minutes)
    no_commander_minutes: int | None = Field(default=10, gt=0)
    max_silence_hours: float = Field(default=24, gt=0)  # the longest /incident silence

    @property
    def reopen_window(self) -> timedelta:
        return timedelta(minutes=self.reopen_window_minutes)


class ServiceQueries(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: str | None = None
    latency_p95: str | None = None
    request_rate: str | None = None


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = "default"
    deployment: str | None = None
    responders: list[str] = Field(default_factory=list)
    runbook: str | None = None
    queries: ServiceQueries = Field(default_factory=ServiceQueries)


class RollbackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_users: list[str] = Field(default_factory=list)
    allowed_groups: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)


class SilenceConfig(BaseModel):
    """Who may silence an incident's alerts; both empty: the incident channel's members."""

    model_config = ConfigDict(extra="forbid")

    allowed_users: list[str] = Field(default_factory=list)
    allowed_groups: list[str] = Field(default_factory=list)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident: IncidentConfig = Field(default_factory=IncidentConfig)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    rollback: RollbackConfig = Field(default_factory=RollbackConfig)
    silence: SilenceConfig = Field(default_factory=SilenceConfig)
    postmortem_template: Path | None = None  # a Jinja2 file replacing the default draft


def load_catalog(path: Path | None) -> Catalog:
    if path is None:
        return Catalog()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"INCIDENT_BOT_CONFIG {path}: {e}") from e
    try:
        return Catalog.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"INCIDENT_BOT_CONFIG {path}: {where}: {first['msg']}") from e


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    alertmanager_webhook_token: SecretStr | None = None
    prometheus_url: str = "http://localhost:9090"
    prometheus_ca_file: Path | None = None  # a CA bundle for Prometheus' TLS certificate
    prometheus_insecure_skip_verify: bool = False  # explicit, and reported by `check`
    alertmanager_url: str | None = None
    kubeconfig: Path | None = None
    database_url: str = "sqlite:///./incident-bot.db"
    incident_bot_config: Path | None = None
    api_token: SecretStr | None = None
    host: str = "0.0.0.0"  # noqa: S104 - a server in a pod listens on all interfaces
    port: int = 8080
    log_level: str = "info"
    log_format: str | None = None
    max_body_bytes: int = 1024 * 1024
    # How long processed bodies are kept (bot/core/retention.py); incidents are kept.
    retention_webhook_days: int = Field(default=30, ge=1)
    retention_slack_event_days: int = Field(default=7, ge=1)
    # The incident pages (bot.http.pages): off while WEB_SECRET is unset.
    public_url: str | None = None  # where people's browsers reach the bot; links build on it
    web_secret: SecretStr | None = None  # signs the pages' links and CSRF tokens (HMAC)
    web_auth_user_header: str | None = None  # e.g. X-Auth-Request-Email, set by oauth2-proxy
    web_trusted_proxies: str = ""  # CIDRs, comma-separated: the only peers the header counts from

    @field_validator("slack_bot_token", "slack_app_token", *_SHARED_SECRETS, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `SLACK_SIGNING_SECRET=` in a manifest means "not set", never "the empty key".
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    def weak_secrets(self) -> list[str]:
        """Each shared secret too short to resist guessing, with what to do instead."""
        weak = []
        for field, env in _SHARED_SECRETS.items():
            secret: SecretStr | None = getattr(self, field)
            if field == "slack_signing_secret" and self.slack_app_token is not None:
                continue  # Socket Mode: no signatures to check
            if secret is not None and len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
                weak.append(
                    f"{env} is {len(secret.get_secret_value())} characters; use at least "
                    f"{MIN_SECRET_LENGTH} (openssl rand -hex 32)"
                )
        return weak

    def startup_warnings(self) -> list[str]:
        """What runs, but weaker than production should be: logged at every start."""
        warnings = []
        if self.alertmanager_webhook_token is None:
            warnings.append(
                "the Alertmanager webhook accepts requests from anyone (--insecure-webhook); "
                "set ALERTMANAGER_WEBHOOK_TOKEN"
            )
        if self.prometheus_insecure_skip_verify:
            warnings.append(
                "Prometheus' TLS certificate is not verified (PROMETHEUS_INSECURE_SKIP_VERIFY); "
                "set PROMETHEUS_CA_FILE instead"
            )
        return warnings

    @property
    def prometheus_verify(self) -> bool | str:
        """TLS verification for Prometheus: on by default, with the CA file when one is set."""
        if self.prometheus_insecure_skip_verify:
            return False
        return str(self.prometheus_ca_file) if self.prometheus_ca_file else True

    @property
    def web_enabled(self) -> bool:
        return self.web_secret is not None

    def web_problem(self) -> str | None:
        """Why the incident-page settings cannot work, in one line (None: they can, or off)."""
        secret = self.web_secret.get_secret_value() if self.web_secret is not None else None
        found = secret_problem(secret)
        if found is not None:
            return found
        try:
            proxies = parse_networks(self.web_trusted_proxies)
        except ValueError as e:
            return f"WEB_TRUSTED_PROXIES: {e}"
        if self.web_auth_user_header and not proxies:
            return "WEB_AUTH_USER_HEADER is set but WEB_TRUSTED_PROXIES is empty; name the proxy"
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            return f"PUBLIC_URL {self.public_url!r} must start with https:// (or http://)"
        return None

    def problems_for_serve(self, *, insecure_webhook: bool) -> list[str]:
        """Every setting `serve` needs and lacks, one line each saying what to set."""
        problems = []
        if self.slack_bot_token is None:
            problems.append("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
        if self.slack_app_token is None and self.slack_signing_secret is None:
            problems.append(
                "SLACK_SIGNING_SECRET is not set (Basic Information > Signing Secret); "
                "or set SLACK_APP_TOKEN for Socket Mode"
            )
        if self.alertmanager_webhook_token is None and not insecure_webhook:
            problems.append(
                "ALERTMANAGER_WEBHOOK_TOKEN is not set; set it (and the same bearer token in "
                "Alertmanager's webhook_configs) or pass --insecure-webhook"
            )
        problems += self.weak_secrets()
        web = self.web_problem()
        if web is not None:
            problems.append(web)
        return problems

    def require_for_serve(self, *, insecure_webhook: bool) -> None:
        """Refuse to start, naming every missing setting at once."""
        problems = self.problems_for_serve(insecure_webhook=insecure_webhook)
        if problems:
            raise ConfigError(config_problems(problems))


def config_problems(problems: list[str]) -> str:
    """One problem as its line; several as a count and one line each (never one per run)."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} settings to fix:\n" + "\n".join(f"  - {p}" for p in problems)


def validation_problems(error: ValidationError) -> list[str]:
    """Each invalid environment variable with pydantic's reason: `PORT: Input should be ...`."""
    problems = []
    for item in error.errors():
        where = str(item["loc"][0]).upper() if item["loc"] else "settings"
        problems.append(f"{where}: {item['msg']}")
    return problems


def load_settings() -> Settings:
    """Settings from the environment, or a ConfigError naming every invalid value."""
    try:
        return Settings()
    except ValidationError as e:
        raise ConfigError(config_problems(validation_problems(e))) from e


def async_database_url(url: str) -> str:
    """The async driver for a plain SQLAlchemy URL: aiosqlite, asyncpg."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
