"""Alertmanager API v2 adapter: the alerts firing now, and silences.

Failures come out typed: `AlertmanagerUnavailable` when Alertmanager did not
answer or answered 5xx (the same call may work later), `AlertmanagerRejected`
when it refused the request itself (4xx: a bad matcher, an unknown silence).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp


class AlertmanagerError(Exception):
    pass


class AlertmanagerUnavailable(AlertmanagerError):
    """Down, unreachable, slow or answering 5xx: try again later."""


class AlertmanagerRejected(AlertmanagerError):
    """Alertmanager refused the request (HTTP 4xx); `message` is what it said."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """A time as Alertmanager's API writes it (RFC 3339 with `Z`); None when it is not one."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _filters(matchers: Mapping[str, str]) -> list[tuple[str, str]]:
    # Label values are quoted and escaped as Alertmanager's matcher grammar wants.
    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return [("filter", f'{k}="{quoted(v)}"') for k, v in sorted(matchers.items())]


class AlertmanagerAPI:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def firing(self, matchers: dict[str, str]) -> list[dict[str, Any]]:
        """Active, not silenced or inhibited alerts matching every label given."""
        params = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        data = await self._request("GET", "/api/v2/alerts", params=params + _filters(matchers))
        return [dict(a) for a in data] if isinstance(data, list) else []

    async def alerts(self, matchers: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every active alert matching, silenced ones included (with `status.silencedBy`)."""
        data = await self._request("GET", "/api/v2/alerts", params=_filters(matchers))
        return [dict(a) for a in data] if isinstance(data, list) else []

    async def create_silence(
        self,
        matchers: Sequence[Mapping[str, Any]],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """POST /api/v2/silences; returns the new silence's id."""
        body = {
            "matchers": [dict(m) for m in matchers],
            "startsAt": _rfc3339(starts_at),
            "endsAt": _rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        data = await self._request("POST", "/api/v2/silences", json=body)
        silence_id = data.get("silenceID") if isinstance(data, dict) else None
        if not silence_id:
            raise AlertmanagerUnavailable(f"{self.url} answered without a silenceID: {data!r}")
        return str(silence_id)

    async def expire_silence(self, silence_id: str) -> None:
        """DELETE /api/v2/silence/{id}. Expiring one that has already ended is done, not an
        error: the goal (no longer silencing) holds."""
        try:
            await self._request("DELETE", f"/api/v2/silence/{silence_id}")
        except AlertmanagerError as e:
            if "already expired" in str(e) or (
                isinstance(e, AlertmanagerRejected) and e.status == 404
            ):
                return
            raise

    async def silence(self, silence_id: str) -> dict[str, Any]:
        data = await self._request("GET", f"/api/v2/silence/{silence_id}")
        return dict(data) if isinstance(data, dict) else {}

    async def silences(self, matchers: Mapping[str, str]) -> list[dict[str, Any]]:
        """Silences whose matchers include every label given (any state)."""
        data = await self._request("GET", "/api/v2/silences", params=_filters(matchers))
        return [dict(s) for s in data] if isinstance(data, list) else []

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(method, f"{self.url}{path}", **kwargs) as response,
            ):
                text = await response.text()
                if response.status >= 500:
                    raise AlertmanagerUnavailable(f"HTTP {response.status}: {text.strip()[:200]}")
                if response.status >= 400:
                    raise AlertmanagerRejected(response.status, _message(text))
                if not text.strip():
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise AlertmanagerUnavailable(f"{self.url} did not answer: {e!r}") from e


def _message(text: str) -> str:
    # Alertmanager answers a bad request as a JSON string, or as plain text.
    text = text.strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    return (decoded if isinstance(decoded, str) else text)[:300]
