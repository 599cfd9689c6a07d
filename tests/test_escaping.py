"""Hostile strings from outside, through every kind of message the bot renders.

For Slack, every `<...>` that comes out must be markup the bot meant (a user
mention of a known actor, a link to a URL the test trusts), and every code span
must stay closed. For Markdown, no link, image or HTML may come out of a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.core.alerts import parse_notification
from bot.core.escaping import (
    code,
    code_block,
    csv_cell,
    html,
    link,
    markdown,
    markdown_code,
    markdown_link,
    mention,
    mrkdwn,
    mrkdwn_to_plain,
    safe_url,
)
from bot.core.exports import EventRecord, IncidentRecord, timeline_csv, timeline_markdown
from bot.core.incident_rules import AlertChange, ChangeKind, IncidentStatus
from bot.core.lifecycle import LifecycleState, assign_role, transition
from bot.core.messages import (
    IncidentCard,
    alert_message_blocks,
    alert_message_text,
    change_text,
    channel_purpose,
    channel_topic,
    declared_message,
    digest_text,
)
from bot.core.pod_health import ContainerState, PodTrouble
from bot.core.pod_logs import LogLine
from bot.core.postmortem import PostmortemContext, render_postmortem
from bot.core.rollback import RollbackPlan, may_roll_back
from bot.core.rollout import EventLine, Revision, RolloutStatus
from bot.core.status_report import FiringAlert, StatusReport
from commands.rollback import render_dry_run, render_history, render_preview, render_progress
from commands.status import render_status
from tests.support.fixture_files import FIXTURES

NOW = datetime(2026, 11, 26, 10, 12, 55, tzinfo=UTC)
ACTOR = "U0DANA"
HOSTILE = [
    "<!channel> <https://evil.example|Click to fix>",
    "<!here|here> <!everyone> <!subteam^S1|@oncall>",
    "<@U0EVIL> and <#C0EVIL>",
    "pay`ments` <!channel> `x",
    "```\n<!channel>\n```",
    "&lt;!channel&gt; & <b>bold</b>",
    "<javascript:alert(1)|click>",
    "![p](https://evil.example/t.png) [click](javascript:alert(1))",
    "line1\nline2\r\n# heading\n- item\n> quote",
    "a|b|c <https://evil.example>",
    '=HYPERLINK("https://evil.example")',
]
# The only markup the bot itself writes: mentions of the actor, channel links, the
# trusted links below, and Slack's own special `<!here>` in reminders (not rendered here).
TRUSTED_URLS = {"https://runbooks.example.com/payments"}
_MARKUP = re.compile(r"<([^>]*)>")


def allowed_markup(inner: str) -> bool:
    if inner in (f"@{ACTOR}", "#C1"):
        return True
    url = inner.split("|", 1)[0]
    return url in TRUSTED_URLS


def assert_slack_safe(text: str, hostile: str) -> None:
    for inner in _MARKUP.findall(text):
        assert allowed_markup(inner), f"markup <{inner}> leaked from {hostile!r} into {text!r}"
    assert text.count("```") % 2 == 0, f"an unclosed code block in {text!r}"


def mrkdwn_texts(value: Any) -> Iterator[str]:
    """Every string in a Block Kit structure that Slack renders as mrkdwn."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        if value.get("type") == "plain_text":
            return  # Slack shows plain_text as it is
        for key, item in value.items():
            if key not in ("action_id", "value", "url", "type", "style", "block_id"):
                yield from mrkdwn_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from mrkdwn_texts(item)


def notification(hostile: str) -> Any:
    payload = json.loads((FIXTURES / "v4-firing-prometheus-2.42-am-0.25.json").read_bytes())
    payload["commonAnnotations"]["summary"] = hostile
    payload["commonAnnotations"]["description"] = hostile
    payload["commonLabels"]["service"] = hostile
    payload["externalURL"] = "http://am.example/|<!here>"
    for alert in payload["alerts"]:
        alert["labels"]["service"] = hostile
        alert["labels"]["alertname"] = hostile
        alert["generatorURL"] = f"http://prom.example/graph?g=1|{hostile}>"
    return parse_notification(json.dumps(payload).encode())


def card(hostile: str) -> IncidentCard:
    return IncidentCard("INC-7", hostile, hostile, IncidentStatus.INVESTIGATING, hostile, "C1", NOW)


