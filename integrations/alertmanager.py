"""Alertmanager API v2 adapter: the alerts firing now."""

from __future__ import annotations

from typing import Any

import aiohttp


class AlertmanagerUnavailable(Exception):
    pass


class AlertmanagerAPI:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def firing(self, matchers: dict[str, str]) -> list[dict[str, Any]]:
        """Active, not silenced or inhibited alerts matching every label given."""
        params = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        params += [("filter", f'{k}="{v}"') for k, v in sorted(matchers.items())]
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(f"{self.url}/api/v2/alerts", params=params) as response,
            ):
                if response.status != 200:
                    detail = (await response.text())[:200]
                    raise AlertmanagerUnavailable(f"HTTP {response.status}: {detail}")
                data = await response.json()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise AlertmanagerUnavailable(f"{self.url} did not answer: {e!r}") from e
        return [dict(a) for a in data] if isinstance(data, list) else []
