"""Pods in trouble and why, from the JSON the API returns (or a drifted version of it)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.pod_health import container_states, pod_trouble, scheduling_failures

NOW = datetime(2026, 11, 26, 14, 40, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def pod(
    name: str,
    *,
    ready: bool,
    restarts: int = 0,
    waiting: str | None = None,
    terminated: tuple[str, datetime] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"ready": ready, "restartCount": restarts, "state": {}}
    if waiting:
        status["state"] = {"waiting": {"reason": waiting}}
    if terminated:
        status["lastState"] = {
            "terminated": {"reason": terminated[0], "finishedAt": terminated[1].isoformat()}
        }
    return {"metadata": {"name": name}, "status": {"containerStatuses": [status]}}


def cstatus(name: str, image: str, *, ready: bool, state: dict[str, Any], **extra: Any) -> Any:
    return {"name": name, "image": image, "ready": ready, "restartCount": 0, "state": state} | extra


UNSCHEDULABLE = {
    "metadata": {"name": "unsched"},
    "spec": {"containers": [{"name": "app", "image": "pay:v2"}]},
    "status": {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ],
    },
}
PENDING_NO_CONDITION = {
    "metadata": {"name": "waiting-for-scheduler"},
    "spec": {"containers": [{"name": "app", "image": "pay:v2"}]},
    "status": {"phase": "Pending"},
}
PULL = {
    "metadata": {"name": "pull"},
    "spec": {"containers": [{"name": "app", "image": "pay:v2.3.2"}]},
    "status": {
        "phase": "Pending",
        "containerStatuses": [
            cstatus(
                "app",
                "pay:v2.3.2",
                ready=False,
                state={
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "pay:v2.3.2"',
                    }
                },
            )
        ],
    },
}
INIT_CRASH = {
    "metadata": {"name": "init"},
    "spec": {
        "initContainers": [{"name": "migrate", "image": "migrate:v7"}],
        "containers": [{"name": "app", "image": "pay:v2"}],
    },
    "status": {
        "phase": "Pending",
        "initContainerStatuses": [
            cstatus(
                "migrate",
                "migrate:v7",
                ready=False,
                restartCount=3,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                lastState={
                    "terminated": {
                        "reason": "Error",
                        "exitCode": 1,
                        "finishedAt": "2026-11-26T14:39:00Z",
                    }
                },
            )
        ],
        "containerStatuses": [
            cstatus("app", "pay:v2", ready=False, state={"waiting": {"reason": "PodInitializing"}})
        ],
    },
}
SIDECAR_CRASH = {
    "metadata": {"name": "sidecar"},
    "spec": {
        "containers": [{"name": "app", "image": "pay:v2"}, {"name": "proxy", "image": "envoy:1.30"}]
    },
    "status": {
        "phase": "Running",
        "containerStatuses": [
            cstatus("app", "pay:v2", ready=True, state={"running": {}}),
            cstatus(
                "proxy",
                "envoy:1.30",
                ready=False,
                restartCount=6,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                lastState={
                    "terminated": {
                        "reason": "OOMKilled",
                        "exitCode": 137,
                        "finishedAt": "2026-11-26T14:38:00Z",
                    }
                },
            ),
        ],
    },
}
EVICTED = {
    "metadata": {"name": "evicted"},
    "status": {"phase": "Failed", "reason": "Evicted", "message": "low on resource: memory"},
}
# Schema drift: fields missing, null, or of another type than the docs say.
DRIFTED = {
    "metadata": {"name": "drift"},
    "status": {
        "containerStatuses": [
            {"name": "app"},
            "not an object",
            {"state": None, "restartCount": "x", "ready": "yes"},
        ]
    },
}


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (pod("ok", ready=True), None),
        (
            pod("crash", ready=False, restarts=5, waiting="CrashLoopBackOff"),
            ("crash", "CrashLoopBackOff", None),
        ),
        (
            pod(
                "oom", ready=True, restarts=1, terminated=("OOMKilled", NOW - timedelta(minutes=3))
            ),
            ("oom", "OOMKilled", None),
        ),
        (
            pod("old", ready=True, restarts=1, terminated=("OOMKilled", NOW - timedelta(hours=2))),
            None,
        ),
        (
            UNSCHEDULABLE,
            ("unsched", "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu."),
        ),
        (PULL, ("pull", "ImagePullBackOff", 'Back-off pulling image "pay:v2.3.2"')),
        (INIT_CRASH, ("init", "Init:CrashLoopBackOff", "back-off 40s")),
        (SIDECAR_CRASH, ("sidecar", "CrashLoopBackOff", None)),
        (EVICTED, ("evicted", "Evicted", "low on resource: memory")),
        (DRIFTED, ("drift", None, None)),
        ({}, ("?", None, None)),
    ],
)
def test_pod_trouble(
    p: dict[str, Any], expected: tuple[str, str | None, str | None] | None
) -> None:
    found = pod_trouble([p], now=NOW, window=WINDOW)
    assert [(t.name, t.reason, t.message) for t in found] == ([expected] if expected else [])


def test_failed_scheduling_event_explains_a_pending_pod_without_condition() -> None:
    event = {
        "reason": "FailedScheduling",
        "involvedObject": {"name": "waiting-for-scheduler"},
        "message": "0/3 nodes are available: 3 node(s) had untolerated taint.",
        "lastTimestamp": "2026-11-26T14:39:00Z",
    }
    (found,) = pod_trouble([PENDING_NO_CONDITION], now=NOW, window=WINDOW, events=[event])
    assert (found.reason, found.message) == ("FailedScheduling", event["message"])


def test_newest_failed_scheduling_message_wins() -> None:
    def event(message: str, at: str) -> dict[str, Any]:
        return {
            "reason": "FailedScheduling",
            "involvedObject": {"name": "p"},
            "message": message,
            "lastTimestamp": at,
        }

    events = [event("new", "2026-11-26T14:39:00Z"), event("old", "2026-11-26T14:30:00Z")]
    assert scheduling_failures(events) == {"p": "new"}


def test_each_container_with_image_and_state_init_first() -> None:
    states = container_states(INIT_CRASH)
    assert [(c.name, c.image, c.init, c.state, c.reason) for c in states] == [
        ("migrate", "migrate:v7", True, "waiting", "CrashLoopBackOff"),
        ("app", "pay:v2", False, "waiting", "PodInitializing"),
    ]
    proxy = container_states(SIDECAR_CRASH)[1]
    assert (proxy.restarts, proxy.last_reason, proxy.last_exit_code) == (6, "OOMKilled", 137)


def test_worst_first() -> None:
    pods = [
        pod("restarted", ready=True, restarts=1, terminated=("Error", NOW - timedelta(minutes=1))),
        pod("crash-2", ready=False, restarts=2, waiting="CrashLoopBackOff"),
        pod("crash-6", ready=False, restarts=6, waiting="CrashLoopBackOff"),
    ]
    found = pod_trouble(pods, now=NOW, window=WINDOW)
    assert [t.name for t in found] == ["crash-6", "crash-2", "restarted"]
