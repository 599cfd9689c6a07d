"""`incident-bot check` against the stand-ins: the fake Slack, the fake Kubernetes API, a
real Prometheus scraping the traffic exporter, and a SQLite database.

The command runs in-process through click's CliRunner, in a worker thread (it calls
`asyncio.run` itself while the fakes keep serving on the test's event loop). Prometheus is
started once for the module, on an event loop of its own in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from click.testing import CliRunner

from bot.cli.check.checks import BOT_SCOPES, KUBERNETES_PERMISSIONS, mask_database_url, mask_url
from bot.cli.check.command import check
from bot.settings import Settings
from bot.storage.db import make_engine, migrate
from bot.storage.models import WebhookDelivery
from bot.storage.store import IncidentStore
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from tests.support.bots import BOT_TOKEN, SIGNING_SECRET, WEBHOOK_TOKEN
from tests.support.metrics_exporter import TrafficExporter
from tests.support.prometheus_process import PrometheusProcess, find_prometheus
from tests.support.realparts import require_binary

T = TypeVar("T")

CATALOG = {
    "services": {
        "payments": {"namespace": "production", "deployment": "payment-service"},
        "search": {"namespace": "staging", "deployment": "search"},
    },
    "rollback": {"namespaces": ["production", "staging"]},
}


class _LoopThread:
    """An event loop running in a thread of its own, for module-lived servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_binary(find_prometheus)
    background = _LoopThread()
    exporter = TrafficExporter(services=("payments", "search"))
    background.run(exporter.start())
    prometheus = PrometheusProcess(
        workdir=tmp_path_factory.mktemp("prometheus"), scrape_targets=[exporter.target]
    )
    try:
        background.run(prometheus.start())
        yield prometheus.url
    finally:
        background.run(prometheus.stop())
        background.run(exporter.stop())
        background.close()


