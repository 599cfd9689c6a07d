"""The three PATCH flavours of the fake Kubernetes API server, on plain JSON.

RFC 6902 JSON patch (add, remove, replace, move, copy, test; JSON pointers with
`~0`/`~1` and `-`), RFC 7386 merge patch, and the part of strategic merge patch
that `kubectl set image` and `kubectl patch` rely on. A patch that cannot even be
decoded raises a 400 `KubeError`; one that decodes but does not apply raises
`PatchError`, which the apiserver answers with 422.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from standins.fake_kubernetes_objects import JSON, bad_request


class PatchError(Exception):
    """A patch that decodes but does not apply; the apiserver answers 422 for it."""


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":  # noqa: S105 - the JSON pointer's "end of array"
        return len(container)
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise PatchError(f"invalid array index: {token}")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise PatchError(f"array index out of bounds: {index}")
    return index


def _resolve(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        if isinstance(doc, dict):
            if token not in doc:
                raise PatchError("doc is missing path")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(doc, token, for_add=False)]
        else:
            raise PatchError("doc is missing path")
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and (isinstance(a, str) == isinstance(b, str))


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    """Remove the value at `tokens`; returns (new doc, removed value)."""
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise PatchError(f"remove operation does not apply: doc is missing key: {tokens[-1]}")
        return doc, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, tokens[-1], for_add=False))
    raise PatchError("remove operation does not apply: doc is missing path")


def _add(doc: Any, tokens: list[str], value: Any, *, replace: bool) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, dict):
        if replace and key not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: /{key}")
        parent[key] = value
    elif isinstance(parent, list):
        index = _index(parent, key, for_add=not replace)
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    else:
        raise PatchError("add operation does not apply: doc is missing path")
    return doc


def json_patch(document: JSON, operations: Any) -> JSON:
    """Apply an RFC 6902 patch to a copy. Raises 400 for an undecodable patch and
    `PatchError` (the apiserver's 422) for one that does not apply, e.g. a failed `test`."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc: Any = copy.deepcopy(document)
    for operation in operations:
        op = operation.get("op")
        tokens = _pointer(operation.get("path"))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"{op} operation has no value")
        value = copy.deepcopy(operation.get("value"))
        if op == "add":
            doc = _add(doc, tokens, value, replace=False)
        elif op == "replace":
            doc = _add(doc, tokens, value, replace=True)
        elif op == "remove":
            doc, _ = _remove(doc, tokens)
        elif op == "test":
            try:
                current, found = _resolve(doc, tokens), True
            except PatchError:
                current, found = None, False
            if not found or not _json_equal(current, value):
                raise PatchError(f"testing value {operation['path']} failed: test failed")
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            if op == "move":
                doc, moved = _remove(doc, source)
            else:
                moved = copy.deepcopy(_resolve(doc, source))
            doc = _add(doc, tokens, moved, replace=False)
        else:
            raise PatchError(f"Unexpected kind: {op}")
    if not isinstance(doc, dict):
        raise PatchError("the patched document is not an object")
    return doc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, `null` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Lists that strategic merge patch merges element-wise, and the key it merges them by.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """The strategic merge patch `kubectl set image`/`patch` send, for pod templates:
    maps merge, lists of containers/env/volumes/... merge by their key (with
    `$patch: delete`), other lists replace; `$setElementOrder`/`$retainKeys` are ignored."""
    if isinstance(patch, list) and isinstance(target, list) and field in _MERGE_KEYS:
        key = _MERGE_KEYS[field]
        merged = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                return copy.deepcopy(patch)
            position = next((i for i, t in enumerate(merged) if t.get(key) == item[key]), None)
            if item.get("$patch") == "delete":
                if position is not None:
                    merged.pop(position)
            elif position is None:
                merged.append(strategic_merge_patch({}, item))
            else:
                merged[position] = strategic_merge_patch(merged[position], item)
        return merged
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result
