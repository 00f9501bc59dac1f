"""The dashboard's queries (definitions in METRICS.md). SQLite and PostgreSQL.

Every figure is about the conversations that *started* in the chosen period (days in Beijing time,
UTC+8, both ends included), optionally of one channel and one language. Results are JSON-ready
records: times as ISO 8601 text in UTC, ratios rounded to 4 digits (``None`` when the denominator is 0).
"""
from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, SupportsFloat, Tuple, TypedDict, Union, cast

from sqlalchemy import Float, and_, case, desc, func, literal_column, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics.clock import BEIJING, iso
from bot.analytics.models import answer_feedback
from bot.analytics.models import conversation_outcomes as O  # noqa: N812
from bot.analytics.models import conversation_ratings as R  # noqa: N812
from bot.analytics.models import unanswered_questions as U  # noqa: N812
from bot.db.models import HandoffEvent, Message

__all__ = ["BEIJING", "AnalyticsQueries", "Filters", "percentile"]

#: A SQLAlchemy column or clause (SQLAlchemy 1.4 has no type information).
Sql = Any
JsonScalar = Union[str, int, float, bool, None]

LOW_SCORE = 2  # ratings 1-2 are "low"
NEAR_DAYS = 2  # a claim or an answer vote counts for its conversation when within 2 days of the period
H = HandoffEvent.__table__
M = Message.__table__
# a conversation with handoff events was handed off (its request went through the gateway); this
# predicate matches the partial index ix_outcomes_handoff
HANDED_OFF = O.c.handoff_requested | O.c.agent_joined
FilterEcho = TypedDict("FilterEcho", {"from": str, "to": str, "channel": Optional[str], "language": Optional[str]})


@dataclass(frozen=True)
class Filters:
    """The dashboard's period (Beijing days, both included) and optional channel and language."""

    start: date
    end: date
    channel: Optional[str] = None
    language: Optional[str] = None

    @property
    def since(self) -> datetime:
        """The period's first instant (Beijing midnight of ``start``) in UTC."""
        return datetime.combine(self.start, time(0), BEIJING).astimezone(timezone.utc)

    @property
    def until(self) -> datetime:
        """The instant after the period (Beijing midnight after ``end``) in UTC."""
        return datetime.combine(self.end + timedelta(days=1), time(0), BEIJING).astimezone(timezone.utc)

    def as_dict(self) -> FilterEcho:
        """The filters as the dashboard and the CSV export show them."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "channel": self.channel,
                "language": self.language}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DayCounts:
    """Sums over ``conversation_outcomes`` of one Beijing day (or, added up, of a period)."""

    conversations: int = 0
    surveyed: int = 0
    rated: int = 0
    answered_surveys: int = 0
    score_sum: int = 0
    handed_off: int = 0
    agent_joined: int = 0
    with_unanswered: int = 0
    scores: Tuple[int, ...] = field(default=(0, 0, 0, 0, 0))  # conversations rated 1, 2, 3, 4, 5

    def __add__(self, other: DayCounts) -> DayCounts:
        sums = {name: getattr(self, name) + getattr(other, name) for name in _COUNTS}
        return DayCounts(**sums, scores=tuple(a + b for a, b in zip(self.scores, other.scores)))

    @property
    def satisfied(self) -> int:
        """Conversations rated 4 or 5."""
        return self.scores[3] + self.scores[4]


_COUNTS = tuple(f.name for f in fields(DayCounts) if f.name != "scores")


class Summary(TypedDict):
    """The period's headline figures (METRICS.md)."""

    conversations: int
    surveyed: int
    rated: int
    csat: Optional[float]
    avg_score: Optional[float]
    response_rate: Optional[float]
    low_rated: int
    containment: Optional[float]
    handoff_rate: Optional[float]
    handed_off: int
    agent_joined: int
    unanswered_rate: Optional[float]


class HandoffWaits(TypedDict):
    """Waiting times from queued to claimed, and conversations abandoned while waiting."""

    handoff_claimed: int
    wait_avg_seconds: Optional[float]
    wait_median_seconds: Optional[float]
    wait_p90_seconds: Optional[float]
    handoff_abandoned: int


