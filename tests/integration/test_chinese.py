"""TaxGuide in Chinese, end to end: gateway -> real Rasa (trained model) -> action server -> knowledge base.

Embedded default (SQLite, in-process state). Every reply to a Chinese message is Chinese; the language
follows each message, and the page's preference decides for messages without one.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml

from scripts import stack
from tests.browser import Pages, screenshot_path

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole product in its embedded default, on free ports."""
    env = stack.environment()
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'taxguide.db'}",
        SESSION_SECRET="integration-test-secret",
        HANDOFF_ALWAYS_OPEN="true",
        RATE_LIMIT_SENDER_BURST="100",
        RATE_LIMIT_IP_BURST="1000",
    )
    env.pop("REDIS_URL", None)
    with stack.running(env, gateway=True) as ports:
        yield f"http://127.0.0.1:{ports.gateway}"


def say(gateway: str, sender: str, text: str, language: Optional[str] = None) -> List[Dict[str, Any]]:
    body: Dict[str, Any] = {"sender": sender, "message": text}
    if language:
        body["metadata"] = {"language": language}
    request = urllib.request.Request(
        f"{gateway}/webhooks/rest/webhook", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def kinds(messages: List[Dict[str, Any]]) -> List[str]:
    return [str((m.get("custom") or {}).get("kind")) for m in messages]


def chinese(messages: List[Dict[str, Any]]) -> bool:
    texts = [m["text"] for m in messages if m.get("text")]
    return bool(texts) and all(CJK.search(t) for t in texts)


def sender() -> str:
    return f"zh-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    "text, article",
    [
        ("个税起征点是多少", "iit-basic-deduction"),
        ("小规模纳税人月销售额多少以内免增值税", "vat-small-scale-exemption"),
        ("灵活就业人员养老保险怎么交", "social-flexible-pension"),
        ("房子满两年卖掉要交增值税吗", "vat-individual-home-sale"),
    ],
)
def test_a_chinese_question_gets_a_cited_chinese_answer(gateway: str, text: str, article: str) -> None:
    replies = say(gateway, sender(), text)
    answers = [m for m in replies if (m.get("custom") or {}).get("kind") == "answer"]
    assert answers, replies
    assert answers[0]["custom"]["article_id"] == article
    assert "来源：" in answers[0]["text"] and "起施行" in answers[0]["text"] and chinese(answers)


@pytest.mark.parametrize(
    "text, kind",
    [("你好", "smalltalk"), ("谢谢", "smalltalk"), ("你是机器人吗", "smalltalk"), ("你能做什么", "smalltalk"),
     ("明天北京天气怎么样", "out_of_scope"), ("股票怎么买", "out_of_scope")],
)
def test_small_talk_and_off_topic_are_answered_in_chinese(gateway: str, text: str, kind: str) -> None:
    replies = say(gateway, sender(), text)
    assert kind in kinds(replies) and chinese(replies), replies


@pytest.mark.parametrize("text", ["转人工", "我要找工作人员", "退税被驳回两次了 我要找人看看我的情况"])
def test_asking_for_a_person_in_chinese_is_handed_off_in_chinese(gateway: str, text: str) -> None:
    replies = say(gateway, sender(), text)
    assert any(k.startswith("handoff") for k in kinds(replies)), replies
    assert chinese(replies)


def test_the_language_follows_each_message_and_the_page_decides_for_none(gateway: str) -> None:
    conversation = sender()
    english = say(gateway, conversation, "how much can I earn before income tax kicks in")
    assert "Source:" in " ".join(m.get("text", "") for m in english)
    zh = say(gateway, conversation, "个税专项附加扣除有哪些")
    assert chinese(zh)
    payload = '/ask_tax_question{"article_id": "iit-basic-deduction"}'
    assert chinese(say(gateway, conversation, payload, language="zh"))
    assert not any(CJK.search(m.get("text", "")) for m in say(gateway, conversation, payload, language="en"))


def test_a_calculator_runs_in_chinese_with_chinese_amounts(gateway: str) -> None:
    conversation = sender()
    result = say(gateway, conversation, "帮我算一下年终奖2.4万要交多少个税")
    calculations = [m for m in result if (m.get("custom") or {}).get("kind") == "calculation"]
    if not calculations:  # the form asked for the amount: answer in Chinese notation
        assert chinese(result), result
        result = say(gateway, conversation, "两万四")
        calculations = [m for m in result if (m.get("custom") or {}).get("kind") == "calculation"]
    assert calculations, result
    assert chinese(result)
    assert "720" in " ".join(m.get("text", "") for m in result)  # 24,000 x 3%


