"""The read-only HTTP API: incidents, timelines, post-mortem drafts and stats.

Every route wants `Authorization: Bearer <API_TOKEN>` (compared in constant
time). Without `API_TOKEN` the API is off: every route answers 404 saying so.
Errors are JSON `{"error", "detail"}`: 401 missing or wrong token, 404 API off
or unknown incident, 400 a bad `format`, `since` or `open`; bad input is never
a 500.

| route | answer |
|---|---|
| `GET /api/v1/incidents[?open=true][&since=30d]` | `{"incidents": [...], "count": n}` |
| `GET /api/v1/incidents/{ref}` | the incident (`ref` is `INC-7`, `inc-7` or `7`) |
| `GET /api/v1/incidents/{ref}/timeline?format=json\\|csv\\|md` | the export, streamed |
| `GET /api/v1/incidents/{ref}/postmortem` | the Markdown draft (no chart: see the CLI) |
| `GET /api/v1/stats[?since=30d]` | counts and durations; `since=all` for every incident |

An incident is shown under the export's stable field names
(`bot.core.exports.incident_fields`); a list is newest first. Timelines are
streamed with chunked encoding in the export's content type
(`application/json`, `text/csv`, `text/markdown`, all UTF-8) with a file name
(`INC-7-timeline.csv`); memory stays flat for any size
(`Reports.timeline_chunks`). If the database fails
half-way through a stream, the connection is cut so the client sees a broken
transfer, never a short file that looks complete.
"""

from __future__ import annotations

import contextlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiohttp import web
from pydantic import SecretStr

from bot.core.exports import incident_fields
from bot.core.postmortem import PostmortemTemplateError
from bot.core.stats import parse_since
from bot.services.reports import EXPORT_FORMATS, Reports, incident_record
from bot.storage.models import Incident

log = structlog.get_logger(__name__)
PREFIX = "/api/v1"
DEFAULT_SINCE = "30d"
_TRUE = ("", "1", "true", "yes", "on")  # `?open` alone means true
_FALSE = ("0", "false", "no", "off")


@dataclass
class ApiDeps:
    reports: Reports
    token: SecretStr | None  # API_TOKEN; None or empty: the API is off


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def add_api_routes(app: web.Application, deps: ApiDeps) -> None:
    api = _Api(deps)
    routes = [
        ("/incidents", api.incidents),
        ("/incidents/{ref}", api.incident),
        ("/incidents/{ref}/timeline", api.timeline),
        ("/incidents/{ref}/postmortem", api.postmortem),
        ("/stats", api.stats),
    ]
    for path, handler in routes:
        app.router.add_get(PREFIX + path, handler, allow_head=False)


def postmortem_download(incident: Incident, markdown: str) -> web.Response:
    """The post-mortem draft as a Markdown file to save (the API and the page's button)."""
    return web.Response(
        text=markdown,
        content_type="text/markdown",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{incident.ref}-postmortem.md"',
            "Cache-Control": "no-store",
        },
    )


async def stream_export(
    request: web.Request, reports: Reports, incident: Incident, fmt: str
) -> web.StreamResponse:
    """A timeline export streamed as a download: the API and the incident page's buttons."""
    export = EXPORT_FORMATS[fmt]
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{export.content_type}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{export.filename(incident.ref)}"',
            "Cache-Control": "no-store",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        async with contextlib.aclosing(reports.timeline_chunks(incident, fmt)) as batches:
            async for batch in batches:
                await response.write(batch)
    except ConnectionResetError:
        log.info("timeline reader went away", incident=incident.ref)
        return response
    except Exception:
        # Headers are sent: cut the connection so the client sees a failed transfer.
        log.exception("timeline export failed", incident=incident.ref)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


def bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, value = (header or "").strip().partition(" ")
    given = value.strip().encode("utf-8", "replace")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, token.encode("utf-8"))


class _Api:
    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps
        self.reports = deps.reports

    def _check(self, request: web.Request) -> None:
        token = self.deps.token.get_secret_value() if self.deps.token is not None else ""
        if not token:
            raise _Refused(
                _error(404, "api_disabled", "the HTTP API is off; set API_TOKEN to turn it on")
            )
        if not bearer_matches(request.headers.get("Authorization"), token):
            response = _error(
                401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer ...)"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="incident-bot"'
            raise _Refused(response)

    async def _incident(self, request: web.Request) -> Incident:
        ref = request.match_info["ref"]
        incident = await self.reports.incident(ref)
        if incident is None:
            raise _Refused(_error(404, "not_found", f"no incident {ref!r}; refs look like INC-7"))
        return incident

    async def incidents(self, request: web.Request) -> web.Response:
        try:
            self._check(request)
            open_only = _flag(request, "open")
            since = _since(request, default=None)
        except _Refused as e:
            return e.response
        rows = await self.reports.incidents(open_only=open_only, since=since)
        return web.json_response(
            {"incidents": [incident_fields(r) for r in rows], "count": len(rows)}
        )

    async def incident(self, request: web.Request) -> web.Response:
        try:
            self._check(request)
            incident = await self._incident(request)
        except _Refused as e:
            return e.response
        return web.json_response(incident_fields(incident_record(incident)))

    async def timeline(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check(request)
            fmt = request.query.get("format", "json").strip().lower()
            if fmt not in EXPORT_FORMATS:
                raise _Refused(
                    _error(400, "bad_format", f"format must be json, csv or md, not {fmt!r}")
                )
            incident = await self._incident(request)
        except _Refused as e:
            return e.response
        return await stream_export(request, self.reports, incident, fmt)

    async def postmortem(self, request: web.Request) -> web.Response:
        try:
            self._check(request)
            incident = await self._incident(request)
        except _Refused as e:
            return e.response
        try:
            draft = await self.reports.postmortem(incident)
        except PostmortemTemplateError as e:
            log.error("post-mortem template failed", incident=incident.ref, error=str(e))
            return _error(500, "template_error", str(e))
        return postmortem_download(incident, draft.markdown)

    async def stats(self, request: web.Request) -> web.Response:
        try:
            self._check(request)
            since = _since(request, default=DEFAULT_SINCE)
        except _Refused as e:
            return e.response
        stats = await self.reports.stats(since)
        return web.json_response(stats.to_json())


def _flag(request: web.Request, name: str) -> bool:
    if name not in request.query:
        return False
    value = request.query[name].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Refused(_error(400, f"bad_{name}", f"{name} must be true or false, not {value!r}"))


def _since(request: web.Request, *, default: str | None) -> timedelta | None:
    text = request.query.get("since", default)
    if text is None or text.strip().lower() == "all":
        return None
    try:
        return parse_since(text)
    except ValueError as e:
        detail = str(e).replace("--since", "since") + "; or since=all"
        raise _Refused(_error(400, "bad_since", detail)) from None