class FeedbackTotals(TypedDict):
    """Thumbs up and down on answers of the period's conversations."""

    thumbs_up: int
    thumbs_down: int
    helpful_share: Optional[float]


class SummaryWithWaits(Summary, HandoffWaits):
    """``AnalyticsQueries.summary``: the headline figures and the handoff waits."""


class DashboardSummary(Summary, HandoffWaits, FeedbackTotals):
    """The dashboard's summary: headline figures, handoff waits and helpful votes."""


class TrendDay(TypedDict):
    """The figures of one Beijing day."""

    day: str
    conversations: int
    rated: int
    csat: Optional[float]
    avg_score: Optional[float]
    handoff_rate: Optional[float]


class ScoreCount(TypedDict):
    """How many conversations got one score."""

    score: int
    count: int


class Topic(TypedDict):
    """An article as the first answer of conversations: their ratings and the votes on it."""

    article_id: str
    conversations: int
    rated: int
    csat: Optional[float]
    avg_score: Optional[float]
    thumbs_up: int
    thumbs_down: int
    helpful_share: Optional[float]


class KindCount(TypedDict):
    """Unanswered questions of one reply kind."""

    kind: str
    n: int


class FrequentQuestion(TypedDict):
    """An unanswered question (trimmed, lower-case) and how often it was asked."""

    question: Optional[str]
    kind: str
    n: int
    last_seen: Optional[str]


class UnansweredQuestion(TypedDict):
    """One unanswered question as asked."""

    conversation_id: str
    created_at: Optional[str]
    kind: str
    question: Optional[str]
    channel: str
    language: str


class Unanswered(TypedDict):
    """Unanswered questions by kind, the most frequent ones and the latest ones."""

    by_kind: List[KindCount]
    top: List[FrequentQuestion]
    recent: List[UnansweredQuestion]


class RatedConversation(TypedDict):
    """A rated conversation of the period with its rating."""

    conversation_id: str
    started_at: Optional[str]
    channel: str
    language: str
    topic_article_id: Optional[str]
    end_reason: Optional[str]
    agent_joined: bool
    handoff_requested: bool
    score: Optional[int]
    comment: Optional[str]
    rated_at: Optional[str]


class RatingDetail(TypedDict):
    """The conversation's rating (or skip)."""

    score: Optional[int]
    skipped: bool
    comment: Optional[str]
    rated_at: Optional[str]


class TranscriptLine(TypedDict):
    """One stored (masked) message."""

    id: int
    created_at: Optional[str]
    sender_type: str
    channel: str
    text: Optional[str]
    kind: Optional[str]
    article_id: Optional[str]
    confidence: Optional[float]


class AnswerVote(TypedDict):
    """The taxpayer's vote on one answer."""

    feedback_id: str
    article_id: Optional[str]
    helpful: bool


class ConversationDetail(TypedDict):
    """One conversation for the dashboard: its outcome row, rating, transcript and votes."""

    conversation: Dict[str, JsonScalar]
    rating: Optional[RatingDetail]
    messages: List[TranscriptLine]
    feedback: List[AnswerVote]


class Dashboard(TypedDict):
    """Everything the dashboard page shows."""

    filters: FilterEcho
    summary: DashboardSummary
    trend: List[TrendDay]
    distribution: List[ScoreCount]
    topics: List[Topic]
    unanswered: Unanswered
    low_rated: List[RatedConversation]
    channels: List[str]
    languages: List[str]


def _ratio(num: float, den: float) -> Optional[float]:
    return round(num / den, 4) if den else None


def _round(value: Optional[SupportsFloat], digits: int = 2) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def _iso(value: Union[datetime, str, None]) -> Optional[str]:
    """A stored time as ISO text in UTC (SQLite returns naive UTC datetimes)."""
    if value is None or isinstance(value, str):
        return value
    return iso(value)


