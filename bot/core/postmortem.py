"""Post-mortem drafts: a Jinja2 template filled with everything the bot knows.

Pure apart from reading the default template, a package resource. The shell
gathers a `PostmortemContext` (rows, Prometheus figures, the chart's file name)
and writes the result; `render_postmortem` only renders.

A replacement template (the catalog's `postmortem_template`) sees these names:
`incident`, `events`, `key_moments` (events reviewers marked), `phases` (list of
(phase, events)), `timeline_md` (the timeline tables, as the export renders
them), `phase_legend`, `durations` (see `durations`), `duration_rows` (label,
definition, value), `milestones` (label, time or None),
`severity_history`, `roles`, `rollbacks`, `suspected_deploy`, `status_figures`,
`peak_error_rate`, `peak_error_rate_at`, `alerts`, `commands`, `action_items`
(including TODO notes), `participants`, `chart_filename`, `silences`
(by, matchers, starts_at, ends_at, expired_at, reason, keep), `previous` (earlier
incidents of the same alert group shape: ref, title, started_at, likeness, outcome),
`now`; and the filters
`utc`, `duration`, `pct`, `num`, `show`, `md` (escape for a table cell), `code`
(a closed code span) and `link` (a Markdown link, only for http(s) URLs).

Escaped by default: every `{{ ... }}` is printed as Markdown text (no link,
image, HTML or code span can come out of a note, a summary or a label), unless
a filter above already made it Markdown. This holds for a replacement template
too, so its author does not have to remember it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from functools import cache, partial
from importlib import resources
from types import TracebackType
from typing import Any, NamedTuple

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.core.action_items import DueError, DueProblem, parse_action_parts
from bot.core.escaping import markdown, markdown_code, markdown_link, safe_url
from bot.core.exports import (
    EventRecord,
    IncidentRecord,
    Phase,
    format_utc_seconds,
    markdown_cell,
    markdown_phase_tables,
    phase_legend,
    phase_of,
    whole_second,
)
from bot.core.lifecycle import format_duration

TEMPLATE_NAME = "postmortem.md.j2"
NOTE_KIND = "note"
ACTION_USAGE = "/incident action <text> [@owner] [--due YYYY-MM-DD]"
_TODO = re.compile(r"^\s*todo(?::|\s)\s*", re.IGNORECASE)
_NONE = "—"
# A draft is a document for people; a template that writes more than this is a mistake.
MAX_DRAFT_CHARS = 5_000_000


class PostmortemTemplateError(ValueError):
    """The template cannot be rendered; the message says where and why in one line."""


class SeverityChange(NamedTuple):
    at: datetime
    from_severity: str | None
    to_severity: str
    by: str | None


class RoleAssignment(NamedTuple):
    role: str
    user: str
    assigned_at: datetime


class StatusFigures(NamedTuple):
    """What `/status` showed: error_rate (0..1), latency_p95_s, request_rate (req/s)."""

    at: datetime
    figures: Mapping[str, float | None]


class CommandRun(NamedTuple):
    at: datetime
    user: str | None
    command: str
    result: str | None


@dataclass(frozen=True)
class ActionItem:
    text: str
    owner: str | None = None  # as typed: `<@U123>`, `<@U123|name>` or `@name`
    due: date | None = None
    source: str = "action"  # "action" (/incident action) or "note" (a TODO note)


@dataclass(frozen=True)
class PostmortemContext:
    """Everything the draft can say. Rollbacks, alerts and the suspected deploy
    are mappings, documented by the keys the default template reads:
    rollbacks: deployment, namespace, from_revision, from_images, to_revision,
    to_images, by, at, outcome; alerts: name, labels, generator_url, starts_at,
    ends_at; suspected_deploy: any keys, shown in order (deployment, revision,
    images, deployed_at, reason are the ones the bot sets)."""

    incident: IncidentRecord
    events: Sequence[EventRecord]
    now: datetime
    key_moments: Sequence[EventRecord] = ()  # marked by reviewers on the incident page
    severity_history: Sequence[SeverityChange] = ()
    roles: Sequence[RoleAssignment] = ()
    rollbacks: Sequence[Mapping[str, Any]] = ()
    suspected_deploy: Mapping[str, Any] | None = None
    status_figures: Sequence[StatusFigures] = ()
    peak_error_rate: float | None = None
    peak_error_rate_at: datetime | None = None
    alerts: Sequence[Mapping[str, Any]] = ()
    commands: Sequence[CommandRun] = ()
    action_items: Sequence[ActionItem] = ()
    participants: Sequence[str] = ()
    chart_filename: str | None = None
    silences: Sequence[Mapping[str, Any]] = ()
    previous: Sequence[Mapping[str, Any]] = ()


# (key, label, definition): one list, so the document defines exactly what it shows.
DURATION_DEFINITIONS = (
    ("time_to_detect", "Time to detect", "detected - impact start"),
    ("time_to_acknowledge", "Time to acknowledge", "acknowledged - detected"),
    ("time_to_identify", "Time to identify", "identified - impact start"),
    ("time_to_mitigate", "Time to mitigate", "mitigated - impact start (the impact's length)"),
    ("time_to_resolve", "Time to resolve", "resolved - impact start"),
)


def durations(incident: IncidentRecord) -> dict[str, timedelta | None]:
    """The durations of `DURATION_DEFINITIONS`; None while either end is unknown."""
    pairs = {
        "time_to_detect": (incident.started_at, incident.detected_at),
        "time_to_acknowledge": (incident.detected_at, incident.acknowledged_at),
        "time_to_identify": (incident.started_at, incident.identified_at),
        "time_to_mitigate": (incident.started_at, incident.mitigated_at),
        "time_to_resolve": (incident.started_at, incident.resolved_at),
    }
    return {key: _between(start, end) for key, (start, end) in pairs.items()}


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    """From the printed (whole-second) times, so "to resolve" agrees with the times shown."""
    if start is None or end is None:
        return None
    return whole_second(end) - whole_second(start)


def parse_action(text: str) -> ActionItem:
    """`<text> [@owner] [--due YYYY-MM-DD]`, the arguments of `/incident action`, read by
    the one parser of action items (`bot.core.action_items`); the text's spacing folded."""
    try:
        parts = parse_action_parts(text)
    except DueError as e:
        if e.problem is DueProblem.TWICE:
            raise ValueError(f"give --due once; usage: {ACTION_USAGE}") from None
        raise
    body = " ".join(parts.text.split())
    if not body:
        raise ValueError(f"the action needs a text; usage: {ACTION_USAGE}")
    return ActionItem(body, parts.owner, parts.due, "action")


