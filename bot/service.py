"""Conversation service: route, forward, record. Views and sockets stay thin."""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Sequence

from bot.db.repository import TranscriptEntry, TranscriptRepository
from bot.hooks import Turn, TurnHook
from bot.metrics import Metrics
from bot.privacy import mask_pii
from bot.rasa_client import BotMessage, RasaClient, UpstreamError
from bot.routing import Route, RoutingService
from knowledge import catalogue
from knowledge.text import LANGUAGES, detect_language

log = logging.getLogger(__name__)

APOLOGY_TEXT = catalogue.text("apology", "zh") + " " + catalogue.text("apology", "en")
APOLOGY_KIND = "apology"
RESTARTED_KIND = "restarted"


def apology(recipient_id: str, language: Optional[str] = None) -> BotMessage:
    """The message a taxpayer gets when Rasa is down or too slow (both languages when unknown)."""
    if language not in LANGUAGES:
        return {"recipient_id": recipient_id, "text": APOLOGY_TEXT, "custom": {"kind": APOLOGY_KIND}}
    text = catalogue.text("apology", language)
    return {"recipient_id": recipient_id, "text": text, "custom": {"kind": APOLOGY_KIND, "language": language}}


def restarted(recipient_id: str, language: Optional[str] = None) -> BotMessage:
    """The notice that the conversation restarted on another Rasa worker (both languages when unknown)."""
    if language not in LANGUAGES:
        text = catalogue.text("restarted", "zh") + " " + catalogue.text("restarted", "en")
        return {"recipient_id": recipient_id, "text": text, "custom": {"kind": RESTARTED_KIND}}
    text = catalogue.text("restarted", language)
    return {"recipient_id": recipient_id, "text": text, "custom": {"kind": RESTARTED_KIND, "language": language}}


def turn_language(text: str, metadata: Optional[Dict[str, Any]]) -> Optional[str]:
    """The taxpayer's language for this turn: the text's, else the page's 中文/EN preference."""
    detected = detect_language(text)
    if detected:
        return detected
    preferred = (metadata or {}).get("language") if isinstance(metadata, dict) else None
    return preferred if preferred in LANGUAGES else None


def _confidence(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _bot_entry(conversation_id: str, channel: str, item: BotMessage, language: Optional[str]) -> TranscriptEntry:
    raw_custom = item.get("custom")
    custom: Dict[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
    raw_text = item.get("text")
    text = raw_text if isinstance(raw_text, str) else None
    payload = {k: item[k] for k in ("buttons", "custom", "image", "attachment") if k in item}
    article = custom.get("article_id")
    return TranscriptEntry(
        conversation_id=conversation_id,
        sender_type="bot",
        channel=channel,
        text=mask_pii(text) if text is not None else None,
        kind=str(custom["kind"]) if custom.get("kind") is not None else None,
        article_id=str(article) if article is not None else None,
        confidence=_confidence(custom.get("confidence")),
        payload=payload or None,
        language=str(custom["language"]) if custom.get("language") in LANGUAGES else language,
    )


class ConversationService:
    """Handles one taxpayer message end to end.

    ``hooks`` (``bot.hooks.TurnHook``, in order: the handoff, then the survey) may answer a message
    themselves (``before_turn``) or add replies after the bot's (``after_turn``).
    """

    def __init__(
        self,
        rasa: RasaClient,
        transcripts: TranscriptRepository,
        routing: RoutingService,
        metrics: Metrics,
        history_limit: int = 500,
        hooks: Sequence[TurnHook] = (),
    ) -> None:
        self.rasa = rasa
        self.transcripts = transcripts
        self.routing = routing
        self.metrics = metrics
        self.history_limit = history_limit
        self.hooks = tuple(hooks)

    async def handle(
        self, conversation_id: str, text: str, channel: str, metadata: Optional[Dict[str, Any]] = None
    ) -> List[BotMessage]:
        """Record the taxpayer's message, get the reply for the current route, record it.

        The text is masked before it leaves the gateway (to Rasa, logs or the store).
        """
        started = time.perf_counter()
        masked = mask_pii(text)
        self.metrics.messages.labels(channel=channel, sender_type="taxpayer").inc()
        language = turn_language(text, metadata)
        entries = [TranscriptEntry(conversation_id, "taxpayer", channel, masked, language=language)]

        replies: List[BotMessage] = []
        route = await self.routing.get(conversation_id)
        turn = Turn(conversation_id, masked, channel, route, language)
        intercepted: Optional[List[BotMessage]] = None
        for hook in self.hooks:  # the handoff's cancel button, a rating reply
            intercepted = await hook.before_turn(turn)
            if intercepted is not None:
                break
        if intercepted is not None:
            replies = intercepted
        elif route is Route.BOT:
            try:
                reply = await self.rasa.send_turn(conversation_id, masked, metadata, input_channel=channel)
                replies = reply.messages
                if reply.restarted and await self._has_history(conversation_id):  # its context was lost
                    replies = [restarted(conversation_id, language), *replies]
            except UpstreamError as exc:
                log.warning("rasa failed for a %s message: %s", channel, exc)
                self.metrics.error(exc.kind)
                replies = [apology(conversation_id, language)]
            if not replies:  # Rasa lost the turn: a custom action or its lock/tracker store failed
                log.warning("rasa returned no reply for a %s message", channel)
                self.metrics.error("rasa_empty")
                replies = [apology(conversation_id, language)]
        # Route.AGENT: the message is recorded and relayed to the agent's console (the handoff hook).
        if intercepted is None:
            for hook in self.hooks:  # escalation, relay to the officer; outcome facts, feedback ids, rating request
                replies = replies + await hook.after_turn(turn, replies)

        for item in replies:
            entries.append(_bot_entry(conversation_id, channel, item, language))
        if replies:
            self.metrics.messages.labels(channel=channel, sender_type="bot").inc(len(replies))
        await self._record(entries)
        self.metrics.latency.labels(channel=channel).observe(time.perf_counter() - started)
        return replies

    async def _record(self, entries: List[TranscriptEntry]) -> None:
        """Store the turn: now, or through the durable writer's spool while the database is down."""
        try:
            await self.transcripts.add(entries)
        except Exception as exc:  # not even the spool could keep it; the taxpayer still gets the reply
            log.error("could not store or spool transcript: %s", type(exc).__name__)
            self.metrics.error("db")

    async def _has_history(self, conversation_id: str) -> bool:
        try:
            return bool(await self.transcripts.history(conversation_id, 1))
        except Exception:  # unknown: say it restarted
            return True

    async def history(self, conversation_id: str) -> List[Dict[str, Any]]:
        """The masked transcript of a conversation."""
        return await self.transcripts.history(conversation_id, self.history_limit)
