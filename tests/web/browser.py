"""The admin panel's browser tests share this: Debian's chromium driven by Playwright (no browser is
downloaded), pages that fail their test on any script error, and screenshots that
PADDLER_UPDATE_SCREENSHOTS=1 copies into docs/admin-panel/ (the README shows them)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

DOCS = Path(__file__).resolve().parents[2] / "docs" / "admin-panel"
WAIT_MS = 20_000


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "the admin panel tests need the system's chromium (apt-get install chromium)"
    return found


@contextmanager
def chromium_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@contextmanager
def checked_page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page; the test fails if a script on it raised."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []


def screenshot(page: Page, name: str, folder: Path) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 1000
    if os.environ.get("PADDLER_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)


def wait_for_the_tokens_chart_to_rise(page: Page) -> None:
    """Until the tokens/s chart's line leaves its baseline (a request is generating)."""
    risen = "() => [...document.querySelectorAll('[data-chart=tokens_per_second] polyline')].some((line) =>"
    risen += " line.getAttribute('points').split(' ').some((point) => Number(point.split(',')[1]) < 100))"
    page.wait_for_function(risen, timeout=WAIT_MS)