def action_items_from_notes(events: Iterable[EventRecord]) -> list[ActionItem]:
    """Notes starting with `TODO:` or `TODO ` (any case) are action items.

    The rest of the note is read like `/incident action`; a note whose `--due`
    is malformed still counts, as written, since a note is never refused. The
    note's author is not made the owner: writing a TODO is not taking it.
    """
    items = []
    for event in events:
        match = _TODO.match(event.text) if event.kind == NOTE_KIND else None
        if match is None or not event.text[match.end() :].strip():
            continue
        rest = event.text[match.end() :]
        try:
            item = parse_action(rest)
        except ValueError:
            item = ActionItem(" ".join(rest.split()))
        items.append(ActionItem(item.text, item.owner, item.due, "note"))
    return items


def render_postmortem(context: PostmortemContext, template_text: str | None = None) -> str:
    """The Markdown draft, from `template_text` or the default template."""
    source = default_template() if template_text is None else template_text
    variables = _variables(context)  # outside the `try`: a fault here is ours, not the template's
    try:
        template = _environment(source).get_template(TEMPLATE_NAME)
        parts: list[str] = []
        size = 0
        for part in template.generate(variables):  # piece by piece, to stop at the limit
            size += len(part)
            if size > MAX_DRAFT_CHARS:
                raise PostmortemTemplateError(
                    f"post-mortem template: the draft grew past {MAX_DRAFT_CHARS:,} characters"
                )
            parts.append(part)
        return "".join(parts)
    except jinja2.TemplateSyntaxError as e:
        raise PostmortemTemplateError(_describe(e, e.lineno)) from e
    except (
        jinja2.TemplateError,
        TypeError,
        ValueError,
        AttributeError,
        LookupError,
        OverflowError,
        MemoryError,
    ) as e:
        # A replacement template's mistakes surface here; the line makes them fixable.
        raise PostmortemTemplateError(_describe(e, _template_line(e.__traceback__))) from e


@cache
def default_template() -> str:
    return resources.files("bot").joinpath("templates", TEMPLATE_NAME).read_text("utf-8")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus a bound on `*` and `**`: `{{ "x" * 10**10 }}` is refused, not built."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _big_power(left, right):
            raise OverflowError(f"{left!r} ** {right!r} is too big for a draft")
        if operator == "*" and _big_repeat(left, right):
            raise OverflowError(f"repeating text or a list past {MAX_DRAFT_CHARS:,} items")
        return super().call_binop(context, operator, left, right)


