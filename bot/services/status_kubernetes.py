"""The Kubernetes half of `/status`: one read per section, each failing alone.

The deployment is read first (its selector finds the rest); then its ReplicaSets,
pods and the namespace's events at once, each with its own deadline; then the logs
the core picks (`log_reads`), all within one small budget. A read that fails or
overruns costs its own section, which says "unavailable: <reason>", never the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from bot.core.kube_objects import Obj, dig, text
from bot.core.pod_health import pod_trouble
from bot.core.pod_logs import TAIL_LINES, LogRead, labelled_error_lines, log_reads
from bot.core.rollout import revisions, rollout_status, warning_events
from integrations.kubernetes import (
    KubernetesError,
    KubernetesNotFound,
    KubernetesRefused,
    KubernetesSource,
)
from integrations.kubernetes import label_selector as selector_text

log = structlog.get_logger(__name__)
T = TypeVar("T")
RESTART_WINDOW = timedelta(minutes=15)
LOG_BUDGET = 2.0  # seconds for all log reads together


class DeploymentMissing(LookupError):
    pass


@dataclass
class KubernetesFindings:
    """What the report takes from Kubernetes: StatusReport fields, and the parts missing."""

    fields: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


async def attempt(work: Awaitable[T], timeout: float, what: str) -> tuple[T | None, str | None]:
    """(result, None), or (None, why it failed); never raises but for cancellation."""
    try:
        return await asyncio.wait_for(work, timeout), None
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except KubernetesNotFound:
        raise
    except KubernetesError as e:
        return None, str(e) or type(e).__name__
    except Exception as e:  # a bug or an answer nobody foresaw: the rest of /status still goes
        log.exception("status read failed unexpectedly", read=what)
        return None, f"unexpected error: {type(e).__name__}: {e}"


class KubernetesStatus:
    def __init__(self, source: KubernetesSource, *, timeout: float) -> None:
        self.source = source
        self.timeout = timeout

    async def collect(self, namespace: str, name: str, now: datetime) -> KubernetesFindings:
        found = KubernetesFindings()
        try:
            deployment, why = await attempt(
                self.source.deployment(namespace, name), self.timeout, "deployment"
            )
        except KubernetesNotFound as e:
            raise DeploymentMissing(f"deployment {namespace}/{name} not found") from e
        if deployment is None:
            found.missing["Deployment"] = f"{why} (so no revisions, pods or logs either)"
            return found
        with self._guarded(found, "Deployment"):
            found.fields["rollout"] = rollout_status(deployment)
        labels = dig(deployment, "spec", "selector", "matchLabels", default={})
        labels = labels if isinstance(labels, Mapping) else {}
        selector = selector_text({str(k): str(v) for k, v in labels.items()})
        (replicasets, rs_why), (pods, pods_why), (events, events_why) = await asyncio.gather(
            self._read(self.source.replicasets(namespace, selector), "ReplicaSets"),
            self._read(self.source.pods(namespace, selector), "pods"),
            self._read(self.source.events(namespace), "events"),
        )
        names = {name}
        if replicasets is None:
            found.missing["Revisions"] = rs_why or "?"
        else:
            with self._guarded(found, "Revisions"):
                revs = revisions(deployment, replicasets)
                names |= {r.replicaset for r in revs}
                found.fields["revisions"] = tuple(revs[:3])
        if pods is None:
            found.missing["Pods"] = pods_why or "?"
        else:
            names |= {text(p, "metadata", "name") or "" for p in pods}
            with self._guarded(found, "Pods"):
                trouble = pod_trouble(pods, now=now, window=RESTART_WINDOW, events=events or ())
                found.fields["pods"] = tuple(trouble)
            await self._logs(found, namespace, pods)
        if events is None:
            found.missing["Events"] = events_why or "?"
        else:
            with self._guarded(found, "Events"):
                # Pods are named after their ReplicaSet: their events count without the pod list.
                prefixes = tuple(f"{r.replicaset}-" for r in found.fields.get("revisions", ()))
                found.fields["events"] = tuple(warning_events(events, names, prefixes=prefixes))
        return found

    async def _read(self, work: Awaitable[T], what: str) -> tuple[T | None, str | None]:
        try:
            return await attempt(work, self.timeout, what)
        except KubernetesNotFound as e:  # a list never 404s on a real server; say so if it does
            return None, f"not found: {e}"

    @staticmethod
    @contextlib.contextmanager
    def _guarded(found: KubernetesFindings, part: str) -> Iterator[None]:
        """Reading an odd object must cost only its own section."""
        try:
            yield
        except Exception as e:
            log.exception("status section failed", part=part)
            found.missing[part] = f"unexpected error: {type(e).__name__}: {e}"

    async def _logs(self, found: KubernetesFindings, namespace: str, pods: Sequence[Obj]) -> None:
        reads: list[LogRead] = []
        with self._guarded(found, "Logs"):
            reads = log_reads(pods, found.fields.get("pods", ()))
        if not reads:
            return
        tasks = {
            asyncio.ensure_future(
                self.source.pod_log(
                    namespace,
                    r.pod,
                    container=r.container,
                    previous=r.previous,
                    tail_lines=TAIL_LINES,
                    timeout=LOG_BUDGET,
                )
            ): r
            for r in reads
        }
        _, pending = await asyncio.wait(tasks, timeout=LOG_BUDGET)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        logs: dict[LogRead, str] = {}
        problems = []
        for task, read in tasks.items():
            if task in pending:
                problems.append(f"{read.label}: no answer within {LOG_BUDGET:g} s")
            elif (error := task.exception()) is not None:
                if read.previous and isinstance(error, KubernetesRefused) and error.status == 400:
                    continue  # restarted, but the kubelet kept no previous log: nothing to read
                if not isinstance(error, KubernetesError):
                    log.error("log read failed unexpectedly", read=read.label, error=repr(error))
                problems.append(f"{read.label}: {error}")
            else:
                logs[read] = task.result()
        found.fields["log_lines"] = tuple(labelled_error_lines(reads, logs))
        if problems:
            found.missing["Logs"] = "; ".join(problems)