def plan(hostile: str) -> RollbackPlan:
    return RollbackPlan(
        namespace=hostile,
        deployment=hostile,
        resource_version="1",
        from_revision=2,
        from_images=(hostile,),
        to_revision=1,
        to_images=("img:v1",),
        diff=(hostile,),
        patch=(),
        gitops=hostile,
    )


def status_report(hostile: str) -> StatusReport:
    rollout = RolloutStatus(3, 3, 2, 2, False, "progressing", hostile)
    container = ContainerState(
        hostile, hostile, False, "waiting", hostile, hostile, False, 3, hostile, 1, NOW
    )
    return StatusReport(
        service=hostile,
        namespace=hostile,
        deployment=hostile,
        generated_at=NOW,
        alerts=(FiringAlert(hostile, hostile, NOW),),
        rollout=rollout,
        revisions=(Revision(2, hostile, (hostile,), NOW, 3, {}),),
        pods=(
            PodTrouble(
                hostile,
                False,
                3,
                hostile,
                NOW,
                message=hostile,
                phase=hostile,
                containers=(container,),
            ),
        ),
        events=(EventLine(NOW, hostile, hostile, hostile, 2),),
        log_lines=(LogLine(hostile, hostile), LogLine(hostile, hostile)),
        missing={"prometheus": hostile, "Logs": hostile},
        metric_errors={"error_rate": hostile},
    )


def lifecycle_texts(hostile: str) -> list[str]:
    state = LifecycleState(IncidentStatus.MONITORING, "sev2", NOW, NOW, NOW)
    resolved = transition(state, IncidentStatus.RESOLVED, now=NOW, actor=ACTOR, summary=hostile)
    _, role = assign_role({}, "commander", ACTOR, now=NOW, actor=hostile)
    return [e.text for e in resolved.events] + [role.text]


def alert_changes(hostile: str) -> list[str]:
    alert = notification(hostile).alerts[0]
    return [change_text(AlertChange(kind, alert, NOW)) for kind in ChangeKind]


SLACK_RENDERERS: dict[str, Callable[[str], Any]] = {
    "topic": lambda h: channel_topic(card(h)),
    "purpose": lambda h: channel_purpose(card(h)),
    "digest": lambda h: digest_text(card(h)),
    "alert text": lambda h: alert_message_text(card(h), notification(h)),
    "alert blocks": lambda h: alert_message_blocks(
        card(h), notification(h), runbook="https://runbooks.example.com/payments"
    ),
    "alert blocks, hostile runbook": lambda h: alert_message_blocks(
        card(h), notification(h), runbook=f"https://x.example/|{h}"
    ),
    "declared": lambda h: declared_message(card(h), ACTOR, runbook=f"javascript:{h}"),
    "alert changes": alert_changes,
    "lifecycle": lifecycle_texts,
    "status": lambda h: render_status(status_report(h)),
    "rollback preview": lambda h: render_preview(
        plan(h), rollback_id=1, requested_by=ACTOR, force=True
    ),
    "rollback progress": lambda h: render_progress(
        plan(h), RolloutStatus(3, 3, 2, 2, False, "progressing", h), by=ACTOR
    ),
    "rollback dry run": lambda h: render_dry_run(plan(h), (h,)),
    "rollback history": lambda h: render_history(h, h, [Revision(2, h, (h,), NOW, 3, {})], 2),
    "rollback refused": lambda h: (
        may_roll_back(
            ACTOR, [], h, allowed_users=[], allowed_groups=[], namespaces=["production"]
        ).reason
    ),
}


@pytest.mark.parametrize("kind", SLACK_RENDERERS)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_slack_messages_keep_outside_text_as_text(kind: str, hostile: str) -> None:
    rendered = SLACK_RENDERERS[kind](hostile)
    texts = list(mrkdwn_texts(rendered))
    assert texts
    for text in texts:
        assert_slack_safe(text, hostile)


def test_labels_stay_inside_their_code_spans() -> None:
    hostile = "pay`ments` <!channel> `x"
    blocks = alert_message_blocks(card("t"), notification(hostile), runbook=None)
    shown = "\n".join(mrkdwn_texts(blocks))
    assert code(f"service={hostile}") in shown
    assert code(f"service={hostile}") == "`service=pay\u02cbments\u02cb &lt;!channel&gt; \u02cbx`"


