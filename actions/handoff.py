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

from actions.language import reply_language
from bot.handoff.policy import HandoffPolicy, get_policy
from knowledge import catalogue

def handoff_message(policy: HandoffPolicy, language: str, topic: Any, reason: str = "requested") -> Dict[str, Any]:
    """The text and ``custom`` payload announcing a handoff."""
    open_now = policy.in_service_hours()
    if open_now:
        text = catalogue.text("handoff.open", language)
    else:
        text = catalogue.text("handoff.closed", language, hours=policy.hours_text(language))
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
        language = reply_language(tracker)
        dispatcher.utter_message(**handoff_message(policy, language, tracker.get_slot("last_article_id")))
        return [SlotSet("failed_turns", 0)]
