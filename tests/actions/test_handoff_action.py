"""The handoff request action announces the handoff with the payload the gateway queues on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionRequestHandoff
from bot.handoff.policy import HandoffPolicy


def tracker(text: str, article: str | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": "request_human", "confidence": 0.95}, "entities": []}
    return Tracker("taxpayer-1", {"failed_turns": 1, "last_article_id": article}, message,
                   [{"event": "user", "text": text, "parse_data": message}], False, None, {}, "action_listen")


async def test_announces_handoff_with_topic_and_language() -> None:
    dispatcher = CollectingDispatcher()
    action = ActionRequestHandoff(replace(HandoffPolicy(), always_open=True))
    events = await action.run(dispatcher, tracker("我要人工客服", "proc-tax-audit"), {})
    assert action.name() == "action_request_handoff"
    (message,) = dispatcher.messages
    custom = message["custom"]
    assert custom["kind"] == "handoff" and custom["reason"] == "requested"
    assert custom["topic"] == "proc-tax-audit" and custom["language"] == "zh" and custom["in_service_hours"] is True
    assert "税务人员" in message["text"]
    # the gateway pauses Rasa when an officer claims the conversation, not the action
    assert SlotSet("failed_turns", 0) in events and not any(isinstance(e, dict) and e.get("event") == "pause" for e in events)
    assert ConversationPaused() not in events


async def test_outside_service_hours_mentions_the_hours() -> None:
    policy = replace(HandoffPolicy(), always_open=False, days=("mon",))
    dispatcher = CollectingDispatcher()
    await ActionRequestHandoff(policy).run(dispatcher, tracker("can I speak to someone"), {})
    (message,) = dispatcher.messages
    if not policy.in_service_hours(datetime.now(timezone.utc)):
        assert message["custom"]["in_service_hours"] is False and "Mon 09:00-17:00" in message["text"]
