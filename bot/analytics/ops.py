"""The operations of satisfaction logging: JSON records that wait in memory and in the spool file.

Every write is one operation with ``op`` naming its kind, so that it can be applied now or replayed
later, in the same order, from the append-only spool file:

- ``turn``     one taxpayer turn and the replies it got (upserts ``conversation_outcomes``)
- ``end``      the conversation ended (thanks/goodbye, agent resolved, idle) and maybe a survey was asked
- ``rating``   a 1..5 score (or a skip) with an optional comment; a later rating replaces an earlier one
- ``feedback`` thumbs up/down on one answer; a later click replaces an earlier one

``at`` is the ISO 8601 time of the event in UTC. ``rating`` and ``feedback`` keep the newest ``at``
in the database, so a replayed old operation never overwrites a newer one. The optional fields have
defaults when applied (a spool file may hold operations written by an older gateway).
"""
from __future__ import annotations

from typing import List, Literal, Optional, TypedDict, Union


class _UnansweredRowKeys(TypedDict):
    kind: str  # out_of_scope | fallback | clarify


class UnansweredRow(_UnansweredRowKeys, total=False):
    """A question the bot did not answer (its masked text)."""

    question: Optional[str]


class _TurnKeys(TypedDict):
    op: Literal["turn"]
    conversation_id: str
    at: str
    channel: str


class TurnOp(_TurnKeys, total=False):
    """One taxpayer turn: counters added to the conversation's outcome row."""

    language: str  # "en" when missing
    taxpayer_messages: int  # 1
    answers: int  # 0
    unanswered: int  # 0
    topic: Optional[str]  # the first article answered
    handoff_requested: bool
    agent_joined: bool
    unanswered_rows: List[UnansweredRow]


class _EndKeys(TypedDict):
    op: Literal["end"]
    conversation_id: str
    at: str
    reason: str  # thanks | goodbye | agent_resolved | idle


class EndOp(_EndKeys, total=False):
    """The conversation ended; ``survey`` when a rating was asked for."""

    survey: bool
    channel: Optional[str]  # "unknown" when missing
    language: Optional[str]  # "en" when missing


class _RatingKeys(TypedDict):
    op: Literal["rating"]
    conversation_id: str
    at: str
    score: Optional[int]  # 1..5; None with skipped


class RatingOp(_RatingKeys, total=False):
    """A rating of the conversation, or a skip (which never erases a rating)."""

    skipped: bool
    comment: Optional[str]  # masked
    channel: Optional[str]


class _FeedbackKeys(TypedDict):
    op: Literal["feedback"]
    conversation_id: str
    feedback_id: str
    helpful: bool
    at: str


class FeedbackOp(_FeedbackKeys, total=False):
    """Thumbs up or down on one answer (``feedback_id`` from the answer's custom payload)."""

    article_id: Optional[str]


Op = Union[TurnOp, EndOp, RatingOp, FeedbackOp]
