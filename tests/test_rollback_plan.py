from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.rollback import (
    PendingRollback,
    RollbackRefused,
    RollbackStatus,
    argo_cd_manager,
    check_click,
    may_roll_back,
    plan_rollback,
    same_template,
    template_diff,
)

UID = "uid-1"
T = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def template(
    image: str, hash_: str, env: dict[str, str] | None = None, cpu: str = "500m"
) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "pay", "pod-template-hash": hash_}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                    "resources": {"limits": {"cpu": cpu}},
                }
            ]
        },
    }


def rs(revision: int, image: str, hash_: str, **kw: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"pay-{hash_}",
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "team": "payments",
                "kubernetes.io/change-cause": f"deploy {image}",
            },
            "ownerReferences": [{"uid": UID, "controller": True}],
            "creationTimestamp": (T + timedelta(minutes=revision)).isoformat(),
        },
        "spec": {"template": template(image, hash_, **kw)},
    }


def deployment(image: str, hash_: str, revision: int, **extra: Any) -> dict[str, Any]:
    meta = {
        "name": "payment-service",
        "namespace": "production",
        "uid": UID,
        "resourceVersion": "42",
        "annotations": {
            "deployment.kubernetes.io/revision": str(revision),
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kubernetes.io/change-cause": "deploy v2.3.1",
        },
        "labels": extra.pop("labels", {}),
    }
    meta["annotations"].update(extra.pop("annotations", {}))
    spec = extra.pop("spec", {})
    return {"metadata": meta, "spec": {"template": template(image, hash_, **extra), **spec}}


HISTORY = [
    rs(5, "pay:v2.2.9", "h5"),
    rs(6, "pay:v2.3.0", "h6", env={"POOL_TIMEOUT": "30s"}),
    rs(7, "pay:v2.3.1", "h7", env={"POOL_TIMEOUT": "3s", "NEW": "1"}, cpu="250m"),
]
CURRENT = deployment("pay:v2.3.1", "h7", 7, env={"POOL_TIMEOUT": "3s", "NEW": "1"}, cpu="250m")


def test_default_target_is_the_previous_revision_and_the_patch_is_kubectls() -> None:
    plan = plan_rollback(CURRENT, HISTORY)
    assert (plan.from_revision, plan.to_revision) == (7, 6)
    assert (plan.from_images, plan.to_images) == (("pay:v2.3.1",), ("pay:v2.3.0",))
    test_op, template_op, annotations_op = plan.patch
    assert test_op == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert template_op["path"] == "/spec/template"
    assert "pod-template-hash" not in template_op["value"]["metadata"]["labels"]
    assert template_op["value"]["spec"]["containers"][0]["image"] == "pay:v2.3.0"
    assert annotations_op == {
        "op": "replace",
        "path": "/metadata/annotations",
        "value": {
            "deployment.kubernetes.io/revision": "7",  # the deployment's own, kept
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "team": "payments",  # copied from the ReplicaSet
            "kubernetes.io/change-cause": "deploy pay:v2.3.0",
        },
    }


@pytest.mark.parametrize(("to", "images"), [(5, ("pay:v2.2.9",)), (6, ("pay:v2.3.0",))])
def test_to_revision(to: int, images: tuple[str, ...]) -> None:
    assert plan_rollback(CURRENT, HISTORY, to_revision=to).to_images == images


@pytest.mark.parametrize(
    ("dep", "history", "to", "message"),
    [
        (
            CURRENT,
            HISTORY,
            9,
            "unable to find revision 9 in the history of payment-service (revisions: 7, 6, 5)",
        ),
        (CURRENT, HISTORY, 7, "already at that template (revision 7)"),
        (CURRENT, HISTORY[2:], None, "no rollout history found for deployment payment-service"),
        (
            deployment("pay:v2.3.1", "h7", 7, spec={"paused": True}),
            HISTORY,
            None,
            "is paused: resume it first",
        ),
        (
            deployment("pay:v2.3.0", "zz", 8, env={"POOL_TIMEOUT": "30s"}),
            HISTORY,
            6,
            "already at that template",
        ),
    ],
    ids=[
        "unknown-revision",
        "current-revision",
        "no-history",
        "paused",
        "same-template-other-hash",
    ],
)
def test_refusals(
    dep: dict[str, Any], history: list[dict[str, Any]], to: int | None, message: str
) -> None:
    with pytest.raises(RollbackRefused) as caught:
        plan_rollback(dep, history, to_revision=to)
    assert message in str(caught.value)


