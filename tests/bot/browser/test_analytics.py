"""Browser test of satisfaction logging and the analyst dashboard, on the real gateway with a fake Rasa.

A taxpayer asks a question on the web chat, marks the answer helpful, says thanks, gets the rating
widget and rates the conversation 2 of 5 with a comment. An analyst signs in at /analytics, sees the
figures and charts, finds the low-rated conversation, opens its masked transcript and downloads the CSV.
Screenshots go to /tmp/taxguide/.
"""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from bot.sessions import SessionSigner
from tests.bot.browser.conftest import SESSION_SECRET
from tests.browser import screenshot_path

PASSWORD = "browser-analyst-pass"
THANKS = "You're welcome! Is there anything else about your taxes I can help with?"  # utter_thanks


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


@pytest.fixture(scope="module")
def stack(start_stack):
    started = start_stack(fake_rasa_reply)
    started.add_account("zhao", PASSWORD, "analyst", "Zhao Min")
    return started


def test_taxpayer_rates_and_analyst_finds_it(stack, pages):
    expect = pages.expect
    # ---------------------------------------------------------------- taxpayer
    tax = pages.new(viewport={"width": 375, "height": 740}, locale="en-US")
    tax.goto(stack.base + "/")
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
    tax.screenshot(path=screenshot_path("analytics-taxpayer-survey.png"), full_page=True)
    survey.get_by_role("button", name="Send rating").click()
    expect(tax.locator("li.msg--survey_thanks").last).to_contain_text("Thank you for telling us")
    session_id = tax.evaluate("() => localStorage.getItem('taxguide.session_id')")
    assert session_id and not any("/rate" in m["message"] for m in stack.rasa.messages)  # Rasa never saw it

    # ---------------------------------------------------------------- analyst
    page = pages.new(viewport={"width": 1280, "height": 900}, locale="en-US")
    page.goto(stack.base + "/analytics")
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
    page.screenshot(path=screenshot_path("analytics-dashboard.png"), full_page=True)

    ref = SessionSigner(SESSION_SECRET).conversation_id(session_id)  # the dashboard's reference, not the token
    low.locator(f"button[data-conversation='{ref}']").click()
    dialog = page.locator("#transcript")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("My phone is 138****5678")  # masked
    expect(dialog).to_contain_text("60,000 yuan")
    expect(dialog).to_contain_text("2 of 5")
    expect(dialog).to_contain_text("too vague for my case")
    assert "13812345678" not in dialog.inner_text()
    page.screenshot(path=screenshot_path("analytics-transcript.png"))
    page.get_by_role("button", name="Close").click()

    # the dashboard in Chinese (texts from /i18n.js), and Chinese by default for a Chinese browser
    page.get_by_role("button", name="中文", exact=True).click()
    expect(kpis).to_contain_text("自助解决率")
    expect(kpis).to_contain_text("转人工率")
    expect(page.locator("#status")).to_contain_text("共 1 个会话")
    expect(low).to_contain_text("评论")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(kpis).to_contain_text("Containment")
    zh_page = pages.new(locale="zh-CN")
    zh_page.goto(stack.base + "/analytics")
    expect(zh_page.get_by_role("heading", name="登录")).to_be_visible()
    expect(zh_page.get_by_label("用户名")).to_be_visible()

    href = page.locator("a.csv[data-section='low_rated']").get_attribute("href")
    resp = page.request.get(stack.base + href)
    assert resp.status == 200 and "too vague for my case" in resp.text() and ref in resp.text()
    anonymous = pages.new().request.get(stack.base + href)  # a fresh context: not signed in
    assert anonymous.status == 401
