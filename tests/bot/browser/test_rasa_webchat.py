"""A standard Rasa widget, rasa-webchat 1.0.1 from npm, talks to the gateway's socket.io channel.

The widget renders only the ``bot_uttered`` events Rasa's own socket.io channel sends ({text},
{text, quick_replies}, custom json alone). A page on another origin loads its UMD bundle, pointed at a
real gateway with a fake Rasa; headless Chromium types a question and clicks a clarification button.
Our own chat page, on the same wire format, still shows each answer once with its article and source.

The bundle comes from the npm registry through ``scripts/webchat.sh`` (into var/npm/, outside git); when
it cannot be fetched the test fails in CI and is skipped elsewhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from aiohttp import web

from tests.bot.browser.conftest import Servers
from tests.browser import TIMEOUT_MS
from tests.ci import unavailable

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "var" / "npm" / "rasa-webchat-1.0.1" / "package" / "lib" / "index.js"

GREETING = "Hello, I am TaxGuide. Ask me about your taxes."
CLARIFY_TEXT = "Which deduction do you mean?"
TOPICS = [("Children's education deduction", "iit-children-education"),
          ("Housing loan interest deduction", "iit-housing-loan"),
          ("Continuing education deduction", "iit-continuing-education")]
CLARIFY_BUTTONS = [{"title": title, "payload": '/ask_tax_question{"article_id": "%s"}' % article}
                   for title, article in TOPICS]
ANSWER_TEXT = "Each child in full-time education gives a deduction of 2,000 yuan a month."
SOURCE = {
    "authority": "State Council",
    "document": "Interim Measures for Special Additional Deductions (Guo Fa [2018] No. 41)",
    "effective_date": "2023-01-01",
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A tax office site embedding rasa-webchat</title>
<link rel="icon" href="data:,"></head>
<body>
<script src="/webchat.js"></script>
<script>
  window.WebChat.default({
    socketUrl: new URLSearchParams(window.location.search).get("gateway"),
    socketPath: "/socket.io/",
    initPayload: "/greet",
    customData: { language: "en" },
    embedded: true,
    title: "TaxGuide",
    params: { storage: "session" }
  }, null);
</script>
</body></html>
"""


def fake_rasa_reply(sender: str, message: str) -> List[Dict[str, Any]]:
    """Rasa's REST channel answers, shaped as our actions send them (text, buttons, custom)."""
    if message == "/greet":
        return [{"recipient_id": sender, "text": GREETING, "custom": {"kind": "smalltalk"}}]
    if message.startswith("/ask_tax_question"):
        return [{"recipient_id": sender, "text": ANSWER_TEXT,
                 "custom": {"kind": "answer", "article_id": "iit-children-education", "confidence": 1.0,
                            "sources": [SOURCE]}}]
    if "deduction" in message.lower():
        return [{"recipient_id": sender, "text": CLARIFY_TEXT, "buttons": CLARIFY_BUTTONS,
                 "custom": {"kind": "clarify", "confidence": 0.41, "article_id": None, "sources": [],
                            "options": [{"article_id": article, "title": title} for title, article in TOPICS]}}]
    return [{"recipient_id": sender, "text": "Echo: " + message}]


