"""The incident page's chart: error rate and p95 latency as an SVG drawn on the server. Pure.

Two panels sharing the time axis (error rate in %, latency in seconds), a vertical
mark for the incident's start, each rollout and rollback, mitigation and
resolution. No JavaScript and no library on the page: the browser draws the SVG
sharp at any size. Every label is XML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

Point = tuple[datetime, float]

WIDTH, PANEL, GAP, LEFT, RIGHT, TOP = 720, 130, 34, 56, 16, 22  # height: 2 panels + labels
_COLORS = {"start": "#b42318", "rollback": "#0b57d0", "end": "#1a7f37"}


@dataclass(frozen=True)
class Mark:
    at: datetime
    label: str
    kind: str = "rollback"  # start, rollback or end: the colour


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.3g}%"
    return f"{value:.3g} s"


def _panel(
    points: Sequence[Point], x: Callable[[datetime], float], top: float, title: str, unit: str
) -> list[str]:
    values = [v for _, v in points if v == v]  # NaN is not equal to itself
    high = max(values, default=0.0) or (0.01 if unit == "%" else 0.1)
    high *= 1.1
    bottom = top + PANEL
    parts = [
        f'<text x="{LEFT}" y="{top - 6:.0f}" class="t">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{bottom:.0f}" x2="{WIDTH - RIGHT}" y2="{bottom:.0f}" '
        'class="axis"/>',
    ]
    for share in (0.0, 0.5, 1.0):
        y = bottom - share * PANEL
        label = _fmt(high * share, unit)
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.0f}" class="y">{label}</text>')
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.0f}" x2="{WIDTH - RIGHT}" y2="{y:.0f}" class="grid"/>'
        )
    if not values:
        parts.append(
            f'<text x="{WIDTH / 2:.0f}" y="{top + PANEL / 2:.0f}" class="none">no data</text>'
        )
        return parts
    path: list[str] = []
    for at, value in points:
        if value != value:
            continue
        y = bottom - (value / high) * PANEL
        path.append(f"{'M' if not path else 'L'}{x(at):.1f},{y:.1f}")
    parts.append(f'<path d="{" ".join(path)}" class="line"/>')
    return parts


def render_svg_chart(
    error_rate: Sequence[Point],
    latency: Sequence[Point],
    marks: Sequence[Mark],
    start: datetime,
    end: datetime,
    title: str,
) -> str:
    """The chart over [start, end]; points and marks outside it are left out."""
    span = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return LEFT + (at - start).total_seconds() / span * (WIDTH - LEFT - RIGHT)

    def inside(points: Sequence[Point]) -> list[Point]:
        return [(at, v) for at, v in points if start <= at <= end]

    height = TOP + 2 * PANEL + GAP + 52
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        "<style>text{font:11px system-ui,sans-serif;fill:#59636e}.t{font-weight:600;fill:#1b1f24}"
        ".y{text-anchor:end}.none{text-anchor:middle}.axis{stroke:#59636e}"
        ".grid{stroke:#d1d9e0;stroke-dasharray:2 3}.line{fill:none;stroke:#8250df;"
        "stroke-width:1.6}.m{stroke-width:1.4;stroke-dasharray:4 3}.ml{font-size:10px}</style>",
    ]
    parts += _panel(inside(error_rate), x, TOP, "Error rate", "%")
    parts += _panel(inside(latency), x, TOP + PANEL + GAP, "p95 latency", "s")
    bottom = TOP + 2 * PANEL + GAP
    for index, mark in enumerate(m for m in marks if start <= m.at <= end):
        color = _COLORS.get(mark.kind, _COLORS["rollback"])
        left = x(mark.at)
        parts.append(
            f'<line x1="{left:.1f}" y1="{TOP}" x2="{left:.1f}" y2="{bottom}" class="m" '
            f'stroke="{color}"><title>{escape(mark.label)} {mark.at.isoformat()}</title></line>'
        )
        label_y = bottom + 13 + 11 * (index % 3)  # three rows, so neighbours do not overlap
        anchor = "end" if left > WIDTH - 140 else "start"  # labels near the right edge fit
        parts.append(
            f'<text x="{left:.1f}" y="{label_y}" class="ml" text-anchor="{anchor}" '
            f'style="fill:{color}">{escape(mark.label)}</text>'
        )
    for at, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text x="{x(at):.0f}" y="{height - 2}" text-anchor="{anchor}">'
            f"{at.strftime('%H:%M')} UTC</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