@pytest.fixture
async def kubernetes(tmp_path: Path) -> AsyncIterator[tuple[FakeKubernetes, Path]]:
    async with FakeKubernetes() as fake:
        yield fake, fake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def migrated_sqlite_url(tmp_path: Path) -> str:
    """A SQLite database the bot's migrations made, as `incident-bot check` finds it ready."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    engine = make_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    return url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_catalog(tmp_path: Path, catalog: dict[str, Any]) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return path


@pytest.fixture
def env(
    tmp_path: Path,
    fake_slack: FakeSlack,
    kubernetes: tuple[FakeKubernetes, Path],
    prometheus_url: str,
    migrated_sqlite_url: str,
) -> dict[str, str | None]:
    """Every variable the command reads; None unsets what the developer's shell may have."""
    unset: dict[str, str | None] = {name.upper(): None for name in Settings.model_fields}
    return unset | {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": None,
        "SLACK_API_URL": fake_slack.url,
        "ALERTMANAGER_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "PROMETHEUS_URL": prometheus_url,
        "KUBECONFIG": str(kubernetes[1]),
        "KUBERNETES_SERVICE_HOST": None,
        "DATABASE_URL": migrated_sqlite_url,
        "INCIDENT_BOT_CONFIG": str(write_catalog(tmp_path, CATALOG)),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


async def run_check(env: dict[str, str | None], *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(
        CliRunner().invoke, check, ["--timeout", "5", *args], env=env, catch_exceptions=False
    )
    return result.exit_code, result.stdout


async def check_json(env: dict[str, str | None]) -> tuple[int, dict[str, dict[str, str]]]:
    code, out = await run_check(env, "--json")
    rows = json.loads(out)
    assert [set(r) for r in rows] == [{"check", "result", "detail", "fix"}] * len(rows)
    return code, {r["check"]: r for r in rows}


def problems(rows: dict[str, dict[str, str]]) -> list[str]:
    return [name for name, row in rows.items() if row["result"] == "PROBLEM"]


async def test_all_ok(env: dict[str, str | None]) -> None:
    code, rows = await check_json(env)
    assert code == 0, rows
    assert {name: row["result"] for name, row in rows.items()} == {
        "config: settings": "OK",
        "config: catalog": "OK",
        "config: incident pages": "SKIPPED",
        "slack: auth.test": "OK",
        "slack: scopes": "OK",
        "slack: mode": "OK",
        "prometheus: reachable": "OK",
        "prometheus: services.payments": "OK",
        "prometheus: services.search": "OK",
        "kubernetes: reachable": "OK",
        "kubernetes: RBAC in production": "OK",
        "kubernetes: RBAC in staging": "OK",
        "database": "OK",
        "deliveries": "OK",
    }
    assert (
        rows["slack: auth.test"]["detail"] == "bot @incident-bot (U0BOT) in team Fake Team (T0TEST)"
    )
    assert (
        f"all {len(KUBERNETES_PERMISSIONS)} permissions"
        in rows["kubernetes: RBAC in staging"]["detail"]
    )
    assert "3 queries evaluate" in rows["prometheus: services.payments"]["detail"]

    code, table = await run_check(env)
    assert code == 0
    assert "incident-bot check" in table
    assert "PROBLEM" not in table
    assert table.count("OK") >= len(rows) - 1  # the incident pages row is SKIPPED
    for secret in (BOT_TOKEN, SIGNING_SECRET, WEBHOOK_TOKEN):
        assert secret not in table


async def test_prometheus_down(env: dict[str, str | None]) -> None:
    down = env["PROMETHEUS_URL"] = f"http://127.0.0.1:{closed_port()}"
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["prometheus: reachable"]
    row = rows["prometheus: reachable"]
    assert row["detail"] == f"{down}: connection refused"
    assert row["fix"] == f"start Prometheus or set PROMETHEUS_URL (now {down})"
    assert rows["prometheus: queries"]["result"] == "SKIPPED"


async def test_bad_catalog_query(env: dict[str, str | None], tmp_path: Path) -> None:
    bad = 'sum(rate(http_requests_total{service="{service}"}[5m])'  # a parenthesis short
    catalog = yaml.safe_load(yaml.safe_dump(CATALOG))
    catalog["services"]["payments"]["queries"] = {"error_rate": bad}
    env["INCIDENT_BOT_CONFIG"] = str(write_catalog(tmp_path, catalog))
    code, rows = await check_json(env)
    assert code == 1
    name = "prometheus: services.payments.queries.error_rate"
    assert problems(rows) == [name]
    row = rows[name]
    assert "parse error" in row["detail"]
    assert bad.replace("{service}", "payments") in row["detail"]
    assert row["fix"] == "fix services.payments.queries.error_rate in INCIDENT_BOT_CONFIG"
    assert rows["prometheus: services.search"]["result"] == "OK"


async def test_missing_rbac_verb(
    env: dict[str, str | None], kubernetes: tuple[FakeKubernetes, Path]
) -> None:
    kubernetes[0].deny("patch", "deployments", "production")
    kubernetes[0].deny("get", "pods/log", "production")
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["kubernetes: RBAC in production"]
    row = rows["kubernetes: RBAC in production"]
    assert row["detail"] == "cannot patch deployments, get pods/log"
    assert row["fix"] == (
        "grant it in the Role in namespace production, see helm/incident-bot/templates/rbac.yaml"
    )
    assert rows["kubernetes: RBAC in staging"]["result"] == "OK"


async def test_kubernetes_unreachable(
    env: dict[str, str | None], kubernetes: tuple[FakeKubernetes, Path]
) -> None:
    kubernetes[0].set_down(True)
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["kubernetes: reachable"]
    assert rows["kubernetes: RBAC"]["result"] == "SKIPPED"


async def test_no_kubeconfig(env: dict[str, str | None], tmp_path: Path) -> None:
    env["KUBECONFIG"] = str(tmp_path / "missing-kubeconfig")
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["kubernetes: reachable"]
    assert "KUBECONFIG" in rows["kubernetes: reachable"]["fix"]


async def test_missing_slack_scope(env: dict[str, str | None], fake_slack: FakeSlack) -> None:
    fake_slack.scopes = [s for s in BOT_SCOPES if s not in ("pins:write", "files:write")]
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["slack: scopes"]
    row = rows["slack: scopes"]
    assert row["detail"] == "the token lacks files:write, pins:write"
    assert "reinstall the app" in row["fix"]
    assert "slack-app-manifest.yaml" in row["fix"]


async def test_wrong_slack_token(env: dict[str, str | None]) -> None:
    env["SLACK_BOT_TOKEN"] = "xoxb-not-the-token"
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["slack: auth.test"]
    assert rows["slack: auth.test"]["detail"] == "auth.test failed: invalid_auth"
    assert "Bot User OAuth Token" in rows["slack: auth.test"]["fix"]
    assert rows["slack: scopes"]["result"] == "SKIPPED"


@pytest.mark.parametrize(
    ("app_token", "result", "says"),
    [
        (None, "OK", "HTTP: Slack POSTs to /slack/events"),
        ("fake's", "OK", "Socket Mode: the app token opens a socket"),
        ("xapp-1-A0TEST-1-revoked", "PROBLEM", "apps.connections.open failed: invalid_auth"),
        (BOT_TOKEN, "PROBLEM", "apps.connections.open failed: not_allowed_token_type"),
    ],
)
async def test_slack_mode_and_whether_the_app_token_opens_a_socket(
    env: dict[str, str | None],
    fake_slack: FakeSlack,
    app_token: str | None,
    result: str,
    says: str,
) -> None:
    env["SLACK_APP_TOKEN"] = fake_slack.socket.app_token if app_token == "fake's" else app_token
    code, rows = await check_json(env)
    row = rows["slack: mode"]
    assert (row["result"], code) == (result, 0 if result == "OK" else 1), row
    assert says in row["detail"]
    if result == "PROBLEM":
        assert "xapp-" in row["fix"]
        assert problems(rows) == ["slack: mode"]
    code, table = await run_check(env)
    assert fake_slack.socket.app_token not in table  # the token is never shown


async def test_unmigrated_database_is_what_serve_creates(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE unrelated (id INTEGER)")
    connection.close()
    env["DATABASE_URL"] = f"sqlite:///{path}"
    _, rows = await check_json(env)
    assert rows["database"]["result"] == "OK"
    assert "no incident-bot tables yet" in rows["database"]["detail"]
    assert "created and migrated by `incident-bot serve`" in rows["database"]["detail"]
    assert "database" not in problems(rows)


async def test_a_parked_delivery_is_a_problem_with_the_command_to_replay_it(
    env: dict[str, str | None],
) -> None:
    database_url = env["DATABASE_URL"]
    assert database_url is not None
    engine = make_engine(database_url)
    try:
        store = IncidentStore(engine)
        now = datetime.now(UTC)
        await store.save(
            WebhookDelivery(
                received_at=now,
                group_key="g",
                body="{}",
                attempts=8,
                failed_at=now,
                last_error="KeyError: 'x'",
            )
        )
    finally:
        await engine.dispose()
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["deliveries"]
    assert rows["deliveries"]["detail"] == ("1 Alertmanager deliveries parked as failed, 0 pending")
    assert "incident-bot deliveries --retry ID" in rows["deliveries"]["fix"]


async def test_missing_sqlite_file_is_ok_and_not_created(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    path = tmp_path / "nowhere.db"
    env["DATABASE_URL"] = f"sqlite:///{path}"
    _, rows = await check_json(env)
    assert rows["database"]["result"] == "OK"
    assert (
        "no database yet; created and migrated by `incident-bot serve`"
        in (rows["database"]["detail"])
    )
    assert "database" not in problems(rows)
    assert not path.exists()


async def test_database_newer_than_the_code_is_a_problem(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('9999')")
    connection.close()
    env["DATABASE_URL"] = f"sqlite:///{path}"
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["database"]
    assert (
        "at revision 9999, newer than this version of incident-bot knows"
        in (rows["database"]["detail"])
    )


async def test_missing_settings_and_broken_catalog(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    env["SLACK_BOT_TOKEN"] = None
    env["ALERTMANAGER_WEBHOOK_TOKEN"] = None
    env["INCIDENT_BOT_CONFIG"] = str(write_catalog(tmp_path, {"services": {"x": {"nope": 1}}}))
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["config: settings", "config: catalog"]
    assert rows["config: settings"]["detail"].startswith("SLACK_BOT_TOKEN is not set")
    assert "; ALERTMANAGER_WEBHOOK_TOKEN is not set" in rows["config: settings"]["detail"]
    assert "services.x.nope" in rows["config: catalog"]["detail"]
    assert rows["slack: auth.test"]["result"] == "SKIPPED"
    assert rows["prometheus: queries"]["result"] == "SKIPPED"


async def test_incident_pages_row(env: dict[str, str | None]) -> None:
    env["WEB_SECRET"] = "w" * 40
    code, rows = await check_json(env)
    assert code == 1
    assert problems(rows) == ["config: incident pages"]
    assert "PUBLIC_URL is not" in rows["config: incident pages"]["detail"]
    env["PUBLIC_URL"] = "https://incidents.example.com"
    env["WEB_AUTH_USER_HEADER"] = "X-Auth-Request-Email"
    env["WEB_TRUSTED_PROXIES"] = "10.0.0.0/8"
    code, rows = await check_json(env)
    row = rows["config: incident pages"]
    assert (code, row["result"]) == (0, "OK")
    assert "https://incidents.example.com/incidents/" in row["detail"]
    assert "X-Auth-Request-Email" in row["detail"]
    assert "w" * 40 not in json.dumps(rows)  # the secret is never shown
    env["WEB_SECRET"] = "short"
    code, rows = await check_json(env)
    assert "at least 32" in rows["config: incident pages"]["detail"]


async def test_table_shows_problems_with_their_fix(env: dict[str, str | None]) -> None:
    env["PROMETHEUS_URL"] = f"http://127.0.0.1:{closed_port()}"
    code, table = await run_check(env)
    assert code == 1
    assert "PROBLEM" in table
    assert "start Prometheus or set" in table


async def test_invalid_setting_is_one_problem_row(env: dict[str, str | None]) -> None:
    env["PORT"] = "not-a-port"
    env["MAX_BODY_BYTES"] = "a lot"
    code, rows = await check_json(env)
    assert code == 1
    assert list(rows) == ["config: settings"]
    assert rows["config: settings"]["detail"].startswith("PORT: ")
    assert "; MAX_BODY_BYTES: " in rows["config: settings"]["detail"]
    assert rows["config: settings"]["fix"] == "fix PORT, MAX_BODY_BYTES"


def test_urls_are_shown_without_passwords() -> None:
    assert mask_url("http://user:s3cret@prom:9090/x") == "http://user:***@prom:9090/x"
    assert mask_url("http://prom:9090") == "http://prom:9090"
    shown = mask_database_url("postgresql://bot:s3cret@db/incidents")
    assert "s3cret" not in shown
    assert "db/incidents" in shown
