"""PageAccess: who is asking for an incident page, and for which incident; a refusal is the
HTML page that says why (`Refused`). The decision itself is `bot.core.web_access`'s."""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import SecretStr

from bot.clock import Clock
from bot.core.web_access import REFUSAL_TEXT, Network, Refusal, Viewer, decide, signed_in_person
from bot.core.web_tokens import check_link
from bot.http.page_render import PageRenderer
from bot.services.reports import Reports, incident_id_of
from bot.storage.models import Incident

log = structlog.get_logger(__name__)


class Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class PageAccess:
    def __init__(
        self,
        reports: Reports,
        renderer: PageRenderer,
        clock: Clock,
        secret: SecretStr | None,
        user_header: str | None,
        trusted_proxies: list[Network],
    ) -> None:
        self.reports, self.renderer, self.clock = reports, renderer, clock
        self.secret, self.user_header, self.trusted_proxies = secret, user_header, trusted_proxies

    def viewer(self, request: web.Request, incident_id: int | None) -> Viewer:
        """The viewer, or raise `Refused` with the page that says why not."""
        secret = self.secret.get_secret_value() if self.secret else ""
        if not secret:
            raise Refused(
                self.renderer.problem(
                    404, "Incident pages are off", "Set WEB_SECRET to turn them on."
                )
            )
        header = self.user_header
        person = signed_in_person(
            request.remote,
            self.trusted_proxies,
            request.headers.get(header) if header else None,
        )
        token = request.query.get("t")
        link = None
        if token is not None and incident_id is not None:
            link = check_link(secret, token, incident_id, self.clock())
        elif token is not None:
            link = None  # a link reads one incident; the list needs a person
        found = decide(person, link, needs_person=incident_id is None)
        if isinstance(found, Refusal):
            log.info("incident page refused", reason=found.value, path=request.path)
            raise Refused(
                self.renderer.problem(403, "You cannot open this page", REFUSAL_TEXT[found])
            )
        return found

    async def incident(self, request: web.Request) -> tuple[Incident, Viewer]:
        ref = request.match_info["ref"]
        incident_id = incident_id_of(ref)
        viewer = self.viewer(request, incident_id if incident_id is not None else 0)
        incident = None if incident_id is None else await self.reports.incident(str(incident_id))
        if incident is None:
            raise Refused(
                self.renderer.problem(404, "No such incident", f"There is no incident {ref!r}.")
            )
        return incident, viewer