def _big_power(base: Any, exponent: Any) -> bool:
    numbers = isinstance(base, int) and isinstance(exponent, int)
    return numbers and abs(base) > 1 and exponent * max(abs(base), 2).bit_length() > 10_000


def _big_repeat(left: Any, right: Any) -> bool:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            return len(seq) * times > MAX_DRAFT_CHARS
    return False


def _environment(source: str) -> jinja2.Environment:
    # Sandboxed: a template from the catalog is edited by more people than the code.
    # No autoescape: the output is Markdown, escaped by `_finalize` and the filters.
    env = _BoundedSandbox(
        # A file name on the template, so its frames in a traceback can be told apart.
        loader=jinja2.FunctionLoader(lambda name: (source, TEMPLATE_NAME, lambda: True)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(_FILTERS)
    return env


class _Markdown(str):
    """Text already written as Markdown (by a filter or by the bot): printed as it is."""


def _finalize(value: Any) -> str:
    # Jinja2 calls this on the value of every `{{ ... }}`: escaping is the default.
    return value if isinstance(value, _Markdown) else markdown(_show_raw(value))


def _show_raw(value: Any) -> str:
    return "" if value is None else str(value)


def _variables(context: PostmortemContext) -> dict[str, Any]:
    incident, events = context.incident, context.events
    spans = durations(incident)
    phases: dict[Phase, list[EventRecord]] = {}
    for event in events:
        phases.setdefault(phase_of(event, incident), []).append(event)
    return {
        **{f.name: getattr(context, f.name) for f in fields(context)},
        "phases": list(phases.items()),
        "timeline_md": _Markdown("".join(markdown_phase_tables(incident, events, heading="###"))),
        "phase_legend": _Markdown(phase_legend()),
        "durations": spans,
        "duration_rows": [(label, text, spans[key]) for key, label, text in DURATION_DEFINITIONS],
        "milestones": _milestones(incident),
        "action_items": _merge_actions(context.action_items, action_items_from_notes(events)),
    }


def _milestones(incident: IncidentRecord) -> list[tuple[str, datetime | None]]:
    return [
        ("Impact start", incident.started_at),
        ("Detected", incident.detected_at),
        ("Acknowledged", incident.acknowledged_at),
        ("Cause identified", incident.identified_at),
        ("Mitigated (impact ended)", incident.mitigated_at),
        ("Resolved", incident.resolved_at),
        ("Closed", incident.closed_at),
    ]


def _merge_actions(given: Sequence[ActionItem], notes: list[ActionItem]) -> list[ActionItem]:
    # The shell may pass TODO notes already; one line per distinct text is enough.
    seen = {item.text.casefold() for item in given}
    return [*given, *(item for item in notes if item.text.casefold() not in seen)]


def _describe(error: Exception, line: int | None) -> str:
    where = f"line {line}" if line is not None else "unknown line"
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"post-mortem template, {where}: {reason}"


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame (Jinja maps its frames to it)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _utc(value: datetime | None) -> str:
    return format_utc_seconds(value) if value is not None else _NONE


def format_percent(value: float | None) -> str:
    """0.45 -> `45%`, 0.0012 -> `0.12%`: two decimals at most, no trailing zeros."""
    if value is None:
        return _NONE
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _num(value: float | None, unit: str = "") -> str:
    """Three significant digits for small figures; big ones whole, never as 1.2e+04."""
    if value is None:
        return _NONE
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def _show(value: Any) -> str:
    """Any value of the context, readable in a table cell."""
    if value is None or value == "":
        return _NONE
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items()) or _NONE
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value) or _NONE
    return str(value)


_FILTERS: dict[str, Callable[..., str]] = {
    "utc": _utc,
    "duration": partial(format_duration, every_unit=True, unknown=_NONE),
    "pct": format_percent,
    "num": _num,
    "show": _show,
    "md": lambda value: _Markdown(markdown_cell(_show(value))),
    "code": lambda value: _Markdown(markdown_code(_show_raw(value))),
    "link": lambda url, label=None: _Markdown(_link(url, label)),
}


def _link(url: Any, label: str | None) -> str:
    """`[label](<url>)`, or the autolink `<url>` without a label; unsafe URLs as text."""
    if not url:
        return _NONE
    safe = safe_url(url)
    if label is None and safe:
        return f"<{safe}>"
    return markdown_link(url, label or url)
