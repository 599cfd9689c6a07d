from datetime import UTC, datetime

import pytest

from bot.core.status_report import (
    MetricReading,
    StatusReport,
    UnknownService,
    format_value,
    resolve_target,
    service_queries,
)

CATALOG = {"payments": ("production", "payment-service"), "search": ("prod", None)}


@pytest.mark.parametrize(
    ("requested", "namespace", "incident", "expected"),
    [
        ("payments", None, None, ("payments", "production", "payment-service", True)),
        ("payments", "staging", None, ("payments", "staging", "payment-service", True)),
        (None, None, "payments", ("payments", "production", "payment-service", True)),
        ("search", None, None, ("search", "prod", "search", True)),
    ],
)
def test_resolve_target(
    requested: str | None,
    namespace: str | None,
    incident: str | None,
    expected: tuple[str, str, str, bool],
) -> None:
    target = resolve_target(
        CATALOG,
        requested,
        namespace=namespace,
        incident_service=incident,
        extra_namespaces=("staging",),
    )
    assert (target.service, target.namespace, target.deployment, target.in_catalog) == expected


@pytest.mark.parametrize("namespace", ["kube-system", "staging", "default", "<!channel>"])
def test_status_reads_only_catalog_namespaces(namespace: str) -> None:
    with pytest.raises(UnknownService, match="only the namespaces in the catalog") as caught:
        resolve_target(CATALOG, "payments", namespace=namespace, incident_service=None)
    assert "`prod`, `production`" in str(caught.value)
    assert "<!channel>" not in str(caught.value)


@pytest.mark.parametrize(
    ("catalog", "requested", "message"),
    [
        (CATALOG, "nope", "Unknown service `nope`. Known services: payments, search."),
        (CATALOG, None, "Which service?"),
        ({}, None, "Which service?"),
    ],
)
def test_resolve_target_errors_say_what_to_do(
    catalog: dict[str, tuple[str, str | None]], requested: str | None, message: str
) -> None:
    with pytest.raises(UnknownService, match=message.replace("?", r"\?").replace(".", r"\.")):
        resolve_target(catalog, requested, namespace=None, incident_service=None)


def test_without_catalog_the_name_is_a_deployment() -> None:
    target = resolve_target({}, "api", namespace=None, incident_service=None)
    assert (target.namespace, target.deployment, target.in_catalog) == ("default", "api", False)


@pytest.mark.parametrize(
    ("catalog", "requested", "namespace", "expected"),
    [
        # Not in the catalog: a deployment in the bot's own namespace, where kubectl would look.
        ({}, "api", None, ("monitoring", "api", False)),
        # -n may name the bot's own namespace even when the catalog does not.
        ({}, "api", "monitoring", ("monitoring", "api", False)),
        # A catalog entry keeps its own namespace.
        (CATALOG, "payments", None, ("production", "payment-service", True)),
    ],
)
def test_the_bots_own_namespace_is_the_default(
    catalog: dict[str, tuple[str, str | None]],
    requested: str,
    namespace: str | None,
    expected: tuple[str, str, bool],
) -> None:
    target = resolve_target(
        catalog,
        requested,
        namespace=namespace,
        incident_service=None,
        default_namespace="monitoring",
    )
    assert (target.namespace, target.deployment, target.in_catalog) == expected


def test_queries_substitute_the_service_and_honour_overrides() -> None:
    queries = service_queries("payments", {"request_rate": 'sum(rate(reqs{app="{service}"}[1m]))'})
    assert 'service="payments",status=~"5.."' in queries["error_rate"]
    assert queries["request_rate"] == 'sum(rate(reqs{app="payments"}[1m]))'


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("error_rate", 0.4512, "45.1%"),
        ("latency_p95", 0.25, "250 ms"),
        ("latency_p95", 1.5, "1.50 s"),
        ("request_rate", 12.34, "12.3 req/s"),
        ("error_rate", None, "no data"),
    ],
)
def test_format_value(key: str, value: float | None, text: str) -> None:
    assert format_value(key, value) == text


@pytest.mark.parametrize(
    ("now", "before", "trend", "breached"),
    [
        (0.45, 0.01, "rising", True),
        (0.01, 0.45, "falling", False),
        (0.02, 0.021, "steady", False),
        (0.06, None, None, True),
        (None, 0.1, None, False),
    ],
)
def test_error_rate_trend_and_threshold(
    now: float | None, before: float | None, trend: str | None, breached: bool
) -> None:
    reading = MetricReading("error_rate", now, before)
    assert (reading.trend, reading.breached) == (trend, breached)


def test_key_figures_for_the_timeline() -> None:
    report = StatusReport(
        "payments",
        "production",
        "payment-service",
        datetime(2026, 11, 26, tzinfo=UTC),
        metrics=(MetricReading("error_rate", 0.45, 0.01),),
    )
    assert report.key_figures()["error_rate"] == 0.45
    assert report.summary_line() == "/status payments: Error rate 45.0%"