def test_a_chinese_calculation_can_be_cancelled(gateway: str) -> None:
    conversation = sender()
    asked = say(gateway, conversation, "帮我估算一下年度汇算退税")
    assert "form" in kinds(asked) and chinese(asked), asked
    cancelled = say(gateway, conversation, "算了")
    assert chinese(cancelled), cancelled
    assert [(m.get("custom") or {}).get("status") for m in cancelled] == ["cancelled"], cancelled


def test_small_talk_dev_set_through_the_bot(gateway: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Small talk written independently of the training data: the right kind of reply for most lines."""
    lines = yaml.safe_load((ROOT / "tests" / "data" / "smalltalk_dev.yml").read_text(encoding="utf-8"))["lines"]
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    expected = {"greet": "utter_greet", "goodbye": "utter_goodbye", "thanks": "utter_thanks",
                "bot_challenge": "utter_iamabot", "ask_capabilities": "utter_capabilities"}
    right: Dict[str, List[bool]] = {"en": [], "zh": []}
    misses = []
    for line in lines:
        replies = say(gateway, sender(), line["text"])
        if line["intent"] == "request_human":
            ok = any(k.startswith("handoff") for k in kinds(replies))
        else:
            wanted = {v["text"] for v in responses[expected[line["intent"]]]}
            ok = any(m.get("text") in wanted for m in replies)
        right[line["lang"]].append(ok)
        if not ok:
            misses.append((line["text"], line["intent"], kinds(replies)))
    with capsys.disabled():
        for language, hits in right.items():
            print(f"\nsmall talk {language}: {sum(hits)}/{len(hits)} = {sum(hits) / len(hits):.3f}")
    for language, hits in right.items():
        assert sum(hits) / len(hits) >= 0.95, misses


# --------------------------------------------------------------------------- #
# The phone-sized page in Chinese, against the real stack                      #
# --------------------------------------------------------------------------- #

# Latin words a Chinese page may show: the product's name, the language switch, app names.
ALLOWED_LATIN = {"TaxGuide", "EN", "App", "APP", "IIT"}


def test_the_phone_page_in_chinese(gateway: str, pages: Pages) -> None:
    """Ask in Chinese, click a clarify button, run a calculator with 万 amounts, ask for a person;
    every visible string is Chinese."""
    expect = pages.expect
    expect.set_options(timeout=30_000)
    page = pages.new(viewport={"width": 375, "height": 740}, locale="zh-CN")
    page.goto(gateway)
    page.wait_for_selector("body[data-history='loaded'][data-connection='connected'][data-session]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    box = page.locator("#message-input")

    def ask(text: str) -> None:
        box.fill(text)
        box.press("Enter")

    def bots(kind: str):  # type: ignore[no-untyped-def]
        return page.locator(f"#messages li.msg--bot[data-kind='{kind}']")

    ask("个税起征点是多少")
    answer = bots("answer").first
    expect(answer).to_contain_text("5000元")
    expect(answer.locator(".sources")).to_contain_text("个人所得税法")

    ask("税率")
    clarify = bots("clarify").first
    expect(clarify).to_contain_text("请问您想了解的是下面哪个问题")
    buttons = clarify.locator("button.choice-btn")
    expect(buttons).to_have_count(3)
    title = buttons.nth(0).inner_text()
    assert CJK.search(title), title
    buttons.nth(0).click()
    expect(bots("answer")).to_have_count(2)

    ask("帮我算一下年终奖两万四要交多少税")
    expect(bots("calculation")).to_have_count(1)
    expect(page.locator("#messages")).to_contain_text("720")

    ask("转人工")
    handoff = page.locator("#messages li.msg--bot[data-kind^='handoff']").first
    expect(handoff).to_contain_text("税务人员")

    page.screenshot(path=screenshot_path("chat-zh-phone.png"), full_page=True)
    visible = page.evaluate("() => document.body.innerText")
    latin = {word for word in re.findall(r"[A-Za-z]{2,}", visible)} - ALLOWED_LATIN
    assert not latin, f"English on the Chinese page: {sorted(latin)}"