def test_template_equality_ignores_only_the_hash() -> None:
    assert same_template(template("a", "h1"), template("a", "h2"))
    assert not same_template(template("a", "h1"), template("b", "h1"))


def test_diff_names_images_env_and_resources() -> None:
    diff = template_diff(
        template("pay:v2.3.1", "h7", {"POOL_TIMEOUT": "3s", "NEW": "1"}, "250m"),
        template("pay:v2.3.0", "h6", {"POOL_TIMEOUT": "30s"}, "500m"),
    )
    assert diff == [
        "app: image pay:v2.3.1 -> pay:v2.3.0",
        "app: env - NEW",
        "app: env ~ POOL_TIMEOUT (value changes)",
        "app: resources {'limits': {'cpu': '250m'}} -> {'limits': {'cpu': '500m'}}",
    ]


@pytest.mark.parametrize(
    ("labels", "annotations", "managed"),
    [
        (
            {},
            {"argocd.argoproj.io/tracking-id": "pay:apps/Deployment:production/payment-service"},
            True,
        ),
        ({"argocd.argoproj.io/instance": "payments-prod"}, {}, True),
        (
            {"app.kubernetes.io/instance": "payments-prod"},
            {"argocd.argoproj.io/sync-wave": "1"},
            True,
        ),
        ({"app.kubernetes.io/instance": "payments"}, {}, False),  # Helm sets it too
        ({}, {}, False),
    ],
)
def test_argo_cd_detection(
    labels: dict[str, str], annotations: dict[str, str], managed: bool
) -> None:
    dep = deployment("pay:v2.3.1", "h7", 7, labels=labels, annotations=annotations)
    assert (argo_cd_manager(dep) is not None) == managed
    assert (plan_rollback(dep, HISTORY).gitops is not None) == managed


POLICY = {
    "allowed_users": ["U0ONCALL1"],
    "allowed_groups": ["S0PAYONCALL"],
    "namespaces": ["production", "staging"],
}


@pytest.mark.parametrize(
    ("user", "groups", "namespace", "allowed", "reason"),
    [
        ("U0ONCALL1", [], "production", True, "allowed"),
        ("U0OTHER", ["S0PAYONCALL"], "staging", True, "allowed"),
        ("U0STRANGER", ["S0OTHER"], "production", False, "is not allowed to roll back"),
        ("U0ONCALL1", [], "kube-system", False, "not allowed in namespace kube-system"),
    ],
)
def test_who_may_roll_back(
    user: str, groups: list[str], namespace: str, allowed: bool, reason: str
) -> None:
    permission = may_roll_back(user, groups, namespace, **POLICY)
    assert permission.allowed == allowed
    assert reason in permission.reason


@pytest.mark.parametrize(
    ("status", "user", "age", "reason"),
    [
        ("pending", "U1", timedelta(minutes=14), None),
        ("pending", "U2", timedelta(minutes=1), "only <@U1>"),
        ("pending", "U1", timedelta(minutes=16), "older than 15 minutes"),
        ("confirmed", "U1", timedelta(minutes=1), "already confirmed"),
        ("cancelled", "U1", timedelta(minutes=1), "already cancelled"),
        ("timed_out", "U1", timedelta(minutes=1), "already timed out"),
    ],
)
def test_button_clicks_are_bound_and_expire(
    status: str, user: str, age: timedelta, reason: str | None
) -> None:
    result = check_click(PendingRollback("U1", T, RollbackStatus(status)), user, T + age)
    assert (result is None) if reason is None else (reason in (result or ""))


@pytest.mark.parametrize("status", ["confirmed", "patched", "completed", "stale"])
def test_a_second_click_names_who_confirmed(status: str) -> None:
    pending = PendingRollback("U1", T, RollbackStatus(status), confirmed_by="U1")
    assert check_click(pending, "U1", T) == "this rollback was already confirmed by <@U1>"


def test_cancel_may_come_late_confirm_may_not() -> None:
    pending = PendingRollback("U1", T, RollbackStatus.PENDING)
    assert check_click(pending, "U1", T + timedelta(hours=1), cancelling=True) is None
    assert check_click(pending, "U1", T + timedelta(hours=1)) is not None