def test_a_summary_with_channel_ping_reads_as_text_in_the_room() -> None:
    hostile = "<!channel> <https://evil.example|Click to fix>"
    blocks = alert_message_blocks(card("t"), notification(hostile), runbook=None)
    shown = "\n".join(mrkdwn_texts(blocks))
    assert "&lt;!channel&gt; &lt;https://evil.example|Click to fix&gt;" in shown
    # The hostile generatorURL is not linked at all; nothing else broke out.
    assert "Prometheus graph" not in shown


def incident_record(hostile: str) -> IncidentRecord:
    return IncidentRecord(
        ref="INC-7",
        title=hostile,
        status="resolved",
        severity="sev1",
        service=hostile,
        channel_id="C1",
        channel_name=hostile,
        started_at=NOW,
        detected_at=NOW,
        acknowledged_at=NOW,
        mitigated_at=NOW,
        resolved_at=NOW,
        commander=hostile,
        summary=hostile,
    )


def events(hostile: str) -> list[EventRecord]:
    # Timeline texts are mrkdwn: a captured Slack message, a note, an alert change.
    return [
        EventRecord(
            NOW, NOW, "pinned_message", ACTOR, mrkdwn(hostile), link=f"javascript:{hostile}"
        ),
        EventRecord(NOW, NOW, "note", hostile, hostile, {"x": hostile}, "https://ok.example/a"),
        EventRecord(NOW, NOW, hostile, None, alert_changes(hostile)[0]),
    ]


def postmortem(hostile: str) -> str:
    return render_postmortem(
        PostmortemContext(
            incident=incident_record(hostile),
            events=events(hostile),
            now=NOW,
            rollbacks=[
                {
                    "by": hostile,
                    "namespace": hostile,
                    "deployment": hostile,
                    "from_images": [hostile],
                    "outcome": hostile,
                }
            ],
            suspected_deploy={hostile: hostile},
            alerts=[
                {
                    "name": hostile,
                    "labels": {hostile: hostile},
                    "generator_url": f"javascript:{hostile}",
                    "starts_at": NOW,
                }
            ],
            participants=[hostile],
        )
    )


_MD_CODE = re.compile(r"(?<![\\`])(`+)(?!`)(.*?[^`])\1(?!`)")
_MD_LINK = re.compile(r"(?<!\\)\]\((?!<https://ok\.example/a>)")  # `](` not escaped
_MD_HTML = re.compile(r"(?<!\\)<(?!br>)(?!https://ok\.example/a>)[a-zA-Z!/]")


@pytest.mark.parametrize(
    "render",
    [
        lambda h: "".join(timeline_markdown(incident_record(h), events(h))),
        postmortem,
    ],
    ids=["timeline markdown", "post-mortem draft"],
)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_markdown_documents_keep_outside_text_as_text(
    render: Callable[[str], str], hostile: str
) -> None:
    text = render(hostile)
    for line in text.splitlines():
        line = _MD_CODE.sub("`code`", line)  # inside a code span, `<b>` is text
        assert not _MD_LINK.search(line), f"a link or image from {hostile!r}: {line!r}"
        assert not _MD_HTML.search(line), f"HTML or an autolink from {hostile!r}: {line!r}"
        if line.startswith("| "):  # a table row keeps its columns whatever the text
            assert not re.search(r"(?<!\\)\|(?! |$)", line.replace(" | ", " ! ")), line


@pytest.mark.parametrize("hostile", HOSTILE)
def test_csv_cells_never_start_a_formula(hostile: str) -> None:
    rows = "".join(timeline_csv(incident_record(hostile), events(hostile)))
    for line in rows.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "@")), line


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("a & b > c", "a &amp; b &gt; c"),
        ("&lt;", "&amp;lt;"),
        ("ü 👍 数据", "ü 👍 数据"),
        (42, "42"),
    ],
)
def test_mrkdwn(value: object, expected: str) -> None:
    assert mrkdwn(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("service=payments", "`service=payments`"),
        ("a`b", "`a\u02cbb`"),
        ("x\ny", "`x y`"),
        ("<!here>", "`&lt;!here&gt;`"),
        ("", "` `"),
    ],
)
def test_code_spans_stay_closed(value: str, expected: str) -> None:
    assert code(value) == expected


