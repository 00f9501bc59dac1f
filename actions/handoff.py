"""The handoff request action: the taxpayer asked for a person.

The action only announces the handoff; the gateway (bot/handoff) owns the escalation policy and the
queue. It reads the ``custom`` payload of this message (``kind: handoff``, ``reason``, ``topic``,
``language``), puts the conversation in the live-agent queue, or offers an offline message outside
service hours or when no officer is online, and says which. When an officer claims the conversation
the gateway appends ``ConversationPaused`` to this conversation's tracker through Rasa's HTTP API,
and ``ConversationResumed`` when the officer hands it back, so the bot never answers over the officer.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import reply_language
from knowledge import catalogue


def handoff_message(language: str, topic: Any, reason: str = "requested") -> Dict[str, Any]:
    """The text and ``custom`` payload announcing a handoff (the gateway words the outcome)."""
    return {
        "text": catalogue.text("handoff.open", language),
        "custom": {"kind": "handoff", "reason": reason, "topic": topic, "language": language},
    }


class ActionRequestHandoff(Action):
    """Announces a handoff to a live tax officer (the gateway queues it)."""

    def name(self) -> Text:
        """`action_request_handoff`."""
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        """Sends the announcement with the last article as its topic and resets the failed-turn count."""
        language = reply_language(tracker)
        dispatcher.utter_message(**handoff_message(language, tracker.get_slot("last_article_id")))
        return [SlotSet("failed_turns", 0)]
