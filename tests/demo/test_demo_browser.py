"""The web demo end to end, in headless Chromium: the page served by `code/demo.py` (the shipped
model), a bad prompt answered in the page, verse streaming in after Generate, Stop stopping it.

Needs Debian's chromium (/usr/bin/chromium) and Playwright for Python, never `playwright install`'s
browsers. Run as a script, it redraws the README's picture of the page writing an Onegin stanza:

    python tests/test_demo_browser.py docs/img/demo.png
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROMPT = "Мой дядя самых честных правил,\n"
TIMEOUT_MS = 30_000
VERSE = "#verse textarea"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(log: Path, *flags: str) -> Iterator[str]:
    """`python code/demo.py` on a free port, until the block ends; yields the page's address."""
    port = free_port()
    command = [sys.executable, str(ROOT / "code" / "demo.py"), "--port", str(port), "--workers", "2", *flags]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"the demo exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the demo did not start in 90 s:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def browser_page(url: str, sync_playwright) -> Iterator:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url, wait_until="domcontentloaded")
            page.locator(VERSE).wait_for()
            yield page
        finally:
            browser.close()


def settings(page, prompt: str, length: int | None = None, seed: int = 7) -> None:
    page.locator("#prompt textarea").fill(prompt)
    if length is not None:
        page.locator("#max_tokens input[type=number]").fill(str(length))
        page.locator("#max_tokens input[type=number]").press("Tab")
    page.locator("#seed input").fill(str(seed))
    page.locator("#seed input").press("Tab")


def verse_longer_than(page, chars: int) -> None:
    page.wait_for_function(f"() => document.querySelector('{VERSE}').value.length > {chars}")


def playwright_or_skip():
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install playwright)")
    return sync_playwright


def test_the_page_writes_verse_as_you_watch_and_stops(tmp_path: Path) -> None:
    sync_playwright = playwright_or_skip()
    with served(tmp_path / "server.log") as url, browser_page(url, sync_playwright) as page:
        settings(page, "снег ☃")  # a character the model has never seen: a message, not a traceback
        page.locator("#generate").click()
        page.wait_for_function("() => document.querySelector('#status textarea').value.includes('not know')")

        settings(page, PROMPT, length=2000)  # long enough to be still writing when Stop is pressed
        clicked = time.monotonic()
        page.locator("#generate").click()
        verse_longer_than(page, len(PROMPT))
        first_char = time.monotonic() - clicked
        verse_longer_than(page, len(PROMPT) + 60)
        page.locator("#stop").click()
        page.wait_for_function("() => document.querySelector('#status textarea').value.startsWith('stopped')")
        stopped = page.locator(VERSE).input_value()
        assert "scheme" in page.locator("#scansion").inner_text()  # what was written, scanned
        time.sleep(1.0)
        assert page.locator(VERSE).input_value() == stopped, "the verse kept growing after Stop"
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

    assert stopped.startswith(PROMPT) and len(stopped) < len(PROMPT) + 2000, len(stopped)
    written = stopped[len(PROMPT) :]
    assert len(re.findall("[а-яё]", written, re.IGNORECASE)) > len(written) / 2, written
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "Traceback" not in (tmp_path / "server.log").read_text()
    print(f"click to first character: {first_char:.2f} s")


def draw_onegin_stanza(out: Path) -> None:
    """The page writing an Onegin stanza, captured once it is done (the README's picture)."""
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.gettempdir()) / "pushkin-lm-demo-server.log"
    with served(log) as url, browser_page(url, sync_playwright) as page:
        settings(page, PROMPT, seed=3)
        page.locator("#form input").click()
        page.get_by_role("option", name=re.compile("Onegin")).click()
        page.locator("#generate").click()
        page.wait_for_function(
            "() => document.querySelector('#status textarea').value.includes('characters in')",
            timeout=120_000,
        )
        page.locator("#prompt textarea").blur()
        page.screenshot(path=str(out), full_page=True)


if __name__ == "__main__":
    draw_onegin_stanza(Path(sys.argv[1]))
