"""The one way the tests drive a browser: Debian's Chromium through Playwright's sync API.

`playwright install` is never used: the browser comes from Debian (`scripts/browser.sh` installs it).
The fixtures `browser` and `pages` (tests/conftest.py) use this module; a test takes `pages` and opens
pages with `pages.new(...)`. Every page is watched: an uncaught script error, a console error or a failed
request for the page's own files fails the test, unless the test allows it (`pages.allow(...)`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional
from urllib.parse import urlsplit

if TYPE_CHECKING:  # playwright is imported only after `missing()` found it
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Response

CHROMIUM = os.environ.get("TAXGUIDE_CHROMIUM", "/usr/bin/chromium")
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
SCREENSHOT_DIR = Path(os.environ.get("TAXGUIDE_SCREENSHOT_DIR", "/tmp/taxguide"))
TIMEOUT_MS = 15_000


def missing() -> Optional[str]:
    """Why no browser test can run here (Chromium or playwright missing), or None. Imports nothing."""
    if not os.path.exists(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM} (scripts/browser.sh installs it)"
    try:
        found = importlib.util.find_spec("playwright") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return "the playwright package is not installed (pip install -r requirements.lock)"
    return None


def launch(playwright: "Playwright") -> "Browser":
    """Debian's Chromium, headless."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def screenshot_path(name: str) -> str:
    """Where a screenshot called `name` goes (the folder is created)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOT_DIR / name)


class Pages:
    """Pages in fresh browser contexts, with every error they report recorded in `errors`."""

    def __init__(self, browser: "Browser") -> None:
        from playwright.sync_api import expect

        self.browser = browser
        self.expect = expect
        self.expect.set_options(timeout=TIMEOUT_MS)
        self.errors: List[str] = []
        self._allowed: List[str] = []
        self._contexts: List["BrowserContext"] = []

    def new(self, **context_options: Any) -> "Page":
        """A page in a new context (`viewport`, `locale`, ... as for `Browser.new_context`)."""
        context = self.browser.new_context(**context_options)
        self._contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"uncaught error on {page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message))
        page.on("response", lambda response: self._response(page, response))
        page.on("requestfailed", lambda request: self._failed(page, request.url, request.failure or "failed"))
        return page

    def allow(self, *fragments: str) -> None:
        """Console messages and failed requests containing one of `fragments` are expected (say why)."""
        self._allowed.extend(fragments)

    def unexpected(self) -> List[str]:
        """The errors no `allow()` covers."""
        return [e for e in self.errors if not any(fragment in e for fragment in self._allowed)]

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()

    def _console(self, page: "Page", message: "ConsoleMessage") -> None:
        if message.type == "error":
            self.errors.append(f"console error on {page.url}: {message.text}")

    def _response(self, page: "Page", response: "Response") -> None:
        if response.status >= 400 and _same_origin(page.url, response.url):
            self.errors.append(f"HTTP {response.status} for {response.url}")

    def _failed(self, page: "Page", url: str, failure: str) -> None:
        if _same_origin(page.url, url):
            self.errors.append(f"request failed ({failure}): {url}")


def _same_origin(page_url: str, url: str) -> bool:
    return urlsplit(page_url)[:2] == urlsplit(url)[:2]
