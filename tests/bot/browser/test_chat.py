"""Browser test of the taxpayer web chat page (bot/static) served by the real gateway with a fake Rasa.

At desktop (1280x800) and phone (375x740) sizes the test asks a tax question and
sees the cited answer, asks an ambiguous one and clicks a clarification button,
reloads and sees the history, and checks that markup typed by the taxpayer is
shown as literal text. Screenshots are saved to /tmp/taxguide/.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest

from tests.browser import TIMEOUT_MS, screenshot_path

IIT_SOURCE = {
    "authority": "Standing Committee of the National People's Congress",
    "document": "Individual Income Tax Law of the PRC, Article 6",
    "effective_date": "2019-01-01",
}
CHILD_SOURCE = {
    "authority": "State Council",
    "document": "Interim Measures for Special Additional Deductions (Guo Fa [2018] No. 41)",
    "effective_date": "2023-01-01",
}
TAX_WORDS = ("tax", "vat", "invoice", "income", "iit", "fapiao")

CLARIFY_BUTTONS = [
    {"title": "Children's education deduction", "payload": '/choose_topic{"article_id": "iit-children-education"}'},
    {"title": "Housing loan interest deduction", "payload": '/choose_topic{"article_id": "iit-housing-loan"}'},
    {"title": "Continuing education deduction", "payload": '/choose_topic{"article_id": "iit-continuing-education"}'},
]


def fake_rasa_reply(sender: str, message: str) -> List[Dict[str, Any]]:
    """What the fake Rasa answers, in the REST channel's shape (a list of bot messages)."""
    lower = message.lower()
    if lower.startswith("/choose_topic"):
        return [
            {
                "recipient_id": sender,
                "text": "Each child in full-time education gives a deduction of 2,000 yuan a month.",
                "custom": {
                    "kind": "answer",
                    "article_id": "iit-children-education",
                    "confidence": 0.93,
                    "sources": [CHILD_SOURCE],
                },
            }
        ]
    if "deduction" in lower:
        return [
            {
                "recipient_id": sender,
                "text": "Which deduction do you mean?",
                "buttons": CLARIFY_BUTTONS,
                "custom": {
                    "kind": "clarify",
                    "confidence": 0.41,
                    "candidates": ["iit-children-education", "iit-housing-loan", "iit-continuing-education"],
                },
            }
        ]
    if any(w in lower for w in TAX_WORDS):
        return [
            {
                "recipient_id": sender,
                "text": "The basic deduction for individual income tax is 60,000 yuan a year (5,000 yuan a month).",
                "custom": {
                    "kind": "answer",
                    "article_id": "iit-basic-deduction",
                    "confidence": 0.91,
                    "sources": [IIT_SOURCE],
                },
            }
        ]
    return [{"recipient_id": sender, "text": "Echo: " + message}]


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(fake_rasa_reply)


def wait_ready(page) -> None:
    page.wait_for_selector("body[data-history='loaded'][data-connection='connected'][data-session]", timeout=TIMEOUT_MS)


