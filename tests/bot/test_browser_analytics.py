"""Browser test of satisfaction logging and the analyst dashboard, on the real gateway with a fake Rasa,
driven in Debian's Chromium with Playwright (`playwright install` is never used).

A taxpayer asks a question on the web chat, marks the answer helpful, says thanks, gets the rating
widget and rates the conversation 2 of 5 with a comment. An analyst signs in at /analytics, sees the
figures and charts, finds the low-rated conversation, opens its masked transcript and downloads the CSV.
Screenshots go to /tmp/taxguide/.
"""
from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest
from aiohttp import web

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("TAXGUIDE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000
SCREENSHOT_DIR = Path(os.environ.get("TAXGUIDE_SCREENSHOT_DIR", "/tmp/taxguide"))
PASSWORD = "browser-analyst-pass"
THANKS = "You're welcome! Is there anything else about your taxes I can help with?"  # utter_thanks

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI") == "true":
        pytest.fail(f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)", pytrace=False)
    pytest.skip(f"Chromium not installed at {CHROMIUM}", allow_module_level=True)


def fake_rasa_reply(sender: str, message: str) -> List[Dict[str, Any]]:
    lower = message.lower()
    if lower.startswith("thank"):
        return [{"recipient_id": sender, "text": THANKS, "custom": {"kind": "smalltalk"}}]
    if "tax" in lower:
        return [{"recipient_id": sender,
                 "text": "The basic deduction for individual income tax is 60,000 yuan a year (5,000 yuan a month).",
                 "custom": {"kind": "answer", "article_id": "iit-basic-deduction", "confidence": 0.91, "sources": [],
                            "title": "Basic deduction"}}]
    return [{"recipient_id": sender, "text": "Echo: " + message}]


def make_fake_rasa(log: List[Dict[str, Any]]) -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        log.append(body)
        return web.json_response(fake_rasa_reply(body["sender"], body["message"]))

    async def root(_request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_get("/", root)
    return app


class Servers:
    def __init__(self, workdir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: List[web.AppRunner] = []
        self.rasa_log: List[Dict[str, Any]] = []
        rasa_port = self.serve(make_fake_rasa(self.rasa_log))
        from bot.app import create_app
        from bot.settings import Settings

        env = {
            "RASA_URL": f"http://127.0.0.1:{rasa_port}", "ACTION_SERVER_URL": "http://127.0.0.1:9",
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'analytics.db'}", "SESSION_SECRET": "c" * 40,
            "SESSION_KEY": "browser-analytics-session-key", "BCRYPT_ROUNDS": "4", "LOG_LEVEL": "WARNING",
        }
        self.app = create_app(Settings.from_env(env))
        self.port = self.serve(self.app)
        self.base = f"http://127.0.0.1:{self.port}"

        async def account() -> None:
            from bot.db.handoff_repository import HandoffRepository
            from bot.handoff.auth import hash_password
            from bot.keys import ENGINE

            await HandoffRepository(self.app[ENGINE]).create_account("zhao", hash_password(PASSWORD, 4), "analyst", "Zhao Min")

        self.run(account())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def serve(self, app: web.Application) -> int:
        async def start() -> int:
            runner = web.AppRunner(app, shutdown_timeout=1.0)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.runners.append(runner)
            return runner.addresses[0][1]

        return self.run(start())

    def close(self) -> None:
        for runner in reversed(self.runners):
            try:
                self.run(runner.cleanup())
            except Exception:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    s = Servers(tmp_path_factory.mktemp("analytics"))
    yield s
    s.close()


def test_taxpayer_rates_and_analyst_finds_it(servers):
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    errors: List[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # ---------------------------------------------------------------- taxpayer
            tax = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US").new_page()
            tax.on("pageerror", lambda exc: errors.append(str(exc)))
            tax.goto(servers.base + "/")
            tax.fill("#message-input", "What is the basic tax deduction? My phone is 13812345678")
            tax.press("#message-input", "Enter")
            answer = tax.locator("li.msg--answer").last
            expect(answer).to_contain_text("60,000 yuan")
            answer.get_by_role("button", name="Helpful", exact=True).click()
            expect(answer.locator(".fb-status")).to_have_text("Thanks for the feedback.")
            expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")

            tax.fill("#message-input", "thanks")
            tax.press("#message-input", "Enter")
            survey = tax.locator("li.msg--survey").last
            expect(survey).to_contain_text("How would you rate this conversation?")
            survey.get_by_role("button", name="2 of 5").click()
            survey.get_by_label("Comment (optional)").fill("too vague for my case")
            tax.screenshot(path=str(SCREENSHOT_DIR / "analytics-taxpayer-survey.png"), full_page=True)
            survey.get_by_role("button", name="Send rating").click()
            expect(tax.locator("li.msg--survey_thanks").last).to_contain_text("Thank you for telling us")
            session_id = tax.evaluate("() => localStorage.getItem('taxguide.session_id')")
            assert session_id and not any("/rate" in m["message"] for m in servers.rasa_log)  # Rasa never saw it

            # ---------------------------------------------------------------- analyst
            page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(servers.base + "/analytics")
            page.get_by_label("User name").fill("zhao")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("#who-name")).to_have_text("Zhao Min (analyst)")
            expect(page.locator("#status")).to_contain_text("1 conversations")
            kpis = page.locator("#kpis")
            expect(kpis).to_contain_text("CSAT (4–5 of 5)")
            expect(kpis).to_contain_text("0.0 %")  # one rating, a 2
            expect(page.locator("#trend-chart svg rect").first).to_be_attached()
            expect(page.locator("#dist-chart svg")).to_be_visible()
            expect(page.locator("#topics")).to_contain_text("iit-basic-deduction")
            low = page.locator("#low table")
            expect(low).to_contain_text("too vague for my case")
            page.screenshot(path=str(SCREENSHOT_DIR / "analytics-dashboard.png"), full_page=True)

            low.locator(f"button[data-conversation='{session_id}']").click()
            dialog = page.locator("#transcript")
            expect(dialog).to_be_visible()
            expect(dialog).to_contain_text("My phone is 138****5678")  # masked
            expect(dialog).to_contain_text("60,000 yuan")
            expect(dialog).to_contain_text("2 of 5")
            expect(dialog).to_contain_text("too vague for my case")
            assert "13812345678" not in dialog.inner_text()
            page.screenshot(path=str(SCREENSHOT_DIR / "analytics-transcript.png"))
            page.get_by_role("button", name="Close").click()

            # the dashboard in Chinese (texts from /i18n.js), and Chinese by default for a Chinese browser
            page.get_by_role("button", name="中文", exact=True).click()
            expect(kpis).to_contain_text("自助解决率")
            expect(kpis).to_contain_text("转人工率")
            expect(page.locator("#status")).to_contain_text("共 1 个会话")
            expect(low).to_contain_text("评论")
            page.get_by_role("button", name="EN", exact=True).click()
            expect(kpis).to_contain_text("Containment")
            zh_page = browser.new_context(locale="zh-CN").new_page()
            zh_page.on("pageerror", lambda exc: errors.append(str(exc)))
            zh_page.goto(servers.base + "/analytics")
            expect(zh_page.get_by_role("heading", name="登录")).to_be_visible()
            expect(zh_page.get_by_label("用户名")).to_be_visible()

            href = page.locator("a.csv[data-section='low_rated']").get_attribute("href")
            resp = page.request.get(servers.base + href)
            assert resp.status == 200 and "too vague for my case" in resp.text() and session_id in resp.text()
            anonymous = browser.new_context().request.get(servers.base + href)
            assert anonymous.status == 401
        finally:
            browser.close()
    assert not errors, errors
