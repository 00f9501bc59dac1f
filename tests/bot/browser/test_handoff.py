"""Browser test of the live-agent handoff: a taxpayer page (bot/static) and an agent console page
(bot/static/agent) on the real gateway with a fake Rasa.

The taxpayer asks for a person; the agent sees the conversation appear live, claims it, they exchange
messages both ways, the agent searches the knowledge base and adds a note, returns the conversation to
the bot, and the bot answers the next tax question.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List

import pytest

from bot.sessions import SessionSigner
from tests.bot.browser.conftest import SESSION_SECRET
from tests.browser import TIMEOUT_MS, screenshot_path

PASSWORD = "browser-agent-pass"


def fake_rasa_reply(sender: str, message: str) -> List[Dict[str, Any]]:
    lower = message.lower()
    if "speak to someone" in lower or "agent please" in lower:
        return [{"recipient_id": sender,
                 "text": "I'll connect you with a tax officer. One moment while I check who is available.",
                 "custom": {"kind": "handoff", "reason": "requested", "topic": None, "language": "en",
                            "in_service_hours": True}}]
    if "tax" in lower:
        return [{"recipient_id": sender,
                 "text": "The basic deduction for individual income tax is 60,000 yuan a year (5,000 yuan a month).",
                 "custom": {"kind": "answer", "article_id": "iit-basic-deduction", "confidence": 0.91, "sources": [],
                            "title": "Basic deduction"}}]
    return [{"recipient_id": sender, "text": "Echo: " + message}]


@pytest.fixture(scope="module")
def stack(start_stack):
    from bot.handoff.policy import load_policy

    started = start_stack(fake_rasa_reply, policy=replace(load_policy(env={}), always_open=True))
    started.add_account("wang", PASSWORD, "agent", "Wang Li")
    return started


def test_taxpayer_and_agent_handoff(stack, pages):
    expect = pages.expect
    agent = pages.new(viewport={"width": 1280, "height": 900}, locale="en-US")
    taxpayer = pages.new(viewport={"width": 1000, "height": 800}, locale="en-US")

    # the agent signs in; the console goes live (websocket) with an empty queue
    agent.goto(stack.base + "/agent")
    agent.get_by_label("Username").fill("wang")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    agent.wait_for_selector("body[data-state='console'][data-connection='connected']", timeout=TIMEOUT_MS)
    expect(agent.locator("#queue-empty")).to_be_visible()

    # the taxpayer asks for a person and is told the queue position and expected wait
    taxpayer.goto(stack.base + "/")
    taxpayer.wait_for_selector("body[data-history='loaded'][data-connection='connected'][data-session]",
                               timeout=TIMEOUT_MS)
    sid = taxpayer.get_attribute("body", "data-session")
    ref = SessionSigner(SESSION_SECRET).conversation_id(sid)  # what the console shows: never the token
    box = taxpayer.get_by_label("Your question")
    box.fill("Can I speak to someone?")
    box.press("Enter")
    queued = taxpayer.locator("#messages li[data-kind='handoff_queued']")
    expect(queued).to_contain_text("number 1 in the queue")
    expect(queued.locator("button.choice-btn")).to_have_text("Cancel the request")
    expect(taxpayer.locator("#queue-status")).to_have_text("You are number 1 in the queue for a tax officer.")

    # it appears in the console without a reload, and the agent claims it
    card = agent.locator(f"#queue li[data-conversation-id='{ref}']")
    expect(card).to_contain_text("Asked for a person")
    card.get_by_role("button", name="Claim conversation about Can I speak to someone?").click()
    expect(agent.locator("body")).to_have_attribute("data-open-conversation", ref)
    expect(agent.locator("#transcript")).to_contain_text("Can I speak to someone?")
    expect(taxpayer.locator("#messages li[data-kind='handoff_claimed']")).to_contain_text("Wang Li")
    expect(taxpayer.locator("#queue-status")).to_be_hidden()

    # taxpayer -> agent (markup stays text)
    box.fill("My refund was <b>rejected</b>, why?")
    box.press("Enter")
    expect(agent.locator("#transcript li.from-taxpayer").last).to_have_text(
        "Taxpayer:My refund was <b>rejected</b>, why?")
    assert agent.locator("#transcript b").count() == 0

    # the agent searches the knowledge base, inserts an answer, and replies
    agent.get_by_label("Search articles").fill("refund rejected")
    agent.get_by_role("button", name="Search").click()
    expect(agent.locator("#kb-results li").first).to_be_visible()
    agent.locator("#kb-results .insert-btn").first.click()
    inserted = agent.get_by_label("Reply to the taxpayer").input_value()
    assert len(inserted) > 20
    agent.get_by_label("Reply to the taxpayer").fill("Hello, I am Wang from the tax office. Let me check your refund.")
    agent.get_by_role("button", name="Send").click()
    reply = taxpayer.locator("#messages li.msg--agent").last
    expect(reply).to_contain_text("Let me check your refund.")
    expect(taxpayer.locator("#typing")).to_be_hidden()

    agent.get_by_label("Internal note (not shown to the taxpayer)").fill("Refund rejected: bank account mismatch")
    agent.get_by_role("button", name="Add note").click()
    expect(agent.locator("#notes")).to_contain_text("bank account mismatch")
    agent.screenshot(path=screenshot_path("agent-console.png"))
    taxpayer.screenshot(path=screenshot_path("chat-with-agent.png"))

    # back to the bot; the bot answers the next tax question
    agent.get_by_role("button", name="Return to the bot").click()
    expect(taxpayer.locator("#messages li[data-kind='handoff_returned']")).to_be_visible()
    box.fill("How much income tax deduction do I get?")
    box.press("Enter")
    expect(taxpayer.locator("#messages li[data-kind='answer']").last).to_contain_text("60,000 yuan")
    assert taxpayer.locator("#messages").inner_text().count("bank account mismatch") == 0
    assert [e["event"] for e in stack.rasa.tracker_events] == ["pause", "resume"]
    assert {e["conversation_id"] for e in stack.rasa.tracker_events} == {ref}

    # the console in Chinese (texts from /i18n.js); the choice survives a reload
    agent.get_by_role("button", name="中文", exact=True).click()
    expect(agent.locator("#conv-info")).to_have_text("已转回机器人。")
    expect(agent.get_by_role("button", name="退出登录")).to_be_visible()
    expect(agent.locator("#queue-title")).to_contain_text("排队中")
    agent.reload()
    agent.wait_for_selector("body[data-state='console'][data-lang='zh']", timeout=TIMEOUT_MS)
    expect(agent.locator("#queue-empty")).to_have_text("目前无人排队。")
    expect(agent.get_by_label("在线状态")).to_be_visible()
    assert not any(e.get("message", "").startswith("My refund") for e in stack.rasa.messages)
