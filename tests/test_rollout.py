from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.rollout import (
    owned_replicasets,
    revisions,
    rollout_status,
    rollouts_between,
    warning_events,
)

NOW = datetime(2026, 11, 26, 14, 40, tzinfo=UTC)
UID = "dep-uid"


def rs(
    name: str, revision: int | None, image: str, created: datetime, owner: str = UID
) -> dict[str, Any]:
    annotations = {"deployment.kubernetes.io/revision": str(revision)} if revision else {}
    return {
        "metadata": {
            "name": name,
            "annotations": annotations,
            "creationTimestamp": created.isoformat(),
            "ownerReferences": [{"uid": owner, "controller": True, "kind": "Deployment"}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": 3},
    }


DEPLOYMENT = {"metadata": {"name": "payment-service", "uid": UID, "generation": 2}}


def test_revisions_newest_first_only_owned() -> None:
    sets = [
        rs("a", 6, "pay:v2.3.0", NOW - timedelta(days=2)),
        rs("b", 7, "pay:v2.3.1", NOW - timedelta(minutes=9)),
        rs("c", 9, "other:v1", NOW, owner="someone-else"),
        rs("d", None, "pay:old", NOW - timedelta(days=9)),
    ]
    assert [r.number for r in revisions(DEPLOYMENT, sets)] == [7, 6]
    assert revisions(DEPLOYMENT, sets)[0].images == ("pay:v2.3.1",)
    assert len(owned_replicasets(DEPLOYMENT, sets)) == 3


def test_rollouts_between_finds_the_deploy_before_the_alert() -> None:
    revs = revisions(
        DEPLOYMENT,
        [rs("a", 6, "v0", NOW - timedelta(hours=3)), rs("b", 7, "v1", NOW - timedelta(minutes=1))],
    )
    found = rollouts_between(revs, NOW - timedelta(minutes=30), NOW)
    assert [r.number for r in found] == [7]


def deployment(
    status: dict[str, Any], *, replicas: int = 3, generation: int = 2, paused: bool = False
) -> dict[str, Any]:
    return {
        "metadata": {"name": "pay", "generation": generation},
        "spec": {"replicas": replicas, "paused": paused},
        "status": status,
    }


FULL = {
    "observedGeneration": 2,
    "replicas": 3,
    "updatedReplicas": 3,
    "readyReplicas": 3,
    "availableReplicas": 3,
}


@pytest.mark.parametrize(
    ("dep", "state", "message"),
    [
        (deployment(FULL), "complete", 'deployment "pay" successfully rolled out'),
        (
            deployment({**FULL, "observedGeneration": 1}),
            "progressing",
            "Waiting for deployment spec update",
        ),
        (
            deployment({**FULL, "updatedReplicas": 1}),
            "progressing",
            "1 out of 3 new replicas have been updated",
        ),
        (
            deployment({**FULL, "replicas": 4}),
            "progressing",
            "1 old replicas are pending termination",
        ),
        (
            deployment({**FULL, "availableReplicas": 2}),
            "progressing",
            "2 of 3 updated replicas are available",
        ),
        (
            deployment(
                {
                    **FULL,
                    "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
                }
            ),
            "failed",
            "exceeded its progress deadline",
        ),
        (deployment(FULL, paused=True), "paused", "is paused"),
    ],
)
def test_rollout_status_matches_kubectl(dep: dict[str, Any], state: str, message: str) -> None:
    status = rollout_status(dep)
    assert status.state == state
    assert message in status.message


def test_warning_events_newest_first_for_our_objects() -> None:
    def event(name: str, reason: str, minutes: int, kind: str = "Warning") -> dict[str, Any]:
        return {
            "type": kind,
            "reason": reason,
            "message": reason.lower(),
            "count": 2,
            "involvedObject": {"kind": "Pod", "name": name},
            "lastTimestamp": (NOW - timedelta(minutes=minutes)).isoformat(),
        }

    events = [
        event("p1", "BackOff", 5),
        event("p1", "Unhealthy", 1),
        event("x", "Other", 0),
        event("p1", "Pulled", 0, "Normal"),
    ]
    assert [e.reason for e in warning_events(events, {"p1"})] == ["Unhealthy", "BackOff"]
    # The pods of a ReplicaSet, by name, when the pod list itself could not be read.
    assert [e.reason for e in warning_events(events, set(), prefixes=("p",))] == [
        "Unhealthy",
        "BackOff",
    ]
