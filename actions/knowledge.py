"""The knowledge answer action: retrieve, then answer, clarify, or say the question is out of scope."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.language import reply_language
from knowledge.routing import decision, reach
from knowledge.service import KnowledgeService, get_service

logger = logging.getLogger(__name__)


def requested_article(message: Dict[str, Any]) -> Optional[str]:
    """The article id a clarification button asked for, if any."""
    for entity in message.get("entities") or []:
        if entity.get("entity") == "article_id" and entity.get("value"):
            return str(entity["value"])
    return None


class ActionAnswerKnowledge(Action):
    """Answers a tax question from the knowledge base, with its source and effective date."""

    def __init__(
        self, service: Optional[KnowledgeService] = None, clock: Optional[Callable[[], dt.date]] = None
    ) -> None:
        self._service = service
        self._clock = clock or dt.date.today

    @property
    def service(self) -> KnowledgeService:
        """The knowledge service given, else the process's one."""
        return self._service or get_service()

    def name(self) -> Text:
        """`action_answer_knowledge`."""
        return "action_answer_knowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        """Answers, clarifies or says the question is out of scope; counts the turns not understood.

        For a message the NLU called `out_of_scope` it only answers when the retriever is sure, and
        otherwise says "not my field" without offering topics (`knowledge.routing`).
        """
        message = tracker.latest_message or {}
        text = (message.get("text") or "").strip()
        intent = (message.get("intent") or {}).get("name")
        language = reply_language(tracker)
        today = self._clock()
        failed = int(tracker.get_slot("failed_turns") or 0)

        article_id = requested_article(message)
        if article_id is not None:
            article = self.service.get(article_id)
            if article is not None:
                dispatcher.utter_message(**replies.answer_message(article, 1.0, language, today))
                return [SlotSet("failed_turns", 0), SlotSet("last_article_id", article.id)]
            logger.warning("Button asked for unknown article %s", article_id)

        if not text or text.startswith("/"):
            dispatcher.utter_message(**replies.fallback_message(failed + 1, language))
            return [SlotSet("failed_turns", failed + 1)]

        result = await asyncio.get_running_loop().run_in_executor(None, self.service.search, text, language)
        verdict = decision(result, reach(intent, message.get("entities") or []))  # e.g. NLU said out_of_scope
        if verdict == "answer" and result.best is not None:
            dispatcher.utter_message(**replies.retrieval_answer(result, language, today))
            return [SlotSet("failed_turns", 0), SlotSet("last_article_id", result.best.article.id)]
        if verdict == "clarify":
            dispatcher.utter_message(**replies.clarify_message(result.candidates, result.confidence, language))
            return [SlotSet("failed_turns", 0)]
        if intent == "nlu_fallback":
            dispatcher.utter_message(**replies.fallback_message(failed + 1, language))
            return [SlotSet("failed_turns", failed + 1)]
        dispatcher.utter_message(**replies.out_of_scope_message(result.in_domain, language))
        return [SlotSet("failed_turns", 0)]
