"""The dashboard's queries (definitions in METRICS.md). SQLite and PostgreSQL.

Every figure is about the conversations that *started* in the chosen period (days in Beijing time,
UTC+8, both ends included), optionally of one channel and one language.
"""
from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, case, desc, func, literal, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics.models import answer_feedback, conversation_outcomes as O, conversation_ratings as R, unanswered_questions as U
from bot.db.models import HandoffEvent, Message

BEIJING = timezone(timedelta(hours=8))
LOW_SCORE = 2  # ratings 1-2 are "low"
NEAR_DAYS = 2  # a claim or an answer vote counts for its conversation when within 2 days of the period
H = HandoffEvent.__table__
# a conversation with handoff events was handed off (its request went through the gateway); this
# predicate matches the partial index ix_outcomes_handoff
HANDED_OFF = O.c.handoff_requested | O.c.agent_joined


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    channel: Optional[str] = None
    language: Optional[str] = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), BEIJING).astimezone(timezone.utc)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), BEIJING).astimezone(timezone.utc)

    def as_dict(self) -> Dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "channel": self.channel,
                "language": self.language}


def _ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    return round(float(num) / float(den), 4) if den else None


def _round(value: Any, digits: int = 2) -> Optional[float]:
    return None if value is None else round(float(value), digits)


class AnalyticsQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ helpers
    def _where(self, f: Filters) -> Any:
        cond = [O.c.day >= f.start, O.c.day <= f.end]
        if f.channel:
            cond.append(O.c.channel == f.channel)
        if f.language:
            cond.append(O.c.language == f.language)
        return and_(*cond)

    @staticmethod
    def _near(column: Any, f: Filters) -> List[Any]:
        """Events (claims, votes) of the period's conversations happen within NEAR_DAYS of their start:
        this bound lets the database use the event table's time index before joining."""
        return [column >= f.since - timedelta(days=NEAR_DAYS), column < f.until + timedelta(days=NEAR_DAYS)]

    def _wait_seconds(self) -> Any:
        if self.pg:
            from sqlalchemy import Float, cast, literal_column

            return cast(H.c.data.op("->>")(literal_column("'waited_seconds'")), Float)
        return func.json_extract(H.c.data, "$.waited_seconds")

    async def _all(self, stmt: Any) -> List[Dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]

    # ------------------------------------------------------------------ one pass per day
    async def daily(self, f: Filters) -> List[Dict[str, Any]]:
        """Per-day sums over conversation_outcomes alone (the score is copied there): every figure of
        the summary, the trend and the distribution comes from this one query."""
        def count_if(cond: Any) -> Any:
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
        rows = []
        for r in await self._all(stmt):
            day = r["day"]
            r["day"] = day.isoformat() if hasattr(day, "isoformat") else str(day)
            rows.append({k: (v if k == "day" else int(v or 0)) for k, v in r.items()})
        return rows

    @staticmethod
    def _summary_from(days: List[Dict[str, Any]]) -> Dict[str, Any]:
        t = {k: sum(d[k] for d in days) for k in ("conversations", "surveyed", "rated", "answered_surveys", "score_sum",
                                                 "handed_off", "agent_joined", "with_unanswered", "s1", "s2", "s3", "s4", "s5")}
        n = t["conversations"]
        satisfied = t["s4"] + t["s5"]
        return {
            "conversations": n,
            "surveyed": t["surveyed"],
            "rated": t["rated"],
            "csat": _ratio(satisfied, t["rated"]),
            "avg_score": _round(t["score_sum"] / t["rated"]) if t["rated"] else None,
            "response_rate": _ratio(t["answered_surveys"], t["surveyed"]),
            "low_rated": sum(t[f"s{k}"] for k in range(1, LOW_SCORE + 1)),
            "containment": _ratio(n - t["handed_off"], n),
            "handoff_rate": _ratio(t["handed_off"], n),
            "handed_off": t["handed_off"],
            "agent_joined": t["agent_joined"],
            "unanswered_rate": _ratio(t["with_unanswered"], n),
        }

    @staticmethod
    def _trend_from(f: Filters, days: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        rows = {d["day"]: d for d in days}
        out = []
        d = f.start
        while d <= f.end:  # every day of the period, zeros included
            r = rows.get(d.isoformat()) or {}
            n, rated = r.get("conversations", 0), r.get("rated", 0)
            out.append({"day": d.isoformat(), "conversations": n, "rated": rated,
                        "csat": _ratio(r.get("s4", 0) + r.get("s5", 0), rated),
                        "avg_score": _round(r["score_sum"] / rated) if rated else None,
                        "handoff_rate": _ratio(r.get("handed_off"), n)})
            d += timedelta(days=1)
        return out

    @staticmethod
    def _distribution_from(days: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [{"score": s, "count": sum(d[f"s{s}"] for d in days)} for s in range(1, 6)]

    async def summary(self, f: Filters) -> Dict[str, Any]:
        days, waits = await asyncio.gather(self.daily(f), self.handoff_waits(f))
        return {**self._summary_from(days), **waits}

    async def trend(self, f: Filters) -> List[Dict[str, Any]]:
        return self._trend_from(f, await self.daily(f))

    async def distribution(self, f: Filters) -> List[Dict[str, Any]]:
        return self._distribution_from(await self.daily(f))

    async def handoff_waits(self, f: Filters) -> Dict[str, Any]:
        """Waiting time (queued -> claimed) from handoff_events 'claimed' of the period's conversations."""
        wait = self._wait_seconds()
        base = (
            select(wait.label("w"))
            .select_from(H.join(O, O.c.conversation_id == H.c.conversation_id))
            .where(self._where(f), HANDED_OFF, H.c.event_type == "claimed", *self._near(H.c.created_at, f))
        )
        abandoned_stmt = (
            select(func.count(func.distinct(H.c.conversation_id)))
            .select_from(H.join(O, O.c.conversation_id == H.c.conversation_id))
            .where(self._where(f), HANDED_OFF, H.c.event_type == "abandoned", *self._near(H.c.created_at, f))
        )
        async with self.engine.connect() as conn:
            if self.pg:  # one pass over the events of both kinds (one join with the outcomes)
                both = (
                    select(wait.label("w"), H.c.event_type.label("t"), H.c.conversation_id.label("c"))
                    .select_from(H.join(O, O.c.conversation_id == H.c.conversation_id))
                    .where(self._where(f), HANDED_OFF, H.c.event_type.in_(["claimed", "abandoned"]),
                           *self._near(H.c.created_at, f))
                ).subquery()
                w = case((both.c.t == "claimed", both.c.w))  # NULL otherwise: ignored by the aggregates
                gone = case((both.c.t == "abandoned", both.c.c))
                row = (await conn.execute(select(
                    func.count(w), func.avg(w), func.percentile_cont(0.5).within_group(w),
                    func.percentile_cont(0.9).within_group(w), func.count(func.distinct(gone)),
                ))).first()
                count, mean, median, p90, abandoned = row
                return {"handoff_claimed": int(count or 0), "wait_avg_seconds": _round(mean, 1),
                        "wait_median_seconds": _round(median, 1), "wait_p90_seconds": _round(p90, 1),
                        "handoff_abandoned": int(abandoned or 0)}
            else:
                waits = sorted(float(r[0]) for r in (await conn.execute(base)).all() if r[0] is not None)
                count = len(waits)
                mean = statistics.fmean(waits) if waits else None
                median = percentile(waits, 0.5)
                p90 = percentile(waits, 0.9)
            abandoned = (await conn.execute(abandoned_stmt)).scalar() or 0
        return {"handoff_claimed": int(count or 0), "wait_avg_seconds": _round(mean, 1),
                "wait_median_seconds": _round(median, 1), "wait_p90_seconds": _round(p90, 1),
                "handoff_abandoned": int(abandoned)}

    # ------------------------------------------------------------------ topics
    async def topics(self, f: Filters, limit: int = 20) -> List[Dict[str, Any]]:
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
        return [
            {"article_id": r["article_id"], "conversations": r["conversations"], "rated": r["rated"],
             "csat": _ratio(r["satisfied"], r["rated"]), "avg_score": _round(r["avg_score"]),
             "thumbs_up": thumbs.get(r["article_id"], (0, 0))[0], "thumbs_down": thumbs.get(r["article_id"], (0, 0))[1],
             "helpful_share": _ratio(thumbs.get(r["article_id"], (0, 0))[0], sum(thumbs.get(r["article_id"], (0, 0))))}
            for r in rows
        ]

    async def _thumbs(self, f: Filters, articles: List[str]) -> Dict[str, tuple]:
        if not articles:
            return {}
        A = answer_feedback
        stmt = (
            select(A.c.article_id, func.sum(case((A.c.helpful, 1), else_=0)).label("up"),
                   func.sum(case((A.c.helpful, 0), else_=1)).label("down"))
            .select_from(A.join(O, O.c.conversation_id == A.c.conversation_id))
            .where(self._where(f), A.c.article_id.in_(articles), *self._near(A.c.created_at, f))
            .group_by(A.c.article_id)
        )
        return {r["article_id"]: (int(r["up"] or 0), int(r["down"] or 0)) for r in await self._all(stmt)}

    async def feedback_totals(self, f: Filters) -> Dict[str, Any]:
        A = answer_feedback
        stmt = (
            select(func.sum(case((A.c.helpful, 1), else_=0)).label("up"), func.sum(case((A.c.helpful, 0), else_=1)).label("down"))
            .select_from(A.join(O, O.c.conversation_id == A.c.conversation_id))
            .where(self._where(f), *self._near(A.c.created_at, f))
        )
        row = (await self._all(stmt))[0]
        up, down = int(row["up"] or 0), int(row["down"] or 0)
        return {"thumbs_up": up, "thumbs_down": down, "helpful_share": _ratio(up, up + down)}

    # ------------------------------------------------------------------ unanswered
    def _u_where(self, f: Filters) -> Any:
        cond = [U.c.created_at >= f.since, U.c.created_at < f.until]
        if f.channel:
            cond.append(U.c.channel == f.channel)
        if f.language:
            cond.append(U.c.language == f.language)
        return and_(*cond)

    async def unanswered(self, f: Filters, limit: int = 25) -> Dict[str, Any]:
        by_kind = await self._all(
            select(U.c.kind, func.count().label("n")).where(self._u_where(f)).group_by(U.c.kind).order_by(desc("n"))
        )
        question = func.lower(func.trim(U.c.question))
        top = await self._all(
            select(question.label("question"), U.c.kind, func.count().label("n"), func.max(U.c.created_at).label("last_seen"))
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
        for r in top:
            r["last_seen"] = _iso(r["last_seen"])
        for r in recent:
            r["created_at"] = _iso(r["created_at"])
        return {"by_kind": by_kind, "top": top, "recent": recent}

    # ------------------------------------------------------------------ conversations
    async def low_rated(self, f: Filters, limit: int = 50, max_score: int = LOW_SCORE) -> List[Dict[str, Any]]:
        return await self.rated(f, limit=limit, max_score=max_score)

    async def rated(self, f: Filters, limit: Optional[int] = 50, max_score: int = 5) -> List[Dict[str, Any]]:
        stmt = (
            select(O.c.conversation_id, O.c.started_at, O.c.channel, O.c.language, O.c.topic_article_id,
                   O.c.end_reason, O.c.agent_joined, O.c.handoff_requested, R.c.score, R.c.comment,
                   R.c.updated_at.label("rated_at"))
            .select_from(O.join(R, R.c.conversation_id == O.c.conversation_id))
            .where(self._where(f), O.c.score <= literal_column(str(int(max_score))))  # literal: matches the partial index
            .order_by(O.c.started_at.desc(), O.c.conversation_id)
        )
        if limit:
            stmt = stmt.limit(limit)
        rows = await self._all(stmt)
        for r in rows:
            r["started_at"] = _iso(r["started_at"])
            r["rated_at"] = _iso(r["rated_at"])
        return rows

    async def conversation(self, conversation_id: str, history_limit: int = 500) -> Optional[Dict[str, Any]]:
        outcome = await self._all(select(O).where(O.c.conversation_id == conversation_id))
        rating = await self._all(select(R).where(R.c.conversation_id == conversation_id))
        M = Message.__table__
        messages = await self._all(
            select(M.c.id, M.c.created_at, M.c.sender_type, M.c.channel, M.c.text, M.c.kind, M.c.article_id, M.c.confidence)
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
        for m in messages:
            m["created_at"] = _iso(m["created_at"])
        out = outcome[0] if outcome else {"conversation_id": conversation_id}
        for key in ("started_at", "last_activity_at", "ended_at", "survey_requested_at"):
            if key in out:
                out[key] = _iso(out[key])
        if hasattr(out.get("day"), "isoformat"):
            out["day"] = out["day"].isoformat()
        r = rating[0] if rating else None
        if r:
            r = {"score": r["score"], "skipped": r["skipped"], "comment": r["comment"], "rated_at": _iso(r["updated_at"])}
        return {"conversation": out, "rating": r, "messages": messages, "feedback": feedback}

    async def dashboard(self, f: Filters) -> Dict[str, Any]:
        """Everything the page shows; the independent queries run concurrently (one connection each)."""
        days, waits, votes, topics, unanswered, low, channels, languages = await asyncio.gather(
            self.daily(f), self.handoff_waits(f), self.feedback_totals(f), self.topics(f), self.unanswered(f),
            self.low_rated(f), self.values(O.c.channel), self.values(O.c.language),
        )
        return {
            "filters": f.as_dict(),
            "summary": {**self._summary_from(days), **waits, **votes},
            "trend": self._trend_from(f, days),
            "distribution": self._distribution_from(days),
            "topics": topics,
            "unanswered": unanswered,
            "low_rated": low,
            "channels": channels,
            "languages": languages,
        }

    async def values(self, column: Any) -> List[str]:
        """Distinct channels / languages for the filter lists (cached a minute: a full scan at 1M rows)."""
        import time as _time

        cache = self.__dict__.setdefault("_values_cache", {})
        hit = cache.get(column.name)
        if hit and hit[0] > _time.monotonic():
            return hit[1]
        values = [r["v"] for r in await self._all(select(column.label("v")).distinct().order_by(column).limit(50))]
        cache[column.name] = (_time.monotonic() + 60.0, values)
        return values


def percentile(values: List[float], q: float) -> Optional[float]:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont) of sorted values."""
    if not values:
        return None
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _iso(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


_ = literal  # re-exported for callers building custom filters
