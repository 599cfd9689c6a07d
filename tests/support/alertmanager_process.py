"""Run the real Prometheus Alertmanager binary on 127.0.0.1, for tests and the demo.

`AlertmanagerProcess` writes an ``alertmanager.yml`` whose only route sends every
group to one webhook receiver (``send_resolved: true``, ``Authorization: Bearer
<token>``), starts the binary on a free loopback port with clustering switched
off, waits for ``GET /-/ready`` and then lets the caller post alerts through the
v2 API exactly as Prometheus would.

Alertmanager 0.25 behaviour, measured with this class on loopback
(Debian's 0.25.0; group_wait=1s, group_interval=1s unless said otherwise):

* **Start.** ``/-/ready`` answers 200 about 0.1-0.2 s after exec.
* **Firing.** A new group is notified after ``group_wait``: the webhook arrives
  1.0 s after ``POST /api/v2/alerts``. An alert posted without ``endsAt`` shows
  ``endsAt: "0001-01-01T00:00:00Z"`` (Go's zero time) in the payload.
* **Resolved.** Posting the same labels with ``endsAt`` in the past resolves the
  alert at once (``GET /api/v2/alerts`` no longer lists it), but the
  notification waits for the group's next ``group_interval`` tick, so it
  arrives between 0 and ``group_interval`` after the post: 0.5-0.7 s with
  group_interval=1s; 0.4, 1.9, 3.3 and 4.8 s with group_interval=5s, depending
  on where in the tick the post fell. It carries ``status: "resolved"`` and the
  posted ``endsAt``. ``repeat_interval`` plays no part (the group changed).
* **resolve_timeout** does not matter when ``endsAt`` is posted, as `resolve`
  does. It applies only to alerts posted *without* ``endsAt`` (`fire`):
  Alertmanager stamps ``endsAt = receipt + resolve_timeout`` (default 5m;
  visible in ``GET /api/v2/alerts``) and, if nobody re-posts the alert by then,
  resolves it by itself: with resolve_timeout=3s the resolved notification came
  3.0 s after the post, its ``endsAt`` exactly receipt + 3 s. Tests that hold
  an alert firing longer than resolve_timeout must re-post it.
* **Re-firing.** After the resolved notification, posting the same labels again
  with a new ``startsAt`` gives a new ``firing`` notification 0.5-1.0 s later
  (0.3 s, 5 s and 35 s after the resolution alike), with the same
  ``fingerprint`` and ``groupKey`` and the new ``startsAt``. Even re-posting the
  *old* ``startsAt`` fires again. A consumer must therefore tell incidents apart
  by (fingerprint, startsAt), not by fingerprint alone.
* **Resolved before the first flush.** An alert resolved within its group's
  ``group_wait`` (fire, then resolve at once) is never notified on its own:
  no firing and no resolved webhook came in 4 s. If another alert of the same
  group is firing at that flush, the resolved one rides along in the same
  payload, so a ``status: "firing"`` payload can hold ``status: "resolved"``
  alerts: read each alert's own status.

Alertmanager keeps its notification log and silences under ``workdir/data``;
reusing a workdir across runs carries that state over.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from tests.support.binary_process import BinaryMissing, BinaryProcess, find_binary

__all__ = [
    "INSTALL_HINT",
    "AlertmanagerProcess",
    "BinaryMissing",
    "find_alertmanager",
    "rfc3339",
]

INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus-alertmanager"
_FALLBACK_PATH = "/usr/bin/prometheus-alertmanager"
_BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")


def find_alertmanager() -> str:
    """Path of the Alertmanager binary.

    ``$ALERTMANAGER_BIN`` wins when set (and must then be an executable file);
    otherwise ``prometheus-alertmanager`` (Debian's name) or ``alertmanager`` on
    ``PATH``, then ``/usr/bin/prometheus-alertmanager``.
    """
    return find_binary(
        product="Alertmanager",
        env_var="ALERTMANAGER_BIN",
        names=_BINARY_NAMES,
        fallback=_FALLBACK_PATH,
        install_hint=INSTALL_HINT,
    )


def rfc3339(value: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC with a ``Z`` (Alertmanager's API format)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists, so that ``json`` can encode them."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class AlertmanagerProcess(BinaryProcess):
    """One real Alertmanager on 127.0.0.1 that notifies one webhook.

    Use ``await start()`` / ``await stop()`` or ``async with``. Clustering is off
    (``--cluster.listen-address=``), so no gossip port is opened.
    """

    product = "Alertmanager"
    _storage_flag = "--storage.path"
    _extra_flags = ("--cluster.listen-address=",)

    def __init__(
        self,
        *,
        webhook_url: str,
        bearer_token: str,
        workdir: pathlib.Path,
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        group_by: Sequence[str] = ("alertname", "service"),
        resolve_timeout: str = "5m",
    ) -> None:
        super().__init__(
            workdir=workdir, config_name="alertmanager.yml", log_name="alertmanager.log"
        )
        self.webhook_url = webhook_url
        self.bearer_token = bearer_token
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.group_by = tuple(group_by)
        self.resolve_timeout = resolve_timeout

    # -- lifecycle -----------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The Alertmanager configuration that `start` writes."""
        return {
            "global": {"resolve_timeout": self.resolve_timeout},
            "route": {
                "receiver": "bot",
                "group_by": list(self.group_by),
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {
                    "name": "bot",
                    "webhook_configs": [
                        {
                            "url": self.webhook_url,
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials": self.bearer_token,
                                }
                            },
                        }
                    ],
                }
            ],
        }

    async def start(self, timeout: float = 20.0) -> None:
        """Write the config, start the binary and wait until ``/-/ready`` answers 200.

        Raises `BinaryMissing` when there is no binary, and `RuntimeError` with
        the log tail when the process exits early or is not ready in ``timeout``
        seconds.
        """
        await self._start(timeout)

    def _find_binary(self) -> str:
        return find_alertmanager()

    def _write_files(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    # -- API -----------------------------------------------------------------

    async def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``; raises `RuntimeError` with the body on non-2xx.

        Each alert: ``{"labels": {...}, "annotations": {...}, "startsAt": rfc3339,
        "endsAt": rfc3339 (optional), "generatorURL": url}``.
        """
        body = [_plain(alert) for alert in alerts]
        async with self._client().post(f"{self.url}/api/v2/alerts", json=body) as resp:
            if not 200 <= resp.status < 300:
                text = await resp.text()
                raise RuntimeError(f"POST /api/v2/alerts -> HTTP {resp.status}: {text.strip()}")

    async def fire(
        self,
        labels: Mapping[str, str],
        annotations: Mapping[str, str] | None = None,
        *,
        starts_at: datetime | None = None,
        generator_url: str = "http://127.0.0.1:9090/graph",
    ) -> None:
        """Post a firing alert (``startsAt`` defaults to now, no ``endsAt``).

        Without ``endsAt`` Alertmanager resolves the alert by itself after
        ``resolve_timeout`` unless it is posted again, as Prometheus would.
        """
        await self.post_alerts(
            [
                {
                    "labels": dict(labels),
                    "annotations": dict(annotations or {}),
                    "startsAt": rfc3339(starts_at or datetime.now(UTC)),
                    "generatorURL": generator_url,
                }
            ]
        )

    async def resolve(
        self,
        labels: Mapping[str, str],
        annotations: Mapping[str, str] | None = None,
        *,
        starts_at: datetime,
        ends_at: datetime | None = None,
        generator_url: str = "http://127.0.0.1:9090/graph",
    ) -> None:
        """Post the alert again with ``endsAt`` in the past, so it is resolved.

        ``ends_at`` defaults to now - 1 s, but never earlier than ``starts_at``
        (Alertmanager rejects ``endsAt`` before ``startsAt`` with HTTP 400). The
        resolved notification follows within ``group_interval``.
        """
        if ends_at is None:
            ends_at = max(datetime.now(UTC) - timedelta(seconds=1), starts_at)
        await self.post_alerts(
            [
                {
                    "labels": dict(labels),
                    "annotations": dict(annotations or {}),
                    "startsAt": rfc3339(starts_at),
                    "endsAt": rfc3339(ends_at),
                    "generatorURL": generator_url,
                }
            ]
        )

    async def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the active (not resolved) alerts."""
        async with self._client().get(f"{self.url}/api/v2/alerts") as resp:
            if not 200 <= resp.status < 300:
                text = await resp.text()
                raise RuntimeError(f"GET /api/v2/alerts -> HTTP {resp.status}: {text.strip()}")
            data = await resp.json()
        if not isinstance(data, list):
            raise RuntimeError(f"GET /api/v2/alerts returned {type(data).__name__}, not a list")
        return [dict(item) for item in data]
