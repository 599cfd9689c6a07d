"""Object-level rules of the fake Kubernetes API server, free of HTTP and of state.

Errors as the apiserver words them (`Status` bodies), label and field selectors,
the API defaulting and the validation of Deployments, the rolling-update numbers.
The PATCH flavours are in `fake_kubernetes_patch.py`.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Deployment annotations the controller does not copy onto ReplicaSets, and that
# `kubectl rollout undo` keeps from the Deployment rather than from the ReplicaSet.
ANNOTATIONS_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str = ""  # "" is the core group, served under /api/v1

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self) -> str:
        """How error messages name it: `deployments.apps`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


DEPLOYMENTS = Resource("deployments", "Deployment", "apps")
REPLICASETS = Resource("replicasets", "ReplicaSet", "apps")
PODS = Resource("pods", "Pod")
EVENTS = Resource("events", "Event")
NAMESPACES = Resource("namespaces", "Namespace")


class KubeError(Exception):
    """An error the fake answers as a Kubernetes `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(resource: Resource, name: str) -> JSON:
    details: JSON = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: Resource, name: str) -> KubeError:
    message = f'{resource.qualified} "{name}" not found'
    return KubeError(404, "NotFound", message, _details(resource, name))


def conflict(resource: Resource, name: str) -> KubeError:
    message = (
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been'
        " modified; please apply your changes to the latest version and try again"
    )
    return KubeError(409, "Conflict", message, _details(resource, name))


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def invalid(resource: Resource, name: str, field: str, value: Any, problem: str) -> KubeError:
    cause = f"{field}: Invalid value: {value!r}: {problem}"
    details = {
        "name": name,
        "group": resource.group,
        "kind": resource.kind,
        "causes": [
            {"reason": "FieldValueInvalid", "message": f"Invalid value: {problem}", "field": field}
        ],
    }
    return KubeError(
        422, "Invalid", f'{resource.kind}.{resource.group} "{name}" is invalid: {cause}', details
    )


def as_utc(when: datetime) -> datetime:
    """Naive times are taken as UTC."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def rfc3339(when: datetime) -> str:
    """`2026-11-26T10:00:00Z`: what the apiserver writes."""
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- selectors --------------------------------------------------------------------------

_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")

Requirement = tuple[str, str, frozenset[str]]  # key, operator, values


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str) -> list[Requirement]:
    """`app=web,tier!=db,env in (a,b),!canary` into requirements; 400 when unparsable."""
    requirements: list[Requirement] = []
    for term in _split_terms(text):
        if match := _SET_TERM.match(term):
            values = frozenset(v.strip() for v in match[3].split(",") if v.strip())
            requirements.append((match[1], match[2], values))
        elif match := _EQ_TERM.match(term):
            operator = "!=" if match[2] == "!=" else "="
            requirements.append((match[1], operator, frozenset({match[3]})))
        elif match := _EXISTS_TERM.match(term):
            requirements.append((match[2], "!" if match[1] else "exists", frozenset()))
        else:
            raise bad_request(f"unable to parse requirement: found '{term.strip()}'")
    return requirements


def selector_requirements(selector: JSON) -> list[Requirement]:
    """A `LabelSelector` object (matchLabels, matchExpressions) as requirements."""
    requirements: list[Requirement] = [
        (key, "=", frozenset({value})) for key, value in (selector.get("matchLabels") or {}).items()
    ]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        operator = operators[expression["operator"]]
        values = frozenset(expression.get("values") or [])
        requirements.append((expression["key"], operator, values))
    return requirements


def labels_match(labels: dict[str, str] | None, requirements: list[Requirement]) -> bool:
    labels = labels or {}
    for key, operator, values in requirements:
        present = key in labels
        value = labels.get(key)
        ok = {
            "=": present and value in values,
            "in": present and value in values,
            "!=": not present or value not in values,
            "notin": not present or value not in values,
            "exists": present,
            "!": not present,
        }[operator]
        if not ok:
            return False
    return True


# The fields the real apiserver lets a fieldSelector use, per resource.
FIELD_LABELS: dict[str, frozenset[str]] = {
    "pods": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "events": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "replicasets": frozenset({"status.replicas"}),
}


def parse_field_selector(text: str, resource: Resource) -> list[tuple[str, bool, str]]:
    """`involvedObject.name=x,type!=Normal` into (field, equal?, value); 400 when unsupported."""
    allowed = FIELD_LABELS.get(resource.plural, frozenset()) | {
        "metadata.name",
        "metadata.namespace",
    }
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(text):
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        if match[1] not in allowed:
            raise bad_request(f"field label not supported: {match[1]}")
        terms.append((match[1], match[2] != "!=", match[3]))
    return terms


def _field_value(obj: JSON, path: str) -> str:
    if path == "source":  # events: the source component
        return str((obj.get("source") or {}).get("component", ""))
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def fields_match(obj: JSON, terms: list[tuple[str, bool, str]]) -> bool:
    return all((_field_value(obj, field) == value) == equal for field, equal, value in terms)


# -- defaulting and validation of Deployments -------------------------------------------


def default_pod_template(template: JSON) -> JSON:
    """Fill in what the apiserver defaults in a pod template, so templates read back
    (and `kubectl rollout undo` patches) look like a real cluster's."""
    template = copy.deepcopy(template)
    spec = template.setdefault("spec", {})
    for key, value in (
        ("restartPolicy", "Always"),
        ("terminationGracePeriodSeconds", 30),
        ("dnsPolicy", "ClusterFirst"),
        ("securityContext", {}),
        ("schedulerName", "default-scheduler"),
    ):
        spec.setdefault(key, value)
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        container.setdefault(
            "imagePullPolicy", "IfNotPresent" if tagged or "@" in image else "Always"
        )
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return template


def default_deployment(deployment: JSON) -> JSON:
    spec = deployment.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    if isinstance(spec.get("template"), dict):
        spec["template"] = default_pod_template(spec["template"])
    return deployment


def validate_deployment(deployment: JSON, current: JSON | None) -> None:
    """The checks of the apiserver a rollback patch can trip over; 422 Invalid."""
    name = deployment["metadata"]["name"]

    def fail(field: str, value: Any, problem: str) -> KubeError:
        return invalid(DEPLOYMENTS, name, field, value, problem)

    spec = deployment.get("spec")
    if not isinstance(spec, dict):
        raise fail("spec", spec, "must be an object")
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise fail("spec.replicas", replicas, "must be greater than or equal to 0")
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        raise fail("spec.selector", selector, "empty selector is invalid for deployment")
    if current is not None and selector != current["spec"]["selector"]:
        raise fail("spec.selector", selector, "field is immutable")
    template = spec.get("template")
    if not isinstance(template, dict):
        raise fail("spec.template", template, "must be an object")
    labels = (template.get("metadata") or {}).get("labels")
    if not labels_match(labels, selector_requirements(selector)):
        raise fail(
            "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
        )
    containers = (template.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        raise fail("spec.template.spec.containers", containers, "Required value")
    for i, container in enumerate(containers):
        if not isinstance(container, dict) or not container.get("name"):
            raise fail(f"spec.template.spec.containers[{i}].name", container, "Required value")
        if not isinstance(container.get("image"), str) or not container["image"]:
            raise fail(
                f"spec.template.spec.containers[{i}].image",
                container.get("image"),
                "Required value",
            )


def resolve_int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def surge_and_unavailable(deployment: JSON) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down), as the controller resolves them."""
    spec = deployment["spec"]
    desired = int(spec["replicas"])
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, desired
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = resolve_int_or_percent(
        rolling.get("maxUnavailable", "25%"), desired, round_up=False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, desired)
