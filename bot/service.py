"""Conversation service: route, forward, record. Views and sockets stay thin."""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Sequence

from bot.db.repository import TranscriptEntry, TranscriptRepository, message_entry_id, new_entry_id
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


def _bot_entry(
    conversation_id: str, channel: str, item: BotMessage, language: Optional[str], entry_id: str
) -> TranscriptEntry:
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
        entry_id=entry_id,
    )


def _stored_reply(recipient_id: str, row: Dict[str, Any]) -> BotMessage:
    """A reply as the client first got it, from its stored row (``TranscriptRepository.replies_to``)."""
    reply: BotMessage = {"recipient_id": recipient_id}
    if row.get("text") is not None:
        reply["text"] = row["text"]
    payload = row.get("payload")
    if isinstance(payload, dict):
        reply.update({k: payload[k] for k in ("buttons", "custom", "image", "attachment") if k in payload})
    return reply


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

    async def replay(self, conversation_id: str, message_id: str) -> Optional[List[BotMessage]]:
        """The replies already given to the message the client identified as ``message_id``; None if unknown.

        A client retrying a message whose reply it never got (a gateway lost on the way) gets the same
        replies, and nothing is sent to Rasa or stored again. When the store cannot be read the message
        counts as unknown (its turn runs; its entries are still stored once).
        """
        try:
            rows = await self.transcripts.replies_to(conversation_id, message_id)
        except Exception as exc:
            log.warning("could not look up a retried message: %s", type(exc).__name__)
            return None
        if rows is None:
            return None
        self.metrics.replayed.inc()
        return [_stored_reply(conversation_id, row) for row in rows]

    async def handle(
        self, conversation_id: str, text: str, channel: str, metadata: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> List[BotMessage]:
        """Record the taxpayer's message, get the reply for the current route, record it.

        The text is masked before it leaves the gateway (to Rasa, logs or the store). ``message_id``, the
        client's id of this message, fixes the ids the turn is stored under (see ``replay``).
        """
        started = time.perf_counter()
        masked = mask_pii(text)
        self.metrics.messages.labels(channel=channel, sender_type="taxpayer").inc()
        language = turn_language(text, metadata)

        def entry_id(index: int) -> str:
            return new_entry_id() if message_id is None else message_entry_id(conversation_id, message_id, index)

        entries = [TranscriptEntry(conversation_id, "taxpayer", channel, masked, language=language,
                                   entry_id=entry_id(0))]

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

        for index, item in enumerate(replies, start=1):
            entries.append(_bot_entry(conversation_id, channel, item, language, entry_id(index)))
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