def _json(value: Any) -> JsonScalar:
    """A column value for JSON: times as ISO text in UTC, days as ISO dates."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return cast(JsonScalar, value)  # str, int, float, bool or None from the database driver


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """PostgreSQL's ``percentile_cont(q)`` of sorted values: linear interpolation between closest ranks.

    Computed as PostgreSQL does, so SQLite and PostgreSQL show the same figures to the last digit
    (``statistics.quantiles(method="inclusive")`` differs in the last bits, and then in the rounded figure).
    """
    if not values:
        return None
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


class AnalyticsQueries:
    """The dashboard's figures, lists and transcripts, read from the gateway database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self._values_cache: Dict[str, Tuple[float, List[str]]] = {}

    # ------------------------------------------------------------------ helpers
    def _where(self, f: Filters) -> Sql:
        cond = [O.c.day >= f.start, O.c.day <= f.end]
        if f.channel:
            cond.append(O.c.channel == f.channel)
        if f.language:
            cond.append(O.c.language == f.language)
        return and_(*cond)

    @staticmethod
    def _near(column: Sql, f: Filters) -> List[Sql]:
        """Events (claims, votes) of the period's conversations happen within NEAR_DAYS of their start.

        This bound lets the database use the event table's time index before joining.
        """
        return [column >= f.since - timedelta(days=NEAR_DAYS), column < f.until + timedelta(days=NEAR_DAYS)]

    def _wait_seconds(self) -> Sql:
        if self.pg:
            return sql_cast(H.c.data.op("->>")(literal_column("'waited_seconds'")), Float)
        return func.json_extract(H.c.data, "$.waited_seconds")

    async def _all(self, stmt: Sql) -> List[Mapping[str, Any]]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings().all())

    # ------------------------------------------------------------------ one pass per day
    async def daily(self, f: Filters) -> Dict[str, DayCounts]:
        """Per-day sums over conversation_outcomes alone (the score is copied there), by ISO day.

        Every figure of the summary, the trend and the distribution comes from this one query.
        """
        def count_if(cond: Sql) -> Sql:
            return func.sum(case((cond, 1), else_=0))

        stmt = (
            select(
                O.c.day.label("day"),
                func.count().label("conversations"),
                func.count(O.c.survey_requested_at).label("surveyed"),
                func.count(O.c.score).label("rated"),
                count_if(and_(O.c.survey_requested_at.isnot(None), O.c.score.isnot(None))).label("answered_surveys"),
                func.sum(O.c.score).label("score_sum"),
                count_if(O.c.handoff_requested | O.c.agent_joined).label("handed_off"),
                count_if(O.c.agent_joined).label("agent_joined"),
                count_if(O.c.unanswered > 0).label("with_unanswered"),
                *[count_if(O.c.score == n).label(f"s{n}") for n in range(1, 6)],
            )
            .where(self._where(f))
            .group_by(O.c.day)
            .order_by(O.c.day)
        )
        days: Dict[str, DayCounts] = {}
        for r in await self._all(stmt):
            day = r["day"]
            days[day.isoformat() if hasattr(day, "isoformat") else str(day)] = DayCounts(
                **{name: int(r[name] or 0) for name in _COUNTS}, scores=tuple(int(r[f"s{n}"] or 0) for n in range(1, 6))
            )
        return days

    @staticmethod
    def _summary_from(days: Iterable[DayCounts]) -> Summary:
        t = sum(days, DayCounts())
        n = t.conversations
        return {
            "conversations": n,
            "surveyed": t.surveyed,
            "rated": t.rated,
            "csat": _ratio(t.satisfied, t.rated),
            "avg_score": _round(t.score_sum / t.rated) if t.rated else None,
            "response_rate": _ratio(t.answered_surveys, t.surveyed),
            "low_rated": sum(t.scores[:LOW_SCORE]),
            "containment": _ratio(n - t.handed_off, n),
            "handoff_rate": _ratio(t.handed_off, n),
            "handed_off": t.handed_off,
            "agent_joined": t.agent_joined,
            "unanswered_rate": _ratio(t.with_unanswered, n),
        }

    @staticmethod
    def _trend_from(f: Filters, days: Dict[str, DayCounts]) -> List[TrendDay]:
        out: List[TrendDay] = []
        d = f.start
        while d <= f.end:  # every day of the period, zeros included
            r = days.get(d.isoformat()) or DayCounts()
            out.append({"day": d.isoformat(), "conversations": r.conversations, "rated": r.rated,
                        "csat": _ratio(r.satisfied, r.rated),
                        "avg_score": _round(r.score_sum / r.rated) if r.rated else None,
                        "handoff_rate": _ratio(r.handed_off, r.conversations)})
            d += timedelta(days=1)
        return out

    @staticmethod
    def _distribution_from(days: Iterable[DayCounts]) -> List[ScoreCount]:
        t = sum(days, DayCounts())
        return [{"score": s, "count": t.scores[s - 1]} for s in range(1, 6)]

    async def summary(self, f: Filters) -> SummaryWithWaits:
        """The headline figures and the handoff waits of the period."""
        days, waits = await asyncio.gather(self.daily(f), self.handoff_waits(f))
        return {**self._summary_from(days.values()), **waits}

    async def trend(self, f: Filters) -> List[TrendDay]:
        """The figures of every day of the period."""
        return self._trend_from(f, await self.daily(f))

    async def distribution(self, f: Filters) -> List[ScoreCount]:
        """How many conversations got each score from 1 to 5."""
        return self._distribution_from((await self.daily(f)).values())

    async def handoff_waits(self, f: Filters) -> HandoffWaits:
        """Waiting time (queued -> claimed) from handoff_events 'claimed' of the period's conversations."""
        wait = self._wait_seconds()
        events = H.join(O, O.c.conversation_id == H.c.conversation_id)
        near = self._near(H.c.created_at, f)
        async with self.engine.connect() as conn:
            if self.pg:  # one pass over the events of both kinds (one join with the outcomes)
                both = (
                    select(wait.label("w"), H.c.event_type.label("t"), H.c.conversation_id.label("c"))
                    .select_from(events)
                    .where(self._where(f), HANDED_OFF, H.c.event_type.in_(["claimed", "abandoned"]), *near)
                ).subquery()
                w = case((both.c.t == "claimed", both.c.w))  # NULL otherwise: ignored by the aggregates
                gone = case((both.c.t == "abandoned", both.c.c))
                count, mean, median, p90, abandoned = (await conn.execute(select(
                    func.count(w), func.avg(w), func.percentile_cont(0.5).within_group(w),
                    func.percentile_cont(0.9).within_group(w), func.count(func.distinct(gone)),
                ))).first()
            else:
                claimed = select(wait.label("w")).select_from(events).where(
                    self._where(f), HANDED_OFF, H.c.event_type == "claimed", *near)
                waits = sorted(float(r[0]) for r in (await conn.execute(claimed)).all() if r[0] is not None)
                count = len(waits)
                mean = statistics.fmean(waits) if waits else None
                median = percentile(waits, 0.5)
                p90 = percentile(waits, 0.9)
                abandoned = (await conn.execute(
                    select(func.count(func.distinct(H.c.conversation_id))).select_from(events)
                    .where(self._where(f), HANDED_OFF, H.c.event_type == "abandoned", *near)
                )).scalar()
        return {"handoff_claimed": int(count or 0), "wait_avg_seconds": _round(mean, 1),
                "wait_median_seconds": _round(median, 1), "wait_p90_seconds": _round(p90, 1),
                "handoff_abandoned": int(abandoned or 0)}

    # ------------------------------------------------------------------ topics
    async def topics(self, f: Filters, limit: int = 20) -> List[Topic]:
        """The articles most often answered first, with their ratings and votes."""
        stmt = (
            select(
                O.c.topic_article_id.label("article_id"),
                func.count().label("conversations"),
                func.count(O.c.score).label("rated"),
                func.sum(case((O.c.score >= 4, 1), else_=0)).label("satisfied"),
                func.avg(O.c.score).label("avg_score"),
            )
            .where(self._where(f), O.c.topic_article_id.isnot(None))
            .group_by(O.c.topic_article_id)
            .order_by(desc("conversations"), O.c.topic_article_id)
            .limit(limit)
        )
        rows = await self._all(stmt)
        thumbs = await self._thumbs(f, [r["article_id"] for r in rows])
        out: List[Topic] = []
        for r in rows:
            up, down = thumbs.get(r["article_id"], (0, 0))
            out.append({"article_id": r["article_id"], "conversations": r["conversations"], "rated": r["rated"],
                        "csat": _ratio(int(r["satisfied"] or 0), r["rated"]), "avg_score": _round(r["avg_score"]),
                        "thumbs_up": up, "thumbs_down": down, "helpful_share": _ratio(up, up + down)})
        return out

    async def _thumbs(self, f: Filters, articles: List[str]) -> Dict[str, Tuple[int, int]]:
        if not articles:
            return {}
        A = answer_feedback  # noqa: N806
        stmt = (
            select(A.c.article_id, func.sum(case((A.c.helpful, 1), else_=0)).label("up"),
                   func.sum(case((A.c.helpful, 0), else_=1)).label("down"))
            .select_from(A.join(O, O.c.conversation_id == A.c.conversation_id))
            .where(self._where(f), A.c.article_id.in_(articles), *self._near(A.c.created_at, f))
            .group_by(A.c.article_id)
        )
        return {r["article_id"]: (int(r["up"] or 0), int(r["down"] or 0)) for r in await self._all(stmt)}

    async def feedback_totals(self, f: Filters) -> FeedbackTotals:
        """Thumbs up and down on answers of the period's conversations."""
        A = answer_feedback  # noqa: N806
        stmt = (
            select(func.sum(case((A.c.helpful, 1), else_=0)).label("up"),
                   func.sum(case((A.c.helpful, 0), else_=1)).label("down"))
            .select_from(A.join(O, O.c.conversation_id == A.c.conversation_id))
            .where(self._where(f), *self._near(A.c.created_at, f))
        )
        row = (await self._all(stmt))[0]
        up, down = int(row["up"] or 0), int(row["down"] or 0)
        return {"thumbs_up": up, "thumbs_down": down, "helpful_share": _ratio(up, up + down)}

    # ------------------------------------------------------------------ unanswered
    def _u_where(self, f: Filters) -> Sql:
        cond = [U.c.created_at >= f.since, U.c.created_at < f.until]
        if f.channel:
            cond.append(U.c.channel == f.channel)
        if f.language:
            cond.append(U.c.language == f.language)
        return and_(*cond)

    async def unanswered(self, f: Filters, limit: int = 25) -> Unanswered:
        """Unanswered questions of the period: by kind, the most frequent and the latest ``limit``."""
        by_kind = await self._all(
            select(U.c.kind, func.count().label("n")).where(self._u_where(f)).group_by(U.c.kind).order_by(desc("n"))
        )
        question = func.lower(func.trim(U.c.question))
        top = await self._all(
            select(question.label("question"), U.c.kind, func.count().label("n"),
                   func.max(U.c.created_at).label("last_seen"))
            .where(self._u_where(f))
            .group_by(question, U.c.kind)
            .order_by(desc("n"), question)
            .limit(limit)
        )
        recent = await self._all(
            select(U.c.conversation_id, U.c.created_at, U.c.kind, U.c.question, U.c.channel, U.c.language)
            .where(self._u_where(f))
            .order_by(U.c.created_at.desc(), U.c.id.desc())
            .limit(limit)
        )
        return {
            "by_kind": [{"kind": r["kind"], "n": r["n"]} for r in by_kind],
            "top": [{"question": r["question"], "kind": r["kind"], "n": r["n"], "last_seen": _iso(r["last_seen"])}
                    for r in top],
            "recent": [{"conversation_id": r["conversation_id"], "created_at": _iso(r["created_at"]), "kind": r["kind"],
                        "question": r["question"], "channel": r["channel"], "language": r["language"]}
                       for r in recent],
        }

    # ------------------------------------------------------------------ conversations
    async def low_rated(self, f: Filters, limit: int = 50, max_score: int = LOW_SCORE) -> List[RatedConversation]:
        """The period's conversations rated ``max_score`` or lower, newest first."""
        return await self.rated(f, limit=limit, max_score=max_score)

    async def rated(self, f: Filters, limit: Optional[int] = 50, max_score: int = 5) -> List[RatedConversation]:
        """The period's rated conversations (score at most ``max_score``), newest first."""
        stmt = (
            select(O.c.conversation_id, O.c.started_at, O.c.channel, O.c.language, O.c.topic_article_id,
                   O.c.end_reason, O.c.agent_joined, O.c.handoff_requested, R.c.score, R.c.comment,
                   R.c.updated_at.label("rated_at"))
            .select_from(O.join(R, R.c.conversation_id == O.c.conversation_id))
            # a literal, not a bound parameter: it matches the partial index ix_outcomes_low_started
            .where(self._where(f), O.c.score <= literal_column(str(int(max_score))))
            .order_by(O.c.started_at.desc(), O.c.conversation_id)
        )
        if limit:
            stmt = stmt.limit(limit)
        return [
            {"conversation_id": r["conversation_id"], "started_at": _iso(r["started_at"]), "channel": r["channel"],
             "language": r["language"], "topic_article_id": r["topic_article_id"], "end_reason": r["end_reason"],
             "agent_joined": r["agent_joined"], "handoff_requested": r["handoff_requested"], "score": r["score"],
             "comment": r["comment"], "rated_at": _iso(r["rated_at"])}
            for r in await self._all(stmt)
        ]

    async def conversation(self, conversation_id: str, history_limit: int = 500) -> Optional[ConversationDetail]:
        """One conversation's outcome, rating, masked transcript and votes; None when nothing is stored."""
        outcome = await self._all(select(O).where(O.c.conversation_id == conversation_id))
        rating = await self._all(select(R).where(R.c.conversation_id == conversation_id))
        messages = await self._all(
            select(M.c.id, M.c.created_at, M.c.sender_type, M.c.channel, M.c.text, M.c.kind, M.c.article_id,
                   M.c.confidence)
            .where(M.c.conversation_id == conversation_id)
            .order_by(M.c.created_at, M.c.id)
            .limit(history_limit)
        )
        feedback = await self._all(
            select(answer_feedback.c.feedback_id, answer_feedback.c.article_id, answer_feedback.c.helpful)
            .where(answer_feedback.c.conversation_id == conversation_id)
        )
        if not outcome and not messages and not rating:
            return None
        r = rating[0] if rating else None
        return {
            "conversation": ({k: _json(v) for k, v in outcome[0].items()} if outcome
                             else {"conversation_id": conversation_id}),
            "rating": {"score": r["score"], "skipped": r["skipped"], "comment": r["comment"],
                       "rated_at": _iso(r["updated_at"])} if r else None,
            "messages": [{"id": m["id"], "created_at": _iso(m["created_at"]), "sender_type": m["sender_type"],
                          "channel": m["channel"], "text": m["text"], "kind": m["kind"], "article_id": m["article_id"],
                          "confidence": m["confidence"]} for m in messages],
            "feedback": [{"feedback_id": v["feedback_id"], "article_id": v["article_id"], "helpful": v["helpful"]}
                         for v in feedback],
        }

    async def dashboard(self, f: Filters) -> Dashboard:
        """Everything the page shows; the independent queries run concurrently (one connection each)."""
        (days, waits, votes, topics, unanswered, low), (channels, languages) = await asyncio.gather(
            asyncio.gather(self.daily(f), self.handoff_waits(f), self.feedback_totals(f), self.topics(f),
                           self.unanswered(f), self.low_rated(f)),
            asyncio.gather(self.values(O.c.channel), self.values(O.c.language)),
        )
        return {
            "filters": f.as_dict(),
            "summary": {**self._summary_from(days.values()), **waits, **votes},
            "trend": self._trend_from(f, days),
            "distribution": self._distribution_from(days.values()),
            "topics": topics,
            "unanswered": unanswered,
            "low_rated": low,
            "channels": channels,
            "languages": languages,
        }

    async def values(self, column: Sql) -> List[str]:
        """Distinct channels / languages for the filter lists (cached a minute: a full scan at 1M rows)."""
        hit = self._values_cache.get(column.name)
        if hit and hit[0] > monotonic():
            return hit[1]
        values = [r["v"] for r in await self._all(select(column.label("v")).distinct().order_by(column).limit(50))]
        self._values_cache[column.name] = (monotonic() + 60.0, values)
        return values
