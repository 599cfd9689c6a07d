"""PageRenderer: the incident pages' HTML from Jinja2 templates (autoescape on), with the
security headers every page carries, and the HTML problem page (403, 404, ...)."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    # Read links carry their token in the URL: never hand it to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "templates/web"),
        autoescape=True,  # every page is HTML: escape everything unless marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class PageRenderer:
    def __init__(self) -> None:
        self.env = _environment()

    def render(self, name: str, code: int = 200, **values: Any) -> web.Response:
        html = self.env.get_template(name).render(**values)
        return web.Response(
            text=html,
            status=code,
            content_type="text/html",
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    def problem(self, status: int, title: str, detail: str) -> web.Response:
        return self.render("error.html.j2", status, title=title, detail=detail, status=status)
