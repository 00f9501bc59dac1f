"""The gateway-owned satisfaction survey and per-turn outcome logging.

``SurveyService`` is a ``bot.hooks.TurnHook``: ``before_turn`` answers a rating reply (Rasa never
sees it) and ``after_turn`` adds ids for thumbs up/down on answers, logs the outcome counters and
appends the rating request after a conversation-ending reply. It is also a
``bot.hooks.HandoffClosedListener``: an officer's "resolved" asks for a rating, as does an idle
conversation (``request_survey``); those requests reach the taxpayer through the ``deliver`` callable
given at construction.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Literal, Optional, Protocol, Tuple, TypedDict, Union

import yaml

from bot.analytics.clock import iso, utcnow
from bot.analytics.ops import EndOp, FeedbackOp, Op, RatingOp, TurnOp, UnansweredRow
from bot.analytics.store import BufferFull, DurableWriter, WriteResult
from bot.hooks import BotMessage, HandoffClosed, Turn
from knowledge import catalogue
from knowledge.text import LANGUAGES, detect_language, language_of

log = logging.getLogger(__name__)

SURVEY_KIND = "survey"
THANKS_KIND = "survey_thanks"
RATE_PREFIX = "/rate"
SKIP_PAYLOAD = "/rate_skip"
UNANSWERED_KINDS = ("out_of_scope", "fallback", "clarify")
FEEDBACK_KINDS = ("answer", "calculation")
HANDOFF_KINDS = ("handoff", "handoff_queued", "handoff_offline")
STATE_TTL = 24 * 3600
MAX_COMMENT = 1000
_DIGITS = str.maketrans("１２３４５", "12345")
_RATING = re.compile(
    r"^\s*([1-5])(?![\d.,]\d)\s*(?:(?:/|of|out of)\s*5)?\s*(?:分|星|stars?)?\s*(?:[-–—:,.!。，：、;；]+\s*)?(.*)$",
    re.S | re.I,
)
_SKIP = re.compile(r"^\s*(skip|no thanks|no,? thanks|not now|跳过|不用了?|不评价|算了)\s*[.!。！]?\s*$", re.I)

SurveyStatus = Literal["pending", "rated", "skipped"]


class SurveyRecord(TypedDict, total=False):
    """What the survey remembers of a conversation (JSON in Redis, for a day)."""

    status: Optional[SurveyStatus]  # None: the taxpayer moved on from a request (asked again at the next end)
    lang: str  # the language of the taxpayer's latest message that had one


class ScoreGiven(TypedDict):
    """A rating: the score and the comment that came with it."""

    score: int
    comment: Optional[str]


class Skipped(TypedDict):
    """The taxpayer declined to rate."""

    skip: Literal[True]


ParsedRating = Union[ScoreGiven, Skipped]


def _t(language: Optional[str], key: str) -> str:
    return catalogue.text(f"survey.{key}", language or "en")


def ending_texts(domain_path: Path) -> Dict[str, str]:
    """Texts of utter_thanks / utter_goodbye (text -> reason) to recognise Rasa's ending replies."""
    out: Dict[str, str] = {}
    try:
        domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return out
    responses = domain.get("responses") or {}
    for name, reason in (("utter_thanks", "thanks"), ("utter_goodbye", "goodbye")):
        for variant in responses.get(name) or []:
            if isinstance(variant, dict) and isinstance(variant.get("text"), str):
                out[variant["text"].strip()] = reason
    return out


def parse_rating(text: str, pending: bool) -> Optional[ParsedRating]:
    """``{"score", "comment"}`` or ``{"skip": True}`` when the message is a rating, else None.

    Button payloads (``/rate{"score": 4, "comment": "..."}``, ``/rate_skip``) always count; plain
    text ("4", "4 clear answer", "skip", "跳过") only while a rating request is pending.
    """
    stripped = text.strip()
    if stripped == SKIP_PAYLOAD:
        return {"skip": True}
    if stripped.startswith(RATE_PREFIX + "{"):
        try:
            data = json.loads(stripped[len(RATE_PREFIX):])
        except ValueError:
            return None
        score = data.get("score") if isinstance(data, dict) else None
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            return None
        comment = data.get("comment")
        given = comment.strip()[:MAX_COMMENT] if isinstance(comment, str) and comment.strip() else None
        return {"score": score, "comment": given}
    if not pending:
        return None
    if _SKIP.match(stripped):
        return {"skip": True}
    m = _RATING.match(stripped.translate(_DIGITS))
    if not m:
        return None
    comment = m.group(2).strip()
    before = m.group(0)[m.start(2) - 1:m.start(2)] or " "  # what separates the score from the comment
    if comment.endswith(("?", "？")) or (comment and not re.match(r"^\W", before)):
        return None  # "3 questions about VAT?" is a question, not a rating
    return {"score": int(m.group(1)), "comment": comment[:MAX_COMMENT] or None}


