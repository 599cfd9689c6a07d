"""The namespace the bot looks in for a service missing from the catalog: kubectl's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from integrations.kubernetes import current_namespace


def kubeconfig(tmp_path: Path, namespace: str | None) -> Path:
    context: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace is not None:
        context["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ctx",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "ctx", "context": context}],
            }
        )
    )
    return path


@pytest.mark.parametrize(("namespace", "expected"), [("shop", "shop"), (None, "default")])
def test_the_kubeconfig_contexts_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, namespace: str | None, expected: str
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert current_namespace(kubeconfig(tmp_path, namespace)) == expected


def test_in_a_cluster_the_pods_own_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    token_dir = tmp_path / "serviceaccount"
    token_dir.mkdir()
    (token_dir / "namespace").write_text("monitoring\n")
    assert current_namespace(in_cluster_file=token_dir / "namespace") == "monitoring"


def test_no_configuration_at_all_is_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert current_namespace(tmp_path / "missing") == "default"