def ask(page, text: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(text)
    box.press("Enter")


def bot_messages(page, kind: str):
    return page.locator(f"#messages li.msg--bot[data-kind='{kind}']")


def assert_no_horizontal_overflow(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page scrolls sideways: {widths}"


# --------------------------------------------------------------------------- #
# The test                                                                     #
# --------------------------------------------------------------------------- #

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
TAX_QUESTION = "How much income is free of individual income tax each month?"
XSS = "<script>alert(1)</script><b>x</b>"


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_chat_page_end_to_end(stack, pages, size):
    expect = pages.expect
    page = pages.new(viewport=VIEWPORTS[size], locale="en-US")
    dialogs: List[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    bad_responses: List[str] = []
    page.on("response", lambda r: bad_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    if size == "desktop":  # step 7 restarts the gateway: the page's connection attempts fail meanwhile
        pages.allow("ERR_CONNECTION_REFUSED", "WebSocket")
    page.goto(stack.base + "/")
    wait_ready(page)
    expect(page.locator("#messages li.msg--welcome")).to_have_count(1)
    session_id = page.get_attribute("body", "data-session")
    assert session_id

    # Accessible names: the input has its label, the send button its text.
    expect(page.get_by_label("Your question")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")

    # 1. A tax question gets an answer with its source and effective date.
    ask(page, TAX_QUESTION)
    expect(page.locator("#messages li.msg--taxpayer").last).to_contain_text(TAX_QUESTION)
    answer = bot_messages(page, "answer").first
    expect(answer).to_contain_text("60,000 yuan")
    expect(answer.locator(".sources")).to_contain_text(IIT_SOURCE["authority"])
    expect(answer.locator(".sources")).to_contain_text(IIT_SOURCE["document"])
    expect(answer.locator(".sources time")).to_have_text(IIT_SOURCE["effective_date"])
    expect(answer.locator(".sources")).to_contain_text("Effective")
    expect(page.locator("#typing")).to_be_hidden()

    # 2. An ambiguous question gets three topic buttons; clicking one sends its payload
    #    and shows its title as the taxpayer's message.
    ask(page, "How much is the deduction?")
    clarify = bot_messages(page, "clarify").first
    expect(clarify).to_contain_text("Which deduction do you mean?")
    buttons = clarify.locator("button.choice-btn")
    expect(buttons).to_have_count(3)
    expect(buttons.nth(0)).to_have_text(CLARIFY_BUTTONS[0]["title"])
    buttons.nth(0).click()
    expect(page.locator("#messages li.msg--taxpayer").last).to_have_text(
        re.compile(re.escape(CLARIFY_BUTTONS[0]["title"]))
    )
    cited = bot_messages(page, "answer").nth(1)
    expect(cited).to_contain_text("2,000 yuan a month")
    expect(cited.locator(".sources")).to_contain_text(CHILD_SOURCE["document"])
    expect(cited.locator(".sources time")).to_have_text(CHILD_SOURCE["effective_date"])
    expect(buttons.nth(0)).to_be_disabled()
    assert any(e["message"] == CLARIFY_BUTTONS[0]["payload"] for e in stack.rasa.messages), stack.rasa.messages
    assert not any(e["message"] == CLARIFY_BUTTONS[0]["title"] for e in stack.rasa.messages)

    # 3. A reload restores the same session's history, sources included.
    page.reload()
    wait_ready(page)
    assert page.get_attribute("body", "data-session") == session_id
    expect(page.locator("#messages li.msg--welcome")).to_have_count(0)
    expect(page.locator("#messages li.msg--taxpayer")).to_have_count(3)
    expect(page.locator("#messages")).to_contain_text(TAX_QUESTION)
    expect(page.locator("#messages")).to_contain_text("Which deduction do you mean?")
    expect(bot_messages(page, "answer")).to_have_count(2)
    expect(bot_messages(page, "answer").nth(1).locator(".sources")).to_contain_text(CHILD_SOURCE["authority"])
    expect(bot_messages(page, "answer").nth(0).locator(".sources time")).to_have_text(IIT_SOURCE["effective_date"])
    # the taxpayer's click is shown by its title, not the raw payload
    expect(page.locator("#messages li.msg--taxpayer").nth(2)).to_contain_text(CLARIFY_BUTTONS[0]["title"])
    expect(page.locator("#messages")).not_to_contain_text("/choose_topic")

    # 4. Markup typed by the taxpayer is literal text: no element, no dialog.
    ask(page, XSS)
    mine = page.locator("#messages li.msg--taxpayer").last.locator(".msg-text")
    expect(mine).to_have_text(XSS)
    echo = page.locator("#messages li.msg--bot").last.locator(".msg-text")
    expect(echo).to_have_text("Echo: " + XSS)
    assert page.locator("#messages b").count() == 0
    assert page.locator("#messages script").count() == 0
    assert page.evaluate("() => document.querySelectorAll('body b, body script:not([src])').length") == 0
    page.wait_for_timeout(300)
    assert dialogs == []

    # 5. Language switch changes the UI strings, not the conversation.
    page.get_by_role("button", name="中文", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#send-btn")).to_have_text("发送")
    expect(page.get_by_label("您的问题")).to_be_visible()
    expect(bot_messages(page, "answer").first.locator(".source-label")).to_have_text("来源：")
    page.screenshot(path=screenshot_path(f"chat-{size}-zh.png"))
    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.locator("#send-btn")).to_have_text("Send")

    # 6. Keyboard: the message box is reachable with Tab and shows a focus ring.
    page.locator("body").focus()
    reached = False
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "message-input":
            reached = True
            break
    assert reached, "message box not reachable with Tab"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline

    assert_no_horizontal_overflow(page)
    page.locator("#message-input").blur()
    page.evaluate("() => { const c = document.getElementById('chat'); c.scrollTop = c.scrollHeight; }")
    page.screenshot(path=screenshot_path(f"chat-{size}.png"))

    # 7. (desktop) Connection drops: banner shown, automatic reconnect, chat goes on.
    if size == "desktop":
        stack.restart_gateway()
        expect(page.locator("#conn-banner")).to_be_visible()
        expect(page.locator("#conn-banner")).to_contain_text("Reconnecting")
        page.screenshot(path=screenshot_path("chat-desktop-disconnected.png"))
        expect(page.locator("#conn-banner")).to_be_hidden(timeout=30_000)
        expect(page.locator("body")).to_have_attribute("data-connection", "connected")
        ask(page, "hello again")
        expect(page.locator("#messages li.msg--bot").last.locator(".msg-text")).to_have_text("Echo: hello again")
        assert page.get_attribute("body", "data-session") == session_id

    assert bad_responses == [], bad_responses