def survey_message(conversation_id: str, language: str, reason: str) -> BotMessage:
    """The rating request: buttons 1..5 and Skip, and a text that also works without buttons."""
    buttons = [{"title": str(n), "payload": f'{RATE_PREFIX}{{"score": {n}}}'} for n in range(1, 6)]
    buttons.append({"title": _t(language, "skip"), "payload": SKIP_PAYLOAD})
    return {
        "recipient_id": conversation_id,
        "text": _t(language, "ask"),
        "buttons": buttons,
        "custom": {"kind": SURVEY_KIND, "reason": reason, "scale": [1, 5], "language": language,
                   "rating_url": f"/conversations/{conversation_id}/rating"},
    }


class SurveyRedis(Protocol):
    """The two Redis commands the survey state uses (``redis.asyncio.Redis`` has them)."""

    async def get(self, name: str) -> Optional[bytes]:
        """The value of ``name``, or None."""
        ...

    async def set(self, name: str, value: str, *, ex: Optional[int] = None) -> Any:
        """Set ``name``, expiring after ``ex`` seconds."""
        ...


class SurveyState:
    """Per-conversation survey state: memory, or Redis (shared by gateway instances) when configured."""

    def __init__(self, redis: Optional[SurveyRedis] = None, prefix: str = "taxguide:survey:",
                 max_items: int = 200_000) -> None:
        self.redis = redis
        self.prefix = prefix
        self.max_items = max_items
        self._mem: Dict[str, Tuple[float, SurveyRecord]] = {}  # conversation id -> (expires at, record)

    async def get(self, conversation_id: str) -> SurveyRecord:
        """The conversation's record (empty when there is none); a copy the caller may change."""
        if self.redis is not None:
            try:
                raw = await self.redis.get(self.prefix + conversation_id)
                if not raw:
                    return {}
                stored: SurveyRecord = json.loads(raw)  # written by set() below
                return stored
            except Exception as exc:
                log.warning("survey state unavailable in redis: %s", type(exc).__name__)
        item = self._mem.get(conversation_id)
        if item is None:
            return {}
        expires, record = item
        if expires < time.time():
            self._mem.pop(conversation_id, None)
            return {}
        return SurveyRecord(**record)

    async def set(self, conversation_id: str, value: SurveyRecord) -> None:
        """Keep the conversation's record for a day (in this process when Redis fails)."""
        if self.redis is not None:
            try:
                await self.redis.set(self.prefix + conversation_id, json.dumps(value), ex=STATE_TTL)
                return
            except Exception as exc:
                log.warning("survey state not saved in redis: %s", type(exc).__name__)
        if len(self._mem) >= self.max_items:
            for key in list(self._mem)[: self.max_items // 10]:
                self._mem.pop(key, None)
        self._mem[conversation_id] = (time.time() + STATE_TTL, SurveyRecord(**value))


Deliver = Callable[[str, BotMessage], Awaitable[None]]


class SurveyService:
    """Owns the rating request, the rating replies and the outcome facts of each turn."""

    def __init__(
        self, writer: DurableWriter, state: SurveyState, endings: Optional[Dict[str, str]] = None,
        deliver: Optional[Deliver] = None,
    ) -> None:
        self.writer = writer
        self.state = state
        self.endings = endings or {}
        self.deliver = deliver  # store + push a message to the taxpayer outside a turn (agent resolved, idle)

    # ------------------------------------------------------------------ turn hooks
    async def before_turn(self, turn: Turn) -> Optional[List[BotMessage]]:
        """A rating (or skip) is answered by the gateway; anything else clears a pending request."""
        conversation_id, text, channel = turn.conversation_id, turn.text, turn.channel
        state = await self.state.get(conversation_id)
        pending = state.get("status") == "pending"
        rating = parse_rating(text, pending)
        if rating is None:
            if pending:
                state["status"] = None  # the taxpayer moved on; a later ending asks again
                await self.state.set(conversation_id, state)
            return None
        language = state.get("lang") or language_of(text)
        if "skip" in rating:
            reply = await self.rate(conversation_id, None, None, channel, language, skip=True)
        else:
            reply = await self.rate(conversation_id, rating["score"], rating["comment"], channel, language)
        return [reply]

    async def after_turn(self, turn: Turn, replies: List[BotMessage]) -> List[BotMessage]:
        """Tag answers for feedback, log the turn, and append a rating request after an ending reply."""
        conversation_id, text, channel = turn.conversation_id, turn.text, turn.channel
        state = await self.state.get(conversation_id)
        detected = detect_language(text)
        if detected:  # the survey speaks the language of the taxpayer's latest message that has one
            state["lang"] = detected
        language = state.get("lang") or "en"
        answers = unanswered = 0
        topic: Optional[str] = None
        handoff = False
        unanswered_rows: List[UnansweredRow] = []
        ending: Optional[str] = None
        for item in replies:
            custom = item.get("custom")
            if not isinstance(custom, dict):
                continue
            kind = custom.get("kind")
            if kind in FEEDBACK_KINDS:
                custom.setdefault("feedback_id", uuid.uuid4().hex[:16])
                answers += 1
                if topic is None and custom.get("article_id"):
                    topic = str(custom["article_id"])[:128]
            elif kind in UNANSWERED_KINDS:
                unanswered += 1
                unanswered_rows.append({"kind": kind, "question": text[:2000]})
            elif kind in HANDOFF_KINDS:
                handoff = True
            if isinstance(custom.get("language"), str) and custom["language"] in LANGUAGES:
                language = state["lang"] = custom["language"]
            if custom.get("ends_conversation") is True:
                ending = ending or str(custom.get("end_reason") or "goodbye")
            elif kind == "smalltalk" and isinstance(item.get("text"), str):
                ending = ending or self.endings.get(item["text"].strip())
        turn_op: TurnOp = {
            "op": "turn", "conversation_id": conversation_id, "at": iso(utcnow()), "channel": channel,
            "language": language, "taxpayer_messages": 1, "answers": answers, "unanswered": unanswered,
            "topic": topic, "handoff_requested": handoff, "agent_joined": turn.route.value == "agent",
            "unanswered_rows": unanswered_rows,
        }
        await self._write(turn_op)
        extra: List[BotMessage] = []
        if ending and state.get("status") not in ("pending", "rated", "skipped"):
            extra.append(survey_message(conversation_id, language, ending))
            state["status"] = "pending"
            await self._write(self._end_op(conversation_id, ending, channel, language))
        await self.state.set(conversation_id, state)
        return extra

    # ------------------------------------------------------------------ ratings
    async def rate(
        self, conversation_id: str, score: Optional[int], comment: Optional[str], channel: str,
        language: Optional[str] = None, skip: bool = False,
    ) -> BotMessage:
        """Store the rating (or skip) first; only then thank the taxpayer."""
        state = await self.state.get(conversation_id)
        language = language or state.get("lang") or "en"
        op: RatingOp = {"op": "rating", "conversation_id": conversation_id, "at": iso(utcnow()), "channel": channel,
                        "score": score, "skipped": skip, "comment": comment}
        try:
            status = await self.writer.write(op)
        except BufferFull:
            return {"recipient_id": conversation_id, "text": _t(language, "lost"),
                    "custom": {"kind": THANKS_KIND, "saved": False}}
        previous = state.get("status")
        state["status"] = "skipped" if skip and previous != "rated" else ("rated" if not skip else previous)
        await self.state.set(conversation_id, state)
        if skip:
            key = "skipped"
        elif previous == "rated":
            key = "updated"
        else:
            key = "thanks_low" if score is not None and score <= 2 else "thanks"
        return {"recipient_id": conversation_id, "text": _t(language, key),
                "custom": {"kind": THANKS_KIND, "saved": True, "stored": status, "score": score, "skipped": skip}}

    async def feedback(
        self, conversation_id: str, feedback_id: str, helpful: bool, article_id: Optional[str]
    ) -> WriteResult:
        """Store a thumbs up or down on one answer; BufferFull when it cannot be kept."""
        op: FeedbackOp = {"op": "feedback", "conversation_id": conversation_id, "feedback_id": feedback_id[:64],
                          "article_id": article_id[:128] if article_id else None, "helpful": bool(helpful),
                          "at": iso(utcnow())}
        return await self.writer.write(op)

    # ------------------------------------------------------------------ outside a turn
    async def handoff_closed(self, event: HandoffClosed) -> None:
        """An officer resolved the case: ask the taxpayer for a rating (not when handed back to the bot)."""
        if event.outcome == "resolved":
            await self.request_survey(event.conversation_id, "agent_resolved")

    async def request_survey(self, conversation_id: str, reason: str, channel: str = "handoff",
                             record_end: bool = True) -> Optional[BotMessage]:
        """Ask for a rating after an agent resolved the conversation or it went idle."""
        state = await self.state.get(conversation_id)
        if state.get("status") in ("pending", "rated"):
            return None
        language = state.get("lang") or "en"
        message = survey_message(conversation_id, language, reason)
        state["status"] = "pending"
        await self.state.set(conversation_id, state)
        if record_end:
            await self._write(self._end_op(conversation_id, reason, channel, language))
        if self.deliver is not None:
            try:
                await self.deliver(conversation_id, message)
            except Exception as exc:
                log.error("could not deliver the rating request: %s", type(exc).__name__)
        return message

    @staticmethod
    def _end_op(conversation_id: str, reason: str, channel: str, language: str) -> EndOp:
        """The conversation ended and the taxpayer was asked for a rating."""
        return {"op": "end", "conversation_id": conversation_id, "at": iso(utcnow()), "reason": reason,
                "survey": True, "channel": channel, "language": language}

    async def _write(self, op: Op) -> None:
        try:
            await self.writer.write(op)
        except BufferFull:
            log.error("analytics %s operation dropped: buffer full", op["op"])
