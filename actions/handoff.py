"""The handoff request action: the taxpayer asked for a person.

The action only announces the handoff; the gateway (bot/handoff) owns the queue. It reads the
``custom`` payload (``kind: handoff``) of this message, puts the conversation in the live-agent
queue (or offers an offline message outside service hours / when no officer is online) and
answers with the queue position and the expected wait. When an officer claims the conversation
the gateway appends ``ConversationPaused`` to this conversation's tracker through Rasa's HTTP API,
and ``ConversationResumed`` when the officer hands it back, so the bot never answers over the
officer. Both the action and the gateway read the same policy (bot/handoff/policy.py).
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.handoff.policy import HandoffPolicy, get_policy, language_of

TEXTS = {
    "en": {
        "open": "I'll connect you with a tax officer. One moment while I check who is available.",
        "closed": "I'll pass your request to a tax officer. Officers are available {hours}; outside those hours you can leave a message.",
    },
    "zh": {
        "open": "我将为您转接税务人员，请稍候，正在查询可接待的人员。",
        "closed": "我将把您的请求转给税务人员。人工服务时间为 {hours}；非服务时间您可以留言。",
    },
}


def handoff_message(policy: HandoffPolicy, language: str, topic: Any, reason: str = "requested") -> Dict[str, Any]:
    """The text and ``custom`` payload announcing a handoff."""
    open_now = policy.in_service_hours()
    texts = TEXTS.get(language, TEXTS["en"])
    text = texts["open"] if open_now else texts["closed"].format(hours=policy.hours_text())
    return {
        "text": text,
        "custom": {
            "kind": "handoff",
            "reason": reason,
            "topic": topic,
            "language": language,
            "in_service_hours": open_now,
        },
    }


class ActionRequestHandoff(Action):
    """Announces a handoff to a live tax officer (the gateway queues it)."""

    def __init__(self, policy: HandoffPolicy | None = None) -> None:
        self._policy = policy

    def name(self) -> Text:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        policy = self._policy or get_policy()
        message = tracker.latest_message or {}
        language = language_of(message.get("text") or "")
        dispatcher.utter_message(**handoff_message(policy, language, tracker.get_slot("last_article_id")))
        return [SlotSet("failed_turns", 0)]
