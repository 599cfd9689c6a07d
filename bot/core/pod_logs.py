"""Which pod logs `/status` reads, in what order, and the ERROR lines it shows from them.

What the runbook does by hand (`kubectl logs -l app=... --tail=100 | grep ERROR`),
bounded and aimed: the pods in trouble first (a crash-looping pod has the lines
that matter, most of them in its previous container's log), then the newest; at
most five pods; a container that restarted is read with `previous=true` too; a
container that never ran (ImagePullBackOff) is not read at all, since it has no log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.core.kube_objects import Obj, text
from bot.core.pod_health import ContainerState, PodTrouble, container_states
from bot.core.redaction import mask_secrets

MAX_PODS = 5
MAX_READS = 10
TAIL_LINES = 100
LINES_PER_READ = 5
MAX_LINES = 15


@dataclass(frozen=True)
class LogRead:
    pod: str
    container: str
    previous: bool
    label: str  # how its lines are labelled: the pod, with the container when it has several


@dataclass(frozen=True)
class LogLine:
    source: str  # LogRead.label
    text: str


def log_reads(
    pods: Sequence[Obj], trouble: Sequence[PodTrouble], *, max_pods: int = MAX_PODS
) -> list[LogRead]:
    """The reads to make, in the order their lines are shown."""
    by_name = {text(p, "metadata", "name"): p for p in pods}
    order = [t.name for t in trouble if t.name in by_name]
    newest = sorted(
        (n for n in by_name if n and n not in order),
        key=lambda n: (text(by_name[n], "metadata", "creationTimestamp") or "", n),
        reverse=True,
    )
    reads: list[LogRead] = []
    for name in [*order, *newest][:max_pods]:
        assert name is not None
        containers = container_states(by_name[name])
        reads += _pod_reads(name, containers)
    return reads[:MAX_READS]


def _pod_reads(pod: str, containers: Sequence[ContainerState]) -> list[LogRead]:
    several = len(containers) > 1
    reads = []
    # The containers in trouble first: theirs are the lines that explain the pod.
    for c in sorted(containers, key=lambda c: not (c.failing or c.restarted)):
        if c.init and not c.failing:
            continue  # a completed init container: nothing to see
        base = f"{pod}/{c.name}" if several else pod
        if c.restarted:
            reads.append(LogRead(pod, c.name, True, f"{base} (previous)"))
        if c.has_log:
            reads.append(LogRead(pod, c.name, False, base))
    return reads


_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL|PANIC|Exception|Traceback)\b")


def error_lines(log: str, *, limit: int = 10, width: int = 300) -> list[str]:
    """The last ERROR-looking lines of a log, shortened and with secrets masked."""
    lines = [line for line in log.splitlines() if _ERROR.search(line)]
    return [mask_secrets(line)[:width] for line in lines[-limit:]]


def labelled_error_lines(
    reads: Iterable[LogRead], logs: Mapping[LogRead, str], *, limit: int = MAX_LINES
) -> list[LogLine]:
    """The last ERROR lines of each log read, in the reads' order, each with its source."""
    found: list[LogLine] = []
    for read in reads:
        if read in logs:
            found += [
                LogLine(read.label, line) for line in error_lines(logs[read], limit=LINES_PER_READ)
            ]
    return found[:limit]
