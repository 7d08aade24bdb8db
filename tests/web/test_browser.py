"""The dashboard in a real browser (Debian's Chromium through Playwright) against `cnp daemon
--web` running the real Claude CLI on the stand-in API: log in with the printed link, create a
prompt and a job (watching the live cron check), run it and watch the output arrive, see the
usage-limit banner when the API says the limit is reached, switch to the dark theme, and use
it at phone width. Screenshots go to test-artifacts/web/.

Chromium must be installed (`apt-get install -y chromium`); without it these tests fail,
unless CNP_SKIP_BROWSER=1 says to skip them. Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon_proc import DaemonProcess, wait_until
from standin_api import StandinAPI, text, tool_use, usage_limit
from world import World

pytestmark = [pytest.mark.realcli, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
LINK = re.compile(r"(http://[^\s]+)/login\?code=([\w-]+)")
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CNP_SKIP_BROWSER") == "1":
            pytest.skip("CNP_SKIP_BROWSER=1 and no Chromium at /usr/bin/chromium")
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium "
                    "(or set CNP_SKIP_BROWSER=1 to skip the browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("Night shift done: nothing risky found.")) as api:
        yield World(tmp_path, api, oauth=True)


@pytest.fixture
def dashboard(world: World) -> Iterator[tuple[DaemonProcess, str, str]]:
    daemon = world.daemon("--web", "--port", "0", "--cooldown-margin", "1")
    daemon.start()
    try:
        match = wait_until(lambda: LINK.search(daemon.output()), 30, "the login link")
        yield daemon, match.group(1), match.group(0)
    finally:
        daemon.stop()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_night_in_the_browser(browser: Any, world: World,
                                dashboard: tuple[DaemonProcess, str, str]) -> None:
    daemon, base, login_link = dashboard
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Logging in with the printed one-time link.
    page.goto(login_link)
    assert page.url == f"{base}/?flash=loggedin"
    assert page.locator(".flash").inner_text().startswith("Logged in")
    assert page.locator(".card .big").first.inner_text() == "Running"  # the daemon itself

    # A prompt.
    page.click("text=Prompts")
    page.click("text=New prompt")
    page.fill("input[name=title]", "Nightly review")
    page.fill("textarea[name=content]", "Review yesterday's commits and list risky changes.")
    page.fill("input[name=tags]", "review, nightly")
    page.click("button:has-text('Create prompt')")
    page.wait_for_url(re.compile(r"/prompts/1\?flash=created$"))

    # A job, with the cron expression checked as it is typed.
    page.click("text=Schedule it")
    page.wait_for_selector("#schedule-preview.valid")
    cron = page.locator("input[name=cron]")
    cron.fill("0 25 * * *")
    page.wait_for_selector("#schedule-preview.invalid")
    assert "hour" in page.locator("#schedule-preview").inner_text()
    cron.fill("30 2 * * 1-5")
    page.fill("input[name=timezone]", "UTC")
    page.wait_for_selector("#schedule-preview.valid >> text=02:30")
    preview = page.locator("#schedule-preview")
    assert preview.locator("li").count() == 5
    assert "Monday through Friday" in preview.inner_text()
    page.fill("input[name=work_dir]", str(world.work))
    shot(page, "job-form")
    page.click("button:has-text('Create job')")
    page.wait_for_url(re.compile(r"/jobs/1\?flash=created$"))
    assert page.locator("ol.times li").count() == 5
    shot(page, "job")

    # Run it now and watch the output arrive.
    world.api.push(tool_use("Bash", {"command": "echo night > night.txt"}),
                   text("Night shift done: nothing risky found."))
    page.click("button:has-text('Run now')")
    page.wait_for_url(re.compile(r"/runs/1"))
    page.wait_for_selector("#result-text", timeout=WAIT_MS)
    assert page.locator("#result-text").inner_text() == "Night shift done: nothing risky found."
    assert page.locator("#run-status").inner_text() == "completed"
    events = page.locator(".ev")
    assert events.count() >= 4
    assert "session started" in events.first.inner_text()
    assert page.locator(".ev-result").count() == 1
    assert "Permission denials (1)" in page.content()  # Bash was not granted
    assert "$" in page.locator("dl.kv").nth(1).inner_text()
    shot(page, "execution")

    # A usage limit: the next run hits it, the banner appears and counts down.
    reset = int(time.time()) + 3600
    world.api.push(usage_limit(reset_at=reset))
    page.goto(f"{base}/jobs/1")
    page.click("button:has-text('Run now')")
    page.goto(f"{base}/")
    banner = page.wait_for_selector("#cooldown-banner", timeout=WAIT_MS)
    assert "Usage limit reached (session)" in banner.inner_text()
    first = page.locator(".countdown").inner_text()
    page.wait_for_function("t => document.querySelector('.countdown').textContent !== t",
                           arg=first, timeout=5000)  # it counts down
    assert re.fullmatch(r"[01]:\d\d:\d\d", page.locator(".countdown").inner_text())
    shot(page, "overview-cooldown")

    # A prompt in use cannot be deleted: the page says which jobs use it.
    page.goto(f"{base}/prompts/1")
    page.click("button:has-text('Delete prompt')")
    assert "is used by job(s) 1" in page.locator(".error-box").inner_text()

    # Dark theme, remembered across pages.
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click("#theme-toggle")  # automatic -> light
    page.click("#theme-toggle")  # light -> dark
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.goto(f"{base}/usage")
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_bg != light_bg and _luminance(dark_bg) < 0.1
    assert page.locator("svg.chart").count() >= 2
    shot(page, "usage-dark")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()

    # Phone width: one column, nothing wider than the screen.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark",
                                device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.new_page()
    for url in ("/", "/runs/1", "/jobs/1"):
        page.goto(f"{base}{url}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (url, overflow)
    page.goto(f"{base}/")
    boxes = [page.locator(".cards .card").nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and boxes[0]["x"] == boxes[1]["x"]  # stacked, not side by side
    assert boxes[0]["width"] > 300
    shot(page, "overview-phone")
    page.goto(f"{base}/runs/1")
    shot(page, "execution-phone")
    phone.close()
    assert daemon.proc is not None and daemon.proc.poll() is None


def _luminance(css: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