def webchat_bundle() -> Path:
    """rasa-webchat's UMD bundle, fetched by scripts/webchat.sh when it is not there yet."""
    if not BUNDLE.is_file():
        done = subprocess.run(["bash", str(ROOT / "scripts" / "webchat.sh")], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0 or not BUNDLE.is_file():
            unavailable(f"rasa-webchat 1.0.1 could not be fetched (bash scripts/webchat.sh): {done.stderr.strip()}")
    return BUNDLE


@pytest.fixture(scope="module")
def site() -> Iterator[Tuple[str, Path]]:
    """Another origin's page loading rasa-webchat: (its base URL, the bundle)."""
    bundle = webchat_bundle()

    def app() -> web.Application:
        async def page(_request: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

        async def script(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(bundle, headers={"Content-Type": "application/javascript"})

        made = web.Application()
        made.router.add_get("/", page)
        made.router.add_get("/webchat.js", script)
        return made

    servers = Servers()
    try:
        _, port = servers.serve(app)
        yield f"http://127.0.0.1:{port}", bundle
    finally:
        servers.close()


@pytest.fixture(scope="module")
def stack(start_stack, site):
    """The gateway, allowing the widget's origin (CORS_ALLOWED_ORIGINS), with the fake Rasa above."""
    return start_stack(fake_rasa_reply, env={"CORS_ALLOWED_ORIGINS": site[0]})


def test_rasa_webchat_shows_replies_and_sends_button_payloads(site, stack, pages) -> None:
    expect = pages.expect
    page = pages.new(viewport={"width": 1000, "height": 800}, locale="en-US")
    # the widget's stylesheet imports its web font from Google; the test runs offline: an empty stylesheet
    page.route(re.compile(r"^https://fonts\.(googleapis|gstatic)\.com/"),
               lambda route: route.fulfill(status=200, content_type="text/css", body=""))
    page.goto(f"{site[0]}/?gateway={stack.base}")

    # the widget's first payload gets a plain text reply (its custom json comes alone and is not shown)
    expect(page.locator(".rw-response", has_text=GREETING)).to_have_count(1, timeout=TIMEOUT_MS)

    box = page.locator("textarea.rw-new-message, input.rw-new-message").first
    box.fill("How much is the deduction?")
    box.press("Enter")
    expect(page.locator(".rw-client", has_text="How much is the deduction?")).to_be_visible()
    expect(page.locator(".rw-response", has_text=CLARIFY_TEXT)).to_be_visible()
    replies = page.locator(".rw-reply")
    expect(replies).to_have_count(3)
    for i, button in enumerate(CLARIFY_BUTTONS):
        expect(replies.nth(i)).to_have_text(button["title"])

    replies.nth(0).click()
    expect(page.locator(".rw-response", has_text=ANSWER_TEXT)).to_be_visible()
    sent = [m["message"] for m in stack.rasa.messages]
    assert CLARIFY_BUTTONS[0]["payload"] in sent, sent
    assert CLARIFY_BUTTONS[0]["title"] not in sent
    # nothing the gateway sent shows up as an empty or stray bubble (e.g. the custom json as "undefined")
    expect(page.locator(".rw-response")).to_have_count(3)
    expect(page.locator(".rw-conversation-container")).not_to_contain_text("undefined")


@pytest.fixture(scope="module")
def own_stack(start_stack):
    """The gateway serving our own chat page (same origin: no CORS_ALLOWED_ORIGINS)."""
    return start_stack(fake_rasa_reply)


def test_our_chat_page_joins_the_custom_json_to_its_message(own_stack, pages) -> None:
    """The custom json arrives after the text: our page shows one message with its article and source."""
    stack = own_stack
    expect = pages.expect
    page = pages.new(viewport={"width": 1000, "height": 800}, locale="en-US")
    page.goto(stack.base + "/")
    page.wait_for_selector("body[data-history='loaded'][data-connection='connected'][data-session]",
                           timeout=TIMEOUT_MS)
    box = page.get_by_label("Your question")
    box.fill("How much is the deduction?")
    box.press("Enter")

    clarify = page.locator("#messages li.msg--bot[data-kind='clarify']")
    expect(clarify).to_have_count(1)
    expect(clarify).to_contain_text(CLARIFY_TEXT)
    expect(clarify.locator("button.choice-btn")).to_have_count(3)
    clarify.locator("button.choice-btn").nth(0).click()

    answer = page.locator("#messages li.msg--bot[data-kind='answer']")
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-article-id", "iit-children-education")
    expect(answer).to_contain_text(ANSWER_TEXT)
    expect(answer.locator(".sources")).to_contain_text(SOURCE["document"])
    expect(answer.locator(".sources time")).to_have_text(SOURCE["effective_date"])
    # one message per reply: the welcome, the clarification and the answer; no bubble without text
    expect(page.locator("#messages li.msg--bot")).to_have_count(3)
    texts = page.locator("#messages li.msg--bot .msg-text").all_inner_texts()
    assert all(t.strip() for t in texts), texts
