"""The knowledge action with a real Tracker and CollectingDispatcher, over the real knowledge base."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import ActionAnswerKnowledge


def make_tracker(text: str, intent: str = "ask_tax_question", entities: Optional[List[Dict[str, Any]]] = None,
                 failed_turns: float = 0) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []}
    return Tracker(
        sender_id="taxpayer-1",
        slots={"failed_turns": failed_turns, "last_article_id": None},
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
    message, _ = await run(action, make_tracker('/ask_tax_question{"article_id": "no-such-article"}', entities=entities))
    assert message["custom"]["kind"] == "fallback"
