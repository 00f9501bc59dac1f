"""The handoff request action announces the handoff with the payload the gateway queues on.

A real Tracker and CollectingDispatcher, as Rasa's own demos test their actions; the last test calls the
action the way Rasa does, through the action server's executor.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.handoff import ActionRequestHandoff

#: What the taxpayer reads when the handoff is announced, whatever the time: the gateway words the
#: outcome (queue position, or service hours and the offline message) once.
ANNOUNCEMENT = {
    "en": "I'll connect you with a tax officer. One moment while I check who is available.",
    "zh": "我将为您转接税务人员，请稍候，正在查询可接待的人员。",
}


def tracker_state(text: str, article: Optional[str] = None, language_slot: Optional[str] = None) -> Dict[str, Any]:
    message = {"text": text, "intent": {"name": "request_human", "confidence": 0.95}, "entities": []}
    return {
        "sender_id": "taxpayer-1",
        "slots": {"failed_turns": 1, "last_article_id": article, "language": language_slot},
        "latest_message": message,
        "events": [{"event": "user", "text": text, "parse_data": message}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }


def tracker(text: str, article: Optional[str] = None, language_slot: Optional[str] = None) -> Tracker:
    return Tracker.from_dict(tracker_state(text, article, language_slot))


async def test_announces_handoff_with_topic_and_language() -> None:
    dispatcher = CollectingDispatcher()
    action = ActionRequestHandoff()
    events = await action.run(dispatcher, tracker("我要人工客服", "proc-tax-audit"), {})
    assert action.name() == "action_request_handoff"
    (message,) = dispatcher.messages
    custom = message["custom"]
    assert custom == {"kind": "handoff", "reason": "requested", "topic": "proc-tax-audit", "language": "zh"}
    assert "税务人员" in message["text"] and message["text"] == ANNOUNCEMENT["zh"]
    # the gateway pauses Rasa when an officer claims the conversation, not the action
    assert events == [SlotSet("failed_turns", 0)]
    assert ConversationPaused() not in events


async def test_the_announcement_leaves_the_service_hours_to_the_gateway() -> None:
    # the gateway decides whether officers are available and says the hours once, so the action never does
    dispatcher = CollectingDispatcher()
    await ActionRequestHandoff().run(dispatcher, tracker("can I speak to someone"), {})
    (message,) = dispatcher.messages
    assert message["text"] == ANNOUNCEMENT["en"]
    assert "09:00" not in message["text"] and "Mon" not in message["text"]
    assert message["custom"] == {"kind": "handoff", "reason": "requested", "topic": None, "language": "en"}


async def test_a_message_without_words_is_answered_in_the_conversations_language() -> None:
    dispatcher = CollectingDispatcher()
    await ActionRequestHandoff().run(dispatcher, tracker("/request_human", language_slot="zh"), {})
    (message,) = dispatcher.messages
    assert message["text"] == ANNOUNCEMENT["zh"] and message["custom"]["language"] == "zh"


async def test_rasa_calls_the_registered_action_through_the_executor() -> None:
    executor = ActionExecutor()
    executor.register_action(ActionRequestHandoff)
    response = await executor.run(
        {"next_action": "action_request_handoff", "tracker": tracker_state("转人工", "proc-tax-audit"), "domain": {}}
    )
    assert response is not None
    assert response["events"] == [{"event": "slot", "timestamp": None, "name": "failed_turns", "value": 0}]
    (reply,) = response["responses"]
    assert reply["text"] == ANNOUNCEMENT["zh"]
    assert reply["custom"] == {"kind": "handoff", "reason": "requested", "topic": "proc-tax-audit", "language": "zh"}