def test_code_block_cannot_be_ended_early() -> None:
    block = code_block("a\n```\n<!channel>")
    assert block.startswith("```") and block.endswith("```")
    assert block[3:-3].count("```") == 0
    assert "&lt;!channel&gt;" in block
    assert code_block("") == ""


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://runbooks.example.com/payments", True),
        ("http://prometheus:9090/graph?g0.expr=rate(x%7B%7D[5m])", True),
        ("HTTPS://EXAMPLE.COM/", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("ftp://example.com/x", False),
        ("https://example.com/|<!channel>", False),
        ("https://example.com/a>b", False),
        ("https://example.com/a b", False),
        ("https://example.com/\nx", False),
        ("https://", False),
        ("//example.com/x", False),
        ("https://[::1", False),
        ('https://example.com/"onmouseover=x', False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url_only_http_and_nothing_that_ends_a_link(url: object, safe: bool) -> None:
    assert (safe_url(url) is not None) is safe


def _split_rule(url: str) -> bool:
    """The link rule as written before the per-host memo: urlsplit on the whole URL."""
    if not url or len(url) > 2000 or re.search(r"[|<>\"'`\\\s\x00-\x1f\x7f]", url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def test_safe_url_remembering_hosts_decides_as_urlsplit_on_the_whole_url() -> None:
    hosts = [
        "example.com",
        "EXAMPLE.com:8443",
        "user:pw@host",
        "@",
        "",
        ":80",
        "[::1]",
        "[::1]:9090",
        "[::1",
        "::1]",
        "[v1.x]",
        "[::1]x",
        "ex\u2100ample.com",
        "b\u00fccher.de",
        "h%41st",
        "host:port",
        "xn--bcher-kva.de",
        "a.b.c",
        "127.0.0.1",
        "[fe80::1%25eth0]",
    ]
    tails = ["", "/", "/a/b?x=1#f", "?q", "#frag", "/path:with:colons", "//double", "?a=[x]"]
    schemes = ["http://", "https://", "HTTPS://", "HtTp://", "ftp://", "http:/", "http:", "//"]
    for scheme in schemes:
        for host in hosts:
            for tail in tails:
                url = scheme + host + tail
                for _ in range(2):  # the second time from the memo
                    assert (safe_url(url) is not None) is _split_rule(url), url


def test_links() -> None:
    assert link("https://x.example/a", "Runbook") == "<https://x.example/a|Runbook>"
    assert link("javascript:alert(1)", "Runbook") == "Runbook"
    assert link("https://x.example/a", "<!here>") == "<https://x.example/a|&lt;!here&gt;>"
    assert markdown_link("https://x.example/a", "[x]") == "[\\[x\\]](<https://x.example/a>)"
    assert markdown_link("javascript:alert(1)", "click") == "click"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("U0DANA", "<@U0DANA>"),
        ("W123", "<@W123>"),
        ("alertmanager", "alertmanager"),
        ("<!channel>", "&lt;!channel&gt;"),
    ],
)
def test_mention_only_for_user_ids(user: str, expected: str) -> None:
    assert mention(user) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("![p](https://evil.example/t.png)", "!\\[p\\](https://evil.example/t.png)"),
        ("<script>x</script>", "\\<script\\>x\\</script\\>"),
        ("# heading", "\\# heading"),
        ("- item\n2. second", "\\- item\n2\\. second"),
        ("v2.3.1 - fine", "v2.3.1 - fine"),
        ("*bold* _it_", "*bold* _it_"),
        ("a|b `c` \\", "a\\|b \\`c\\` \\\\"),
        ("\\|", "\\\\\\|"),  # an escaped pipe stays a pipe shown, not a cell's end
        ("  3) third", "  3\\) third"),
        ("+ plus", "\\+ plus"),
        ("text\n### deep", "text\n\\### deep"),
        ("1986. a year", "1986\\. a year"),
    ],
)
def test_markdown(value: str, expected: str) -> None:
    assert markdown(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", "`a`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``"), ("a|b", "`a\\|b`")],
)
def test_markdown_code(value: str, expected: str) -> None:
    assert markdown_code(value) == expected


def test_mrkdwn_to_plain_reads_slack_markup() -> None:
    assert mrkdwn_to_plain("<@U1|ana> &lt;b&gt; &amp; <https://x.example|x>") == (
        "@ana <b> & x (https://x.example)"
    )


def test_html_and_csv() -> None:
    assert html("<a href='x'>&</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("-2") == "'-2"


def test_draft_links_only_safe_generator_urls() -> None:
    draft = postmortem("x")
    assert "javascript:" in draft  # shown as text ...
    assert "](<javascript" not in draft and "<javascript" not in draft  # ... never linked
    safe = replace(incident_record("x"))
    assert safe.title == "x"
