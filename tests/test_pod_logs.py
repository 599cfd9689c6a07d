"""Which logs /status reads, in what order, and the ERROR lines it shows: tables of cases."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.pod_health import pod_trouble
from bot.core.pod_logs import (
    LogRead,
    error_lines,
    labelled_error_lines,
    log_reads,
)

NOW = datetime(2026, 11, 26, 14, 40, tzinfo=UTC)


def container(
    name: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    waiting: str | None = None,
    init: bool = False,
    completed: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if waiting:
        state = {"waiting": {"reason": waiting}}
    if completed:
        state = {"terminated": {"reason": "Completed", "exitCode": 0}}
    status = {
        "name": name,
        "image": f"{name}:1",
        "ready": ready,
        "restartCount": restarts,
        "state": state,
        "_init": init,
    }
    if restarts:
        status["lastState"] = {
            "terminated": {"reason": "Error", "exitCode": 1, "finishedAt": "2026-11-26T14:39:00Z"}
        }
    return status


def pod(name: str, created: int, *containers: dict[str, Any]) -> dict[str, Any]:
    init = [dict(c) for c in containers if c["_init"]]
    regular = [dict(c) for c in containers if not c["_init"]]
    for c in (*init, *regular):
        c.pop("_init")
    ready = all(c["ready"] for c in regular)
    return {
        "metadata": {"name": name, "creationTimestamp": f"2026-11-26T14:{created:02d}:00Z"},
        "spec": {
            "initContainers": [{"name": c["name"]} for c in init],
            "containers": [{"name": c["name"]} for c in regular],
        },
        "status": {
            "initContainerStatuses": init,
            "containerStatuses": regular,
            "conditions": [{"type": "Ready", "status": str(ready)}],
        },
    }


HEALTHY_OLD = pod("web-old", 1, container("web"))
HEALTHY_NEW = pod("web-new", 30, container("web"))
CRASHING = pod(
    "web-crash", 10, container("web", ready=False, restarts=6, waiting="CrashLoopBackOff")
)
PULLING = pod("web-pull", 35, container("web", ready=False, waiting="ImagePullBackOff"))
TWO = pod(
    "web-two",
    20,
    container("web"),
    container("proxy", ready=False, restarts=2, waiting="CrashLoopBackOff"),
)
INIT_DONE = pod("web-init", 25, container("migrate", init=True, completed=True), container("web"))
INIT_FAIL = pod(
    "web-initfail",
    26,
    container("migrate", init=True, ready=False, restarts=3, waiting="CrashLoopBackOff"),
    container("web", ready=False, waiting="PodInitializing"),
)


def reads(*pods: dict[str, Any], max_pods: int = 5) -> list[tuple[str, str, bool, str]]:
    trouble = pod_trouble(pods, now=NOW, window=timedelta(minutes=15))
    return [
        (r.pod, r.container, r.previous, r.label)
        for r in log_reads(pods, trouble, max_pods=max_pods)
    ]


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        # Healthy pods: the newest first, current logs only.
        (
            [HEALTHY_OLD, HEALTHY_NEW],
            [("web-new", "web", False, "web-new"), ("web-old", "web", False, "web-old")],
        ),
        # The crash-looping pod comes first, its previous container before its current one.
        (
            [HEALTHY_NEW, CRASHING],
            [
                ("web-crash", "web", True, "web-crash (previous)"),
                ("web-crash", "web", False, "web-crash"),
                ("web-new", "web", False, "web-new"),
            ],
        ),
        # A container that never ran has no log to read.
        ([PULLING], []),
        # Several containers: each read, labelled with the container.
        (
            [TWO],
            [
                ("web-two", "proxy", True, "web-two/proxy (previous)"),
                ("web-two", "proxy", False, "web-two/proxy"),
                ("web-two", "web", False, "web-two/web"),
            ],
        ),
        # A completed init container is skipped; a failing one is read.
        ([INIT_DONE], [("web-init", "web", False, "web-init/web")]),
        (
            [INIT_FAIL],
            [
                ("web-initfail", "migrate", True, "web-initfail/migrate (previous)"),
                ("web-initfail", "migrate", False, "web-initfail/migrate"),
            ],
        ),
    ],
)
def test_log_reads(pods: list[dict[str, Any]], expected: list[tuple[str, str, bool, str]]) -> None:
    assert reads(*pods) == expected


def test_at_most_five_pods_trouble_first() -> None:
    healthy = [pod(f"ok-{i}", i, container("web")) for i in range(8)]
    found = reads(*healthy, CRASHING)
    assert [r[0] for r in found][:2] == ["web-crash", "web-crash"]
    assert len({r[0] for r in found}) == 5


def test_labelled_lines_keep_the_reads_order_and_mask_secrets() -> None:
    first = LogRead("p1", "web", True, "p1 (previous)")
    second = LogRead("p2", "web", False, "p2")
    logs = {
        second: "ERROR later\n",
        first: "INFO ok\nERROR db password=hunter2\n" + "ERROR again\n" * 8,
    }
    lines = labelled_error_lines([first, second], logs)
    assert lines[0].source == "p1 (previous)"
    assert [line.text for line in lines if line.source == "p2"] == ["ERROR later"]
    assert len([line for line in lines if line.source == "p1 (previous)"]) == 5  # per read
    assert all("hunter2" not in line.text for line in lines)
    assert labelled_error_lines([first], {}) == []  # a read that failed adds nothing


def test_error_lines_are_the_last_errors_bounded() -> None:
    log = "\n".join(["INFO fine"] * 5 + [f"ERROR pool exhausted {i}" for i in range(20)])
    lines = error_lines(log, limit=3)
    assert lines == [
        "ERROR pool exhausted 17",
        "ERROR pool exhausted 18",
        "ERROR pool exhausted 19",
    ]
