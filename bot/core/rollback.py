"""`kubectl rollout undo` for Deployments, as a pure plan: what to patch, and whether to.

Matches kubectl's DeploymentRollbacker: find the target ReplicaSet by revision
(default: the one before the newest), refuse a paused deployment, skip when the
template already matches (ignoring `pod-template-hash`), drop the hash label,
keep the deployment's own bookkeeping annotations and copy the others from the
ReplicaSet, and send one JSON patch of `/spec/template` and
`/metadata/annotations`. A `test` op on the resourceVersion read at preview time
makes the patch refuse to apply to a deployment that changed since.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.core.escaping import mention, mrkdwn
from bot.core.rollout import HASH_LABEL, Revision, revision_of, revisions

Obj = Mapping[str, Any]
CONFIRM_WINDOW = timedelta(minutes=15)

# The deployment's own annotations kubectl never overwrites from the ReplicaSet.
KEEP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


class RollbackStatus(StrEnum):
    """Where a /rollback stands; stored as its value in `rollbacks.status`."""

    PENDING = "pending"  # previewed, waiting for Confirm or Cancel
    BLOCKED = "blocked"  # a GitOps controller owns it and --force was not given
    CONFIRMED = "confirmed"  # claimed by the one Confirm click that counts
    PATCHED = "patched"  # the patch went in; the rollout is being watched
    COMPLETED = "completed"
    FAILED = "failed"
    STALE = "stale"  # the deployment changed since the preview: nothing was changed
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def was_confirmed(self) -> bool:
        return self in _CONFIRMED_STATES


_CONFIRMED_STATES = frozenset(
    {
        RollbackStatus.CONFIRMED,
        RollbackStatus.PATCHED,
        RollbackStatus.COMPLETED,
        RollbackStatus.FAILED,
        RollbackStatus.STALE,
        RollbackStatus.TIMED_OUT,
    }
)


class RollbackRefused(ValueError):
    """Why this rollback cannot go ahead; the message is for the person who asked."""


@dataclass(frozen=True)
class RollbackPlan:
    namespace: str
    deployment: str
    resource_version: str
    from_revision: int | None
    from_images: tuple[str, ...]
    to_revision: int
    to_images: tuple[str, ...]
    diff: tuple[str, ...]
    patch: tuple[dict[str, Any], ...]
    gitops: str | None = None  # why a GitOps controller would undo this
    history: tuple[Revision, ...] = field(default=(), compare=False)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def without_hash(template: Obj) -> dict[str, Any]:
    clean = copy.deepcopy(dict(template))
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return clean


def same_template(a: Obj, b: Obj) -> bool:
    return without_hash(a) == without_hash(b)


def _pick(revs: Sequence[Revision], to_revision: int | None, name: str) -> Revision:
    if to_revision is not None:
        for rev in revs:
            if rev.number == to_revision:
                return rev
        known = ", ".join(str(r.number) for r in revs) or "none"
        raise RollbackRefused(
            f"unable to find revision {to_revision} in the history of {name} (revisions: {known})"
        )
    if len(revs) < 2:
        raise RollbackRefused(f"no rollout history found for deployment {name}")
    return revs[1]  # newest first: the one before the latest


def argo_cd_manager(deployment: Obj) -> str | None:
    """Why Argo CD manages this deployment (its self-heal would revert a rollback), or None."""
    labels = _meta(deployment).get("labels") or {}
    annotations = _meta(deployment).get("annotations") or {}
    tracking = annotations.get("argocd.argoproj.io/tracking-id")
    if tracking:
        return f"Argo CD tracks it (argocd.argoproj.io/tracking-id={tracking})"
    if "argocd.argoproj.io/instance" in labels:
        return f"Argo CD application {labels['argocd.argoproj.io/instance']} owns it"
    argo_marks = [k for k in (*labels, *annotations) if k.startswith("argocd.argoproj.io/")]
    if "app.kubernetes.io/instance" in labels and argo_marks:
        return f"Argo CD application {labels['app.kubernetes.io/instance']} owns it"
    return None


def plan_rollback(
    deployment: Obj, replicasets: Iterable[Obj], *, to_revision: int | None = None
) -> RollbackPlan:
    meta = _meta(deployment)
    name = str(meta.get("name", ""))
    if (deployment.get("spec") or {}).get("paused"):
        raise RollbackRefused(
            f"{name} is paused: resume it first (kubectl rollout resume deployment/{name}), "
            "then try again"
        )
    revs = revisions(deployment, replicasets)
    target = _pick(revs, to_revision, name)
    current_template = (deployment.get("spec") or {}).get("template") or {}
    if same_template(target.template, current_template):
        raise RollbackRefused(
            f"{name} is already at that template (revision {target.number}): nothing to roll back"
        )
    template = without_hash(target.template)
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k in KEEP_ANNOTATIONS
    }
    rs = next((r for r in replicasets if _meta(r).get("name") == target.replicaset), {})
    for key, value in (_meta(rs).get("annotations") or {}).items():
        if key not in KEEP_ANNOTATIONS:
            annotations[key] = value
    resource_version = str(meta.get("resourceVersion", ""))
    patch = (
        {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    )
    return RollbackPlan(
        namespace=str(meta.get("namespace", "")),
        deployment=name,
        resource_version=resource_version,
        from_revision=revision_of(deployment),
        from_images=_images(current_template),
        to_revision=target.number,
        to_images=target.images,
        diff=tuple(template_diff(current_template, template)),
        patch=patch,
        gitops=argo_cd_manager(deployment),
        history=tuple(revs),
    )


def _images(template: Obj) -> tuple[str, ...]:
    return tuple(str(c.get("image", "")) for c in _containers(template).values())


def _containers(template: Obj) -> dict[str, Mapping[str, Any]]:
    spec = template.get("spec") or {}
    return {str(c.get("name", i)): c for i, c in enumerate(spec.get("containers") or [])}


def template_diff(current: Obj, target: Obj) -> list[str]:
    """What changes, per container: image, env variable names, resources."""
    lines: list[str] = []
    now, then = _containers(current), _containers(target)
    for name in sorted(set(now) | set(then)):
        a, b = now.get(name), then.get(name)
        if a is None or b is None:
            lines.append(f"{name}: container {'added' if a is None else 'removed'}")
            continue
        if a.get("image") != b.get("image"):
            lines.append(f"{name}: image {a.get('image')} -> {b.get('image')}")
        env_a = {e.get("name") for e in a.get("env") or []}
        env_b = {e.get("name") for e in b.get("env") or []}
        for added in sorted(str(e) for e in env_b - env_a):
            lines.append(f"{name}: env + {added}")
        for removed in sorted(str(e) for e in env_a - env_b):
            lines.append(f"{name}: env - {removed}")
        changed_env = sorted(
            str(e.get("name"))
            for e in b.get("env") or []
            if e.get("name") in env_a and e not in (a.get("env") or [])
        )
        for env in changed_env:
            lines.append(f"{name}: env ~ {env} (value changes)")
        if (a.get("resources") or {}) != (b.get("resources") or {}):
            lines.append(
                f"{name}: resources {a.get('resources') or {}} -> {b.get('resources') or {}}"
            )
    if not lines:
        lines.append("pod template differs outside images, env names and resources")
    return lines


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str


def may_roll_back(
    user: str,
    user_groups: Iterable[str],
    namespace: str,
    *,
    allowed_users: Sequence[str],
    allowed_groups: Sequence[str],
    namespaces: Sequence[str],
) -> Permission:
    if namespace not in namespaces:
        allowed = ", ".join(namespaces) or "none configured"
        return Permission(
            False,
            f"rollbacks are not allowed in namespace {mrkdwn(namespace)} (allowed: {allowed})",
        )
    if user in allowed_users or set(user_groups) & set(allowed_groups):
        return Permission(True, "allowed")
    return Permission(
        False,
        f"{mention(user)} is not allowed to roll back: ask someone in rollback.allowed_users or "
        "rollback.allowed_groups",
    )


@dataclass(frozen=True)
class PendingRollback:
    requested_by: str
    created_at: datetime
    status: RollbackStatus
    confirmed_by: str | None = None


def check_click(
    pending: PendingRollback, user: str, now: datetime, *, cancelling: bool = False
) -> str | None:
    """None when this click may proceed, else why not (said only to the one who clicked).

    A cancel may come after the 15 minutes (it only closes the preview); a confirm may not.
    """
    status = RollbackStatus(pending.status)
    if status.was_confirmed and pending.confirmed_by:
        return f"this rollback was already confirmed by {mention(pending.confirmed_by)}"
    if status is not RollbackStatus.PENDING:
        return f"this rollback was already {status.value.replace('_', ' ')}"
    if user != pending.requested_by:
        return f"only {mention(pending.requested_by)}, who asked for this rollback, can confirm it"
    if not cancelling and now - pending.created_at > CONFIRM_WINDOW:
        return "this preview is older than 15 minutes: run /rollback again for a fresh one"
    return None
