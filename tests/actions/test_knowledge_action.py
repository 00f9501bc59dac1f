"""The knowledge action with a real Tracker and CollectingDispatcher, over the real knowledge base."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import ActionAnswerKnowledge


def make_tracker(text: str, intent: str = "ask_tax_question", entities: Optional[List[Dict[str, Any]]] = None,
                 failed_turns: float = 0, language: str = "en", metadata: Optional[Dict[str, Any]] = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or [],
               "metadata": metadata or {}}
    return Tracker(
        sender_id="taxpayer-1",
        slots={"failed_turns": failed_turns, "last_article_id": None, "language": language},
        latest_message=message,
        events=[{"event": "user", "text": text, "parse_data": message}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.fixture
def action(knowledge_service) -> ActionAnswerKnowledge:  # type: ignore[no-untyped-def]
    return ActionAnswerKnowledge(knowledge_service)


async def run(action: ActionAnswerKnowledge, tracker: Tracker):  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    assert len(dispatcher.messages) == 1
    return dispatcher.messages[0], events


async def test_answer_carries_text_source_and_custom_payload(action: ActionAnswerKnowledge) -> None:
    message, events = await run(action, make_tracker("how much can I earn before income tax kicks in"))
    custom = message["custom"]
    assert custom["kind"] == "answer" and custom["article_id"] == "iit-basic-deduction"
    assert 0.45 <= custom["confidence"] <= 1.0
    source = custom["sources"][0]
    assert source["authority"] and source["document"] and source["effective_date"] == "2019-01-01"
    assert "60,000" in message["text"] and "Source:" in message["text"] and "effective 2019-01-01" in message["text"]
    assert SlotSet("last_article_id", "iit-basic-deduction") in events
    json.dumps(message)  # everything a client receives is JSON


async def test_ambiguous_question_offers_three_buttons_that_answer_directly(action: ActionAnswerKnowledge) -> None:
    message, _ = await run(action, make_tracker("deduction"))
    assert message["custom"]["kind"] == "clarify"
    buttons = message["buttons"]
    assert len(buttons) == 3
    chosen = buttons[0]["payload"]
    assert chosen.startswith("/ask_tax_question{")
    article_id = json.loads(chosen[len("/ask_tax_question"):])["article_id"]
    entities = [{"entity": "article_id", "value": article_id}]
    answer, _ = await run(action, make_tracker(chosen, entities=entities))
    assert answer["custom"]["kind"] == "answer" and answer["custom"]["article_id"] == article_id
    assert answer["custom"]["confidence"] == 1.0


async def test_off_topic_gets_polite_out_of_scope_and_no_article(action: ActionAnswerKnowledge) -> None:
    message, _ = await run(action, make_tracker("find me a flight to Chengdu"))
    assert message["custom"]["kind"] == "out_of_scope"
    assert message["custom"]["article_id"] is None and message["custom"]["sources"] == []
    assert "12366" in message["text"]


async def test_not_understood_twice_counts_failed_turns_and_offers_a_person(action: ActionAnswerKnowledge) -> None:
    first, events = await run(action, make_tracker("blorp zzzt qwerty", intent="nlu_fallback"))
    assert first["custom"]["kind"] == "fallback" and SlotSet("failed_turns", 1) in events
    second, events = await run(action, make_tracker("blorp zzzt qwerty", intent="nlu_fallback", failed_turns=1))
    assert SlotSet("failed_turns", 2) in events
    assert "agent" in second["text"] and "12366" in second["text"]


async def test_an_answer_resets_the_failure_count(action: ActionAnswerKnowledge) -> None:
    _, events = await run(action, make_tracker("vat rate for consulting services", failed_turns=1))
    assert SlotSet("failed_turns", 0) in events


async def test_unknown_button_article_falls_back_to_search(action: ActionAnswerKnowledge) -> None:
    entities = [{"entity": "article_id", "value": "no-such-article"}]
    tracker = make_tracker('/ask_tax_question{"article_id": "no-such-article"}', entities=entities)
    message, _ = await run(action, tracker)
    assert message["custom"]["kind"] == "fallback"


async def test_a_chinese_question_gets_a_chinese_answer_with_the_chinese_source(action: ActionAnswerKnowledge) -> None:
    message, _ = await run(action, make_tracker("个税起征点是多少 一个月挣多少才要交税"))
    custom = message["custom"]
    assert custom["kind"] == "answer" and custom["article_id"] == "iit-basic-deduction"
    assert custom["language"] == "zh" and "6万" in message["text"] or "60000" in message["text"]
    assert "来源：" in message["text"] and "2019-01-01起施行" in message["text"]
    document = custom["sources"][0]["document"]
    assert document.startswith("《中华人民共和国个人所得税法》") or "个人所得税法" in document
    assert "Source:" not in message["text"]


async def test_mixed_chinese_and_english_is_answered_in_chinese(action: ActionAnswerKnowledge) -> None:
    message, _ = await run(action, make_tracker("IIT 汇算 deadline 是哪天"))
    assert message["custom"]["language"] == "zh"
    assert message["custom"]["kind"] in ("answer", "clarify")
    reconciliation = ("iit-annual-reconciliation", "iit-reconciliation-missed-deadline")
    if message["custom"]["kind"] == "answer":
        assert message["custom"]["article_id"] in reconciliation
    else:
        assert any(article in b["payload"] for b in message["buttons"] for article in reconciliation)
        assert message["text"].startswith("为了准确回答") and all(not b["title"].isascii() for b in message["buttons"])


async def test_a_button_without_language_follows_the_page_preference(action: ActionAnswerKnowledge) -> None:
    payload = '/ask_tax_question{"article_id": "vat-small-scale-exemption"}'
    entities = [{"entity": "article_id", "value": "vat-small-scale-exemption"}]
    zh, _ = await run(action, make_tracker(payload, entities=entities, metadata={"language": "zh"}))
    assert "小规模纳税人" in zh["text"] and zh["custom"]["title"] == zh["custom"]["title"].strip()
    en, _ = await run(action, make_tracker(payload, entities=entities, metadata={"language": "en"}))
    assert "small-scale" in en["text"].lower()
    slot_only, _ = await run(action, make_tracker(payload, entities=entities, language="zh"))
    assert "来源：" in slot_only["text"]


async def test_chinese_off_topic_and_clarify_are_chinese(action: ActionAnswerKnowledge) -> None:
    off, _ = await run(action, make_tracker("明天北京天气怎么样"))
    assert off["custom"]["kind"] == "out_of_scope" and "12366" in off["text"] and "抱歉" in off["text"]
    fallback, _ = await run(action, make_tracker("啊啊啊", intent="nlu_fallback", failed_turns=1))
    assert fallback["custom"]["kind"] == "fallback" and "转人工" in fallback["text"]


@pytest.mark.parametrize(
    "today, kind",
    [(dt.date(2026, 12, 1), "answer"), (dt.date(2027, 12, 31), "answer"), (dt.date(2028, 1, 1), "expired")],
)
async def test_a_temporary_policy_is_never_served_as_current_after_it_ends(
    knowledge_service, today: dt.date, kind: str  # type: ignore[no-untyped-def]
) -> None:
    action = ActionAnswerKnowledge(knowledge_service, clock=lambda: today)
    payload = '/ask_tax_question{"article_id": "iit-annual-bonus"}'
    entities = [{"entity": "article_id", "value": "iit-annual-bonus"}]
    for language, ended in (("en", "has ended"), ("zh", "到期停止执行")):
        message, _ = await run(action, make_tracker(payload, entities=entities, metadata={"language": language}))
        assert message["custom"]["kind"] == kind
        if kind == "expired":
            assert ended in message["text"] and "12366" in message["text"] and "2027-12-31" in message["text"]
            assert "body" not in message["custom"], "the ended rule's text is not served as current law"
        else:
            assert "2027" in message["text"]  # the answer says until when the relief applies


@pytest.mark.parametrize(
    "question, article_id", [("rent deduction", "iit-sad-housing-rent"), ("vat rate", "vat-rates")]
)
async def test_short_questions_whose_rankings_agree_are_answered_not_bounced(
    action: ActionAnswerKnowledge, question: str, article_id: str
) -> None:
    """Issue 10: a short question whose top article every ranking agrees on gets the answer, not buttons."""
    message, _ = await run(action, make_tracker(question))
    assert message["custom"]["kind"] == "answer" and message["custom"]["article_id"] == article_id


async def test_an_answer_offers_its_close_runner_up_as_a_related_button(action: ActionAnswerKnowledge) -> None:
    """The high-tech CIT rate is answered, and the general CIT rate, a close second, is one click away."""
    message, _ = await run(action, make_tracker("what is the income tax rate for high tech companies"))
    assert message["custom"]["kind"] == "answer" and message["custom"]["article_id"] == "cit-high-tech"
    assert "Related topics:" in message["text"]
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads == ['/ask_tax_question{"article_id": "cit-rate"}']
    assert message["buttons"][0]["title"] and message["buttons"][0]["title"].isascii()


async def test_a_clear_answer_has_no_related_buttons(action: ActionAnswerKnowledge) -> None:
    message, _ = await run(action, make_tracker("how much can I earn before income tax kicks in"))
    assert message["custom"]["kind"] == "answer" and not message["buttons"]
    assert "Related topics:" not in message["text"]


async def test_a_tax_question_the_nlu_called_out_of_scope_is_still_answered(action: ActionAnswerKnowledge) -> None:
    # social insurance for flexible workers is collected by the tax bureau; the NLU took it for off-topic
    message, events = await run(action, make_tracker("how do i pay medical insurance myself as a flexible worker",
                                                      intent="out_of_scope"))
    assert message["custom"]["kind"] == "answer" and message["custom"]["article_id"] == "social-flexible-medical"
    assert SlotSet("last_article_id", "social-flexible-medical") in events


async def test_out_of_scope_never_offers_topics_it_is_unsure_of(action: ActionAnswerKnowledge) -> None:
    # as a tax question "deduction" gets three topic buttons; called out of scope it gets none
    asked, _ = await run(action, make_tracker("deduction"))
    assert asked["custom"]["kind"] == "clarify"
    for text in ("deduction", "what's the weather in Beijing tomorrow"):
        message, _ = await run(action, make_tracker(text, intent="out_of_scope"))
        assert message["custom"]["kind"] == "out_of_scope" and not message.get("buttons"), text
