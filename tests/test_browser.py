"""The incident page in a real browser: Debian's chromium, driven by Playwright.

Playwright is pointed at the system browser (`executable_path`); nothing is
downloaded at run time. Screenshots are saved as test artifacts in
`$TEST_ARTIFACTS` (default `test-artifacts/` at the repository root).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from bot.cli.demo import Demo
from bot.core.web_tokens import sign_link
from bot.runtime import BotRuntime
from bot.storage.models import Incident
from tests.support.alerts import alert, notification, send
from tests.support.realparts import unavailable
from tests.support.web_pages import PERSON, WEB_SECRET, open_incident

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        unavailable("Debian's chromium is not installed: apt-get install chromium")
    return path


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


def link(bot: BotRuntime, incident: Incident, *, age: timedelta = timedelta(0)) -> str:
    assert incident.id is not None
    token = sign_link(WEB_SECRET, incident.id, bot.clock() - age).token
    return f"{bot.url}/incidents/{incident.id}?t={token}"


async def person_page(browser: Browser, **options: object) -> Page:
    context = await browser.new_context(extra_http_headers=PERSON, **options)  # type: ignore[arg-type]
    return await context.new_page()


@SQLITE_ONLY
async def test_signed_link_shows_the_timeline_and_new_alerts_live(
    page_bot: BotRuntime, browser: Browser, artifacts: Path
) -> None:
    incident = await open_incident(page_bot)
    context = await browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    page = await context.new_page()
    response = await page.goto(link(page_bot, incident))
    assert response is not None
    assert response.status == 200
    assert "INC-1" in await page.locator("h1").inner_text()
    await page.get_by_text("New alert HighErrorRate firing").first.wait_for()
    # Times in the reader's zone (Tokyo), the UTC value on hover.
    first_time = page.locator("li.event time.local").first
    assert "GMT+9" in await first_time.inner_text()
    assert (await first_time.get_attribute("title") or "").endswith("Z (UTC)")
    assert await page.locator("text=Read-only link").count() == 1
    assert await page.locator("details.curate").count() == 0  # a read link cannot curate

    await page.evaluate("window.notReloaded = true")
    started = time.monotonic()
    assert await send(page_bot, notification(alert("a1"), alert("fresh-pod"))) == 200
    await page.get_by_text("fresh-pod").first.wait_for(timeout=5000)
    took = time.monotonic() - started
    assert await page.evaluate("window.notReloaded === true")  # no reload
    assert await page.locator("details.curate").count() == 0  # nor on the row that came live
    assert took < 2.0, f"the alert took {took:.2f}s to reach the page"
    await page.screenshot(path=str(artifacts / "incident-page-live.png"), full_page=True)


@SQLITE_ONLY
async def test_reviewer_hides_an_event_and_marks_a_key_moment(
    page_bot: BotRuntime, browser: Browser
) -> None:
    incident = await open_incident(page_bot)
    await page_bot.incidents.note(
        incident, "alert flapping again, ignore", actor="U0ONCALL1", key="a"
    )
    await page_bot.incidents.note(incident, "rolled back to v2.3.0", actor="U0LEAD", key="b")
    page = await person_page(browser)
    await page.goto(f"{page_bot.url}/incidents/1")
    assert "Signed in as ana@example.com" in await page.locator("header.top").inner_text()

    noise = page.locator("li.event", has_text="alert flapping again")
    await noise.locator("summary").click()
    await noise.get_by_role("button", name="Hide from post-mortem").click()
    await page.locator("li.event.hidden", has_text="alert flapping again").wait_for()

    # The same with the keyboard only: focus, Enter opens the form, Tab, Enter presses.
    fix = page.locator("li.event", has_text="rolled back to v2.3.0")
    await fix.locator("summary").focus()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Mark key moment"
    await page.keyboard.press("Enter")
    await page.locator("li.event.key", has_text="rolled back to v2.3.0").wait_for()

    draft = await (await page.request.get(f"{page_bot.url}/incidents/1/export/postmortem")).text()
    assert "alert flapping again" not in draft
    assert draft.index("## Key moments") < draft.index("## Summary")
    key_section = draft.split("## Key moments", 1)[1].split("\n## ", 1)[0]
    assert "rolled back to v2.3.0" in key_section
    csv = await (await page.request.get(f"{page_bot.url}/incidents/1/export/csv")).text()
    assert "alert flapping again" in csv  # kept in the export, flagged


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("mangle", "says"),
    [("expired", "This link has expired"), ("tampered", "This link is not valid")],
)
async def test_expired_or_tampered_link_gets_a_clear_403_page(
    page_bot: BotRuntime, browser: Browser, mangle: str, says: str
) -> None:
    incident = await open_incident(page_bot)
    url = link(page_bot, incident, age=timedelta(days=8) if mangle == "expired" else timedelta(0))
    if mangle == "tampered":
        url = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    page = await browser.new_page()
    response = await page.goto(url)
    assert response is not None
    assert response.status == 403
    assert says in await page.locator("[role=alert]").inner_text()
    assert await page.locator("text=HighErrorRate").count() == 0


@SQLITE_ONLY
async def test_readable_on_a_phone(page_bot: BotRuntime, browser: Browser) -> None:
    incident = await open_incident(page_bot)
    await page_bot.incidents.note(incident, "x" * 300, actor="U0ONCALL1", key="long")
    page = await person_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    await page.goto(link(page_bot, incident))
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px of horizontal scrolling on a phone"


async def test_screenshot_of_the_demo_incident(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    """The demo's story, then its incident page in the browser: the README's screenshot."""
    shot = artifacts / "demo-incident-page.png"
    shots: list[bytes] = []
    seen: list[str] = []

    async def photograph(bot: BotRuntime, incident: Incident) -> None:
        assert incident.id is not None
        url = bot.links.incident_url(incident.id)
        assert url is not None
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        response = await page.goto(url)
        assert response is not None
        assert response.status == 200
        # The server-drawn chart loads (its own request) and shows Prometheus's series.
        await page.wait_for_function(
            "(() => { const i = document.querySelector('.chart img');"
            " return i && i.complete && i.naturalWidth > 0; })()"
        )
        seen.append(await page.locator("main").inner_text())
        shots.append(await page.screenshot(path=str(shot), full_page=True))

    await Demo(tmp_path / "out", lambda _line: None, web=True, after=photograph).run()
    assert seen, "the page was opened"
    text = seen[0]
    for expected in (
        "INC-1",
        "Detection",
        "rollback_completed",
        "@sam",
        "error rate 45%",
    ):
        assert expected in text
    assert shots[0].startswith(b"\x89PNG")
