"""The incident pages: `GET /incidents` and `GET /incidents/{ref}`, server-rendered HTML.

Who may see what is decided by `bot.core.web_access` (a signed-in person through
a trusted auth proxy, or a signed read link for one incident); what the page
shows by `bot.core.incident_page`. HTML comes from Jinja2 templates with
autoescape on, so every string from outside (alert text, Slack messages, names)
is escaped for HTML. Everything the page needs (CSS, the small script that shows
local times and follows the live timeline) is served by the bot, under a
Content-Security-Policy that allows nothing else.

Pages are off (404, saying how to turn them on) while `WEB_SECRET` is unset.
Refusals are an HTML 403 page that says why and what to do. Who is asking is
`bot.http.page_access`; the templates and headers `bot.http.page_render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import parse_qs

import structlog
from aiohttp import web
from pydantic import SecretStr

from bot.clock import Clock
from bot.core.curation import CurationError, curate, parse_request
from bot.core.exports import incident_fields
from bot.core.incident_page import (
    KIND_FILTERS,
    PAGE_EVENTS,
    duration_facts,
    kinds_matching,
    lifecycle_facts,
    page_url,
    parse_event_id,
    parse_filters,
    parse_page_number,
    person_label,
    phase_groups,
    role_facts,
    slack_channel_url,
)
from bot.core.postmortem import PostmortemTemplateError
from bot.core.web_access import (
    REFUSAL_TEXT,
    Network,
    Refusal,
)
from bot.core.web_tokens import check_csrf, sign_csrf
from bot.http.api import postmortem_download, stream_export
from bot.http.live_timeline import LiveTimeline
from bot.http.page_access import PageAccess, Refused
from bot.http.page_render import SECURITY_HEADERS, PageRenderer
from bot.services.incident_chart import chart_svg, last_status
from bot.services.people import PeopleDirectory
from bot.services.pinned_images import ImageKeeper
from bot.services.report_rows import event_record, incident_record
from bot.services.reports import EXPORT_FORMATS, Reports

log = structlog.get_logger(__name__)

STATIC_FILES = {"page.css": "text/css", "page.js": "text/javascript"}
MAX_QUERY = 200  # characters of a text search
MAX_FORM = 16 * 1024  # bytes of a curation form


@dataclass
class PageDeps:
    reports: Reports
    clock: Clock
    secret: SecretStr | None  # WEB_SECRET; None: pages off
    user_header: str | None = None  # WEB_AUTH_USER_HEADER
    trusted_proxies: list[Network] = field(default_factory=list)
    live: LiveTimeline | None = None  # server-sent events of new timeline rows
    images: ImageKeeper | None = None  # pinned messages' images, kept by the bot


def add_page_routes(app: web.Application, deps: PageDeps) -> None:
    pages = _Pages(deps)
    app.router.add_get("/incidents", pages.incidents, allow_head=False)
    app.router.add_get("/incidents/static/{name}", pages.static, allow_head=False)
    app.router.add_get("/incidents/{ref}", pages.incident, allow_head=False)
    app.router.add_get("/incidents/{ref}/export/{fmt}", pages.export, allow_head=False)
    app.router.add_get("/incidents/{ref}/live", pages.live, allow_head=False)
    app.router.add_get("/incidents/{ref}/chart.svg", pages.chart, allow_head=False)
    app.router.add_get("/incidents/{ref}/images/{image}", pages.image, allow_head=False)
    app.router.add_post("/incidents/{ref}/curate", pages.curate)


class _Pages:
    def __init__(self, deps: PageDeps) -> None:
        self.deps = deps
        self.reports = deps.reports
        self.renderer = PageRenderer()
        self.access = PageAccess(
            deps.reports,
            self.renderer,
            deps.clock,
            deps.secret,
            deps.user_header,
            deps.trusted_proxies,
        )

    # -- routes -----------------------------------------------------------------------

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            return self.renderer.problem(404, "Not found", "No such file.")
        data = resources.files("bot").joinpath("templates", "web", name).read_bytes()
        return web.Response(
            body=data,
            content_type=STATIC_FILES[name],
            charset="utf-8",
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def incidents(self, request: web.Request) -> web.Response:
        try:
            viewer = self.access.viewer(request, None)
        except Refused as e:
            return e.response
        chosen = {
            name: request.query.get(name, "").strip()[:MAX_QUERY]
            for name in ("status", "severity", "service")
        }
        rows = await self.reports.incidents()
        shown = [
            r
            for r in rows
            if all(not want or getattr(r, name) == want for name, want in chosen.items())
        ]
        options = {
            name: sorted({str(getattr(r, name)) for r in rows if getattr(r, name)})
            for name in chosen
        }
        return self.renderer.render(
            "incidents.html.j2",
            incidents=shown,
            chosen=chosen,
            options=options,
            viewer=viewer,
            total=len(rows),
        )

    async def incident(self, request: web.Request) -> web.Response:
        try:
            incident, viewer = await self.access.incident(request)
            page = parse_page_number(request.query.get("page", "1"))
        except Refused as e:
            return e.response
        except ValueError as e:
            return self.renderer.problem(400, "Bad request", str(e))
        assert incident.id is not None
        filters = parse_filters(request.query.getall("kind", []))
        text = request.query.get("q", "").strip()[:MAX_QUERY]
        store = self.reports.store
        newest = await store.last_event_id(incident.id)  # before the rows: none is missed
        known = await store.timeline_kinds(incident.id)
        kinds = kinds_matching(filters, known) if filters else None
        rows, total = await store.timeline_page(
            incident.id,
            kinds=kinds,
            text=text or None,
            offset=(page - 1) * PAGE_EVENTS,
            limit=PAGE_EVENTS,
        )
        view = await self.reports.curator.view(incident.id)
        # Names from the cache only: the page never waits on Slack (documents fill it).
        names = await PeopleDirectory(self.reports.store, None, self.deps.clock).of_incident(
            incident
        )
        # Corrected times move an event within its page (the exports move it anywhere).
        shown = sorted(
            ((r.id, curate(event_record(r, names), view.curations.get(r.id or 0))) for r in rows),
            key=lambda pair: pair[1].occurred_at,
        )
        record = incident_record(incident)
        now = self.deps.clock()
        secret = self.deps.secret.get_secret_value() if self.deps.secret else ""
        csrf = sign_csrf(secret, viewer.person, incident.id, now) if viewer.person else ""
        token = request.query.get("t")
        base = {"t": token} if token else {}
        last_page = max(1, -(-total // PAGE_EVENTS))
        query = {**base, "q": text, "kind": filters}
        return self.renderer.render(
            "incident.html.j2",
            incident=record,
            fields=incident_fields(record),
            viewer=viewer,
            lifecycle=lifecycle_facts(record),
            durations=duration_facts(record, now),
            roles=role_facts(
                person_label(incident.commander, names),
                {
                    role: person_label(user, names) or ""
                    for role, user in (incident.roles or {}).items()
                },
            ),
            channel_url=slack_channel_url(None, incident.channel_id),
            chart_url=page_url(incident.id, base, "/chart.svg"),
            status=await last_status(self.reports, incident),
            groups=phase_groups(record, shown),
            csrf=csrf,
            curate_url=f"/incidents/{incident.id}/curate",
            filters=KIND_FILTERS,
            chosen=filters,
            text=text,
            total=total,
            page=page,
            last_page=last_page,
            prev_url=page_url(incident.id, {**query, "page": page - 1}) if page > 1 else None,
            next_url=page_url(incident.id, {**query, "page": page + 1})
            if page < last_page
            else None,
            token=token or "",
            exports={
                label: page_url(incident.id, base, f"/export/{fmt}")
                for fmt, label in (
                    ("md", "Markdown"),
                    ("csv", "CSV"),
                    ("json", "JSON"),
                    ("postmortem", "Post-mortem draft"),
                )
            },
            live_url=page_url(incident.id, {**query, "after": newest}, "/live")
            if self.deps.live is not None
            and page == last_page
            and incident.status not in ("resolved", "closed")
            else None,
        )

    async def chart(self, request: web.Request) -> web.Response:
        """Error rate and latency over the incident window, an SVG drawn here."""
        try:
            incident, _viewer = await self.access.incident(request)
        except Refused as e:
            return e.response
        svg = await chart_svg(self.reports, incident, self.deps.clock())
        return web.Response(
            text=svg,
            content_type="image/svg+xml",
            charset="utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            },
        )

    async def image(self, request: web.Request) -> web.Response:
        """A kept image of a pinned message, for readers of that incident only."""
        try:
            incident, _viewer = await self.access.incident(request)
            image_id = parse_event_id(request.match_info["image"])
        except Refused as e:
            return e.response
        except ValueError:
            return self.renderer.problem(404, "Not found", "No such image.")
        assert incident.id is not None
        found = await self.deps.images.image(incident.id, image_id) if self.deps.images else None
        if found is None:
            return self.renderer.problem(404, "Not found", "No such image.")
        return web.Response(
            body=found.data,
            content_type=found.content_type,
            headers={**SECURITY_HEADERS, "Content-Security-Policy": "default-src 'none'"},
        )

    async def live(self, request: web.Request) -> web.StreamResponse:
        """New events as server-sent events, for a page left open."""
        try:
            incident, viewer = await self.access.incident(request)
            after = parse_event_id(
                request.headers.get("Last-Event-ID") or request.query.get("after")
            )
        except Refused as e:
            return e.response
        except ValueError as e:
            return self.renderer.problem(400, "Bad request", str(e))
        if self.deps.live is None:
            return self.renderer.problem(404, "Not found", "Live updates are off on this bot.")
        assert incident.id is not None
        template = self.renderer.env.get_template("_event.html.j2")
        # The same row as on the page: with the curation forms for a signed-in person,
        # the read link's token on image URLs for a link holder.
        secret = self.deps.secret.get_secret_value() if self.deps.secret else ""
        forms = {
            "csrf": sign_csrf(secret, viewer.person, incident.id, self.deps.clock())
            if viewer.person
            else "",
            "curate_url": f"/incidents/{incident.id}/curate",
            "token": request.query.get("t", ""),
        }
        return await self.deps.live.stream(
            request,
            incident,
            after,
            lambda view: template.render(e=view, **forms),
            filters=parse_filters(request.query.getall("kind", [])),
            text=request.query.get("q", "").strip()[:MAX_QUERY] or None,
        )

    async def curate(self, request: web.Request) -> web.Response:
        """A reviewer's action from the page's forms; back to the event on the page."""
        try:
            incident, viewer = await self.access.incident(request)
        except Refused as e:
            return e.response
        assert incident.id is not None
        if viewer.person is None:
            return self.renderer.problem(
                403, "You cannot curate", REFUSAL_TEXT[Refusal.NEEDS_PERSON]
            )
        if request.content_length is not None and request.content_length > MAX_FORM:
            return self.renderer.problem(413, "Too large", f"A form is at most {MAX_FORM} bytes.")
        body = await request.content.read(MAX_FORM + 1)
        if len(body) > MAX_FORM:
            return self.renderer.problem(413, "Too large", f"A form is at most {MAX_FORM} bytes.")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        secret = self.deps.secret.get_secret_value() if self.deps.secret else ""
        now = self.deps.clock()
        if not check_csrf(secret, form.get("csrf", ""), viewer.person, incident.id, now):
            return self.renderer.problem(
                403,
                "The form has expired",
                "This form expired or did not come from this incident's page. Reload the page "
                "and try again.",
            )
        try:
            event_id = parse_event_id(form.get("event"))
            wanted = parse_request(form.get("action", ""), form.get("text"), form.get("at"))
            await self.reports.curator.curate(incident, event_id, wanted, viewer.person)
        except (ValueError, CurationError) as e:
            return self.renderer.problem(400, "That cannot be done", str(e))
        raise web.HTTPSeeOther(f"/incidents/{incident.id}#event-{event_id}")

    async def export(self, request: web.Request) -> web.StreamResponse:
        """The export buttons: the same streamed exports as the HTTP API."""
        try:
            incident, _viewer = await self.access.incident(request)
        except Refused as e:
            return e.response
        fmt = request.match_info["fmt"]
        if fmt == "postmortem":
            try:
                draft = await self.reports.postmortem(incident)
            except PostmortemTemplateError as e:
                return self.renderer.problem(500, "The post-mortem template failed", str(e))
            return postmortem_download(incident, draft.markdown)
        if fmt not in EXPORT_FORMATS:
            return self.renderer.problem(
                400, "Bad request", "Exports are md, csv, json or postmortem."
            )
        return await stream_export(request, self.reports, incident, fmt)
