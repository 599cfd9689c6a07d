"""Every string from outside, made safe for where it goes: one module, used by every renderer.

Outside strings are alert labels and annotations, titles, notes, Kubernetes and
Prometheus answers, Slack messages. Each destination has its own syntax, so
each has its own function; a renderer calls the one for where the text lands:

| destination | text | code | link |
|---|---|---|---|
| Slack mrkdwn | `mrkdwn` | `code`, `code_block`, `preformatted` | `link` (http(s)), `mention` |
| Markdown (exports, draft) | `markdown` | `markdown_code` | `markdown_link` |
| HTML | `html` | | |
| CSV | `csv_cell` | | |

`safe_url` is the rule for every link: http or https, a host, and none of the
characters that end a Slack link or a Markdown/HTML attribute (`| < > " '`,
backticks, whitespace, controls). Anything else is shown as text, never linked.

Timeline texts are stored as Slack mrkdwn (Slack's own messages arrive that
way, and the bot posts them back as they are); `mrkdwn_to_plain` turns one back
into plain text for the exports, which then escape it for their own format.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape as _markupsafe_escape

# Slack: "you must escape &, < and >" (docs.slack.dev, formatting text for app surfaces).
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
# Characters that end or break a link in Slack (`<url|label>`), Markdown (`(<url>)`) or HTML.
_URL_FORBIDDEN = re.compile(r"[|<>\"'`\\\s\x00-\x1f\x7f]")
# Slack's `<@U123|name>`, `<#C123|name>`, `<!here>`, `<https://...|label>`.
_SLACK_MARKUP = re.compile(
    r"<(?P<target>[@#!][^|>\s]+|[a-zA-Z][a-zA-Z0-9+.-]*:[^|>\s]+)(?:\|(?P<label>[^>]*))?>"
)
# Markdown: link and image brackets, HTML and autolinks, code spans, table cells, escapes;
# each gets a backslash before it. The backslash comes first, so that the ones added for
# the others are not escaped again. `str.replace` per character present: several times
# faster than a regex whose replacement template is expanded in Python for each match,
# or `str.translate`, which looks each character of a non-ASCII text up in a dict.
_MARKDOWN = tuple((char, "\\" + char) for char in "\\`[]<>|")
# At the start of a line these make a heading or a list item.
_MARKDOWN_LINE_START = re.compile(
    r"^([ \t]*(?:\d+)?)(#{1,6}(?=\s|$)|(?<![\d])[-+*](?=\s)|(?<=\d)[.)](?=\s|$))", re.M
)
# OWASP's list: a spreadsheet evaluates a cell starting with these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def mrkdwn(value: Any) -> str:
    """Text for a Slack mrkdwn or `text` field: `<!channel>` and `<url|label>` become text."""
    return str(value).translate(_SLACK)


def code(value: Any) -> str:
    """A closed inline code span: a backtick or line break inside cannot end it early."""
    text = " ".join(str(value).splitlines()).replace("`", "\u02cb")  # modifier letter grave
    return f"`{mrkdwn(text) or ' '}`"


def code_block(value: Any) -> str:
    """A closed preformatted block (```): a ``` inside cannot end it early."""
    text = preformatted(value)
    return f"```{text}```" if text else ""


def preformatted(value: Any) -> str:
    """Text for inside a ``` block: escaped, and a ``` in it broken up (zero-width space)."""
    return mrkdwn(value).replace("```", "`\u200b``")


def safe_url(value: Any) -> str | None:
    """The URL if it may be linked: http(s), with a host, nothing that ends a link."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        return None
    if _URL_FORBIDDEN.search(value):
        return None
    # What `urlsplit` decides (the scheme, the host, a malformed host) depends only on the
    # scheme and the authority: for `http(s)://authority`, that verdict is remembered.
    # A 50,000-event export links a handful of hosts 50,000 times.
    origin = _HTTP_ORIGIN.match(value)
    if origin is not None:
        return value if _safe_origin(origin.group()) else None
    return value if _http_with_host(value) else None


_HTTP_ORIGIN = re.compile(r"https?://[^/?#]*", re.IGNORECASE)  # urlsplit's netloc ends there


@functools.lru_cache(maxsize=256)
def _safe_origin(origin: str) -> bool:
    return _http_with_host(origin)


def _http_with_host(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an invalid IPv6 host
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def link(url: Any, label: str) -> str:
    """A Slack link `<url|label>` when the URL is safe, else the label alone as text."""
    safe = safe_url(url)
    return f"<{safe}|{mrkdwn(label)}>" if safe else mrkdwn(label)


def mention(user: Any) -> str:
    """`<@U123>` for a Slack user id; anything else ("alertmanager", a name) as text."""
    text = str(user)
    return f"<@{text}>" if _USER_ID.match(text) else mrkdwn(text)


def mrkdwn_to_plain(text: Any) -> str:
    """Slack mrkdwn made readable as plain text: `<@U1|ana>` -> `@ana`, `&lt;` -> `<`.

    A link becomes `label (url)`: the exports decide for themselves whether to link it.
    """
    plain = _SLACK_MARKUP.sub(_plain_markup, str(text))
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain_markup(match: re.Match[str]) -> str:
    target, label = match["target"], match["label"]
    if target[0] in "@#":
        return target[0] + (label or target[1:])
    if target[0] == "!":  # <!here>; <!subteam^S1|@oncall> and <!date^...|text> carry a label
        return label or "@" + target[1:]
    return f"{label} ({target})" if label and label != target else target


def markdown(value: Any) -> str:
    """Inline Markdown text that renders as itself: no link, image, HTML, code or new cell.

    `[`, `]`, `<`, `>`, backticks, `|` and `\\` are backslash-escaped (CommonMark
    escapes), and a line that would start a heading, list or quote is escaped too.
    Emphasis (`*`, `_`) is left alone: it changes how text looks, not where it points.
    Line breaks stay; `markdown_cell` (in the exports) folds them for a table.
    """
    text = str(value)
    for char, escaped in _MARKDOWN:
        if char in text:
            text = text.replace(char, escaped)
    # `^` of a one-line text is its start: one `match` there instead of a search of it all.
    if "\n" in text or _MARKDOWN_LINE_START.match(text):
        text = _MARKDOWN_LINE_START.sub(r"\1\\\2", text)
    return text


def markdown_code(value: Any) -> str:
    """A closed inline Markdown code span, whatever backticks the value holds."""
    text = " ".join(str(value).splitlines()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_link(url: Any, label: Any) -> str:
    """`[label](<url>)` when the URL is safe (http(s)), else the escaped label as text."""
    safe = safe_url(url)
    return f"[{markdown(label)}](<{safe}>)" if safe else markdown(label)


def html(value: Any) -> str:
    """Text for HTML content or a quoted attribute (markupsafe: & < > " ')."""
    return str(_markupsafe_escape(value))


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading `= + - @` is prefixed with `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
