"""Every dashboard metric on small hand-made data (definitions: bot/analytics/METRICS.md),
in SQLite and in real PostgreSQL (fresh schema per test)."""
from __future__ import annotations

import os
import random
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.analytics.queries import AnalyticsQueries, Filters, percentile
from bot.analytics.store import AnalyticsRepository
from bot.db.models import HandoffEvent
from bot.db.repository import TranscriptEntry, TranscriptRepository

pytestmark = pytest.mark.asyncio
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def at(s: str) -> str:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc).isoformat()


def turn(conv, when, channel="socketio", language="en", **kw):
    return {"op": "turn", "conversation_id": conv, "at": at(when), "channel": channel, "language": language,
            "taxpayer_messages": 1, "answers": kw.get("answers", 0), "unanswered": len(kw.get("rows", [])),
            "topic": kw.get("topic"), "handoff_requested": kw.get("handoff", False),
            "agent_joined": kw.get("agent", False), "unanswered_rows": kw.get("rows", [])}


def end(conv, when, reason="thanks", survey=True):
    return {"op": "end", "conversation_id": conv, "at": at(when), "reason": reason, "survey": survey}


def rating(conv, when, score=None, skipped=False, comment=None):
    return {"op": "rating", "conversation_id": conv, "at": at(when), "score": score, "skipped": skipped,
            "comment": comment, "channel": "socketio"}


def fb(conv, fid, article, helpful, when):
    return {"op": "feedback", "conversation_id": conv, "feedback_id": fid, "article_id": article,
            "helpful": helpful, "at": at(when)}


PERIOD = Filters(date(2026, 3, 2), date(2026, 3, 3))  # Beijing days


async def seed(engine) -> None:
    repo = AnalyticsRepository(engine)
    ops = [
        # a: 2026-03-02 00:30 Beijing (the day boundary is Beijing midnight), answered, rated 5
        turn("a", "2026-03-01T16:30:00", topic="art-x", answers=1), end("a", "2026-03-01T16:35:00"),
        rating("a", "2026-03-01T16:36:00", 5),
        # b: REST, Chinese, handed to an agent (waited 30 s), rated 4 then changed to 2 (the old 4 replayed late)
        turn("b", "2026-03-02T03:00:00", channel="rest", language="zh", topic="art-x", answers=1, handoff=True),
        turn("b", "2026-03-02T03:05:00", channel="rest", language="zh", agent=True),
        end("b", "2026-03-02T03:20:00", reason="agent_resolved"),
        rating("b", "2026-03-02T03:21:00", 4), rating("b", "2026-03-02T03:22:00", 2, comment="slow"),
        rating("b", "2026-03-02T03:21:00", 4),
        # c: asked, skipped
        turn("c", "2026-03-03T01:00:00", topic="art-y", answers=2),
        turn("c", "2026-03-03T01:04:00", handoff=True),  # asked for an officer, gave up waiting
        end("c", "2026-03-03T01:10:00", "goodbye"),
        rating("c", "2026-03-03T01:11:00", skipped=True),
        # d: out of scope question, handoff (waited 90 s), never asked, rated 4 through the API; a skip never erases it
        turn("d", "2026-03-03T05:00:00", rows=[{"kind": "out_of_scope", "question": "Weather tomorrow?"}]),
        turn("d", "2026-03-03T05:01:00", handoff=True),
        rating("d", "2026-03-03T05:30:00", 4), rating("d", "2026-03-03T05:31:00", skipped=True),
        # g: 2026-03-01 23:59 Beijing: outside the period; e: 2026-03-05: outside
        turn("g", "2026-03-01T15:59:00", topic="art-x", answers=1), end("g", "2026-03-01T16:00:00"),
        rating("g", "2026-03-01T16:01:00", 1),
        turn("e", "2026-03-05T02:00:00", rows=[{"kind": "fallback", "question": "asdf"}]),
        rating("e", "2026-03-05T02:01:00", 1),
        # thumbs: a's answer up; b's down then up; c's down; g's (outside) down
        fb("a", "f1", "art-x", True, "2026-03-01T16:31:00"),
        fb("b", "f2", "art-x", False, "2026-03-02T03:01:00"), fb("b", "f2", "art-x", True, "2026-03-02T03:02:00"),
        fb("c", "f3", "art-y", False, "2026-03-03T01:02:00"), fb("g", "f4", "art-x", False, "2026-03-01T15:59:30"),
    ]
    for op in ops:
        await repo.apply(op)
    rows = [("b", "queued", "2026-03-02T03:01:00", None), ("b", "claimed", "2026-03-02T03:01:30", 30.0),
            ("d", "claimed", "2026-03-03T05:02:30", 90.0), ("e", "abandoned", "2026-03-05T02:05:00", None),
            ("c", "abandoned", "2026-03-03T01:05:00", None),
            ("a", "claimed", "2026-03-09T00:00:00", 500.0)]  # a week later: not a claim of that conversation's visit
    async with engine.begin() as conn:
        await conn.execute(HandoffEvent.__table__.insert(), [
            {"conversation_id": c, "event_type": t,
             "created_at": datetime.fromisoformat(w).replace(tzinfo=timezone.utc), "agent": "wang",
             "reason": "requested", "data": {"waited_seconds": x} if x is not None else None}
            for c, t, w, x in rows])


async def test_summary_definitions(engine) -> None:
    await seed(engine)
    s = await AnalyticsQueries(engine).summary(PERIOD)
    assert s["conversations"] == 4  # a, b, c, d (started in the period)
    assert s["surveyed"] == 3  # a, b, c were asked
    assert s["rated"] == 3  # a 5, b 2, d 4 (c skipped)
    assert s["response_rate"] == pytest.approx(2 / 3, abs=1e-4)  # a and b answered of a, b, c asked
    assert s["csat"] == pytest.approx(2 / 3, abs=1e-4)  # 5 and 4 of 5, 2, 4
    assert s["avg_score"] == pytest.approx(3.67, abs=0.01)
    assert s["low_rated"] == 1
    assert s["handed_off"] == 3 and s["handoff_rate"] == 0.75 and s["containment"] == 0.25  # b, c, d
    assert s["agent_joined"] == 1  # b (d's claim is only in handoff_events)
    assert s["handoff_claimed"] == 2
    assert s["wait_median_seconds"] == 60.0 and s["wait_avg_seconds"] == 60.0
    assert s["wait_p90_seconds"] == pytest.approx(84.0)  # 30 + 0.9 * (90 - 30)
    assert s["handoff_abandoned"] == 1  # c; e is outside the period
    assert s["unanswered_rate"] == 0.25


async def test_filters_channel_language_and_empty(engine) -> None:
    await seed(engine)
    q = AnalyticsQueries(engine)
    rest = await q.summary(Filters(PERIOD.start, PERIOD.end, channel="rest"))
    assert rest["conversations"] == 1 and rest["csat"] == 0.0 and rest["avg_score"] == 2.0
    en = await q.summary(Filters(PERIOD.start, PERIOD.end, language="en"))
    assert en["conversations"] == 3
    empty = await q.summary(Filters(date(2025, 1, 1), date(2025, 1, 2)))
    assert empty["conversations"] == 0 and empty["csat"] is None and empty["containment"] is None
    assert empty["wait_median_seconds"] is None


async def test_trend_distribution_topics(engine) -> None:
    await seed(engine)
    q = AnalyticsQueries(engine)
    trend = await q.trend(PERIOD)
    assert trend == [
        {"day": "2026-03-02", "conversations": 2, "rated": 2, "csat": 0.5, "avg_score": 3.5, "handoff_rate": 0.5},
        {"day": "2026-03-03", "conversations": 2, "rated": 1, "csat": 1.0, "avg_score": 4.0, "handoff_rate": 1.0},
    ]
    assert await q.distribution(PERIOD) == [
        {"score": 1, "count": 0}, {"score": 2, "count": 1}, {"score": 3, "count": 0},
        {"score": 4, "count": 1}, {"score": 5, "count": 1},
    ]
    topics = await q.topics(PERIOD)
    assert [t["article_id"] for t in topics] == ["art-x", "art-y"]
    x, y = topics
    assert (x["conversations"], x["rated"], x["csat"], x["avg_score"]) == (2, 2, 0.5, 3.5)
    assert (x["thumbs_up"], x["thumbs_down"], x["helpful_share"]) == (2, 0, 1.0)  # b's later click replaced its first
    assert (y["conversations"], y["rated"], y["csat"], y["thumbs_down"]) == (1, 0, None, 1)
    totals = await q.feedback_totals(PERIOD)
    assert totals == {"thumbs_up": 2, "thumbs_down": 1, "helpful_share": pytest.approx(0.6667, abs=1e-4)}


async def test_unanswered_low_rated_and_transcript(engine) -> None:
    await seed(engine)
    await TranscriptRepository(engine).add([
        TranscriptEntry("b", "taxpayer", "rest", "我的电话 138****5678"),
        TranscriptEntry("b", "bot", "rest", "答复", kind="answer", article_id="art-x"),
    ])
    q = AnalyticsQueries(engine)
    u = await q.unanswered(PERIOD)
    assert u["by_kind"] == [{"kind": "out_of_scope", "n": 1}]
    assert [(t["question"], t["kind"], t["n"]) for t in u["top"]] == [("weather tomorrow?", "out_of_scope", 1)]
    assert [r["conversation_id"] for r in u["recent"]] == ["d"]
    low = await q.low_rated(PERIOD)
    assert [(r["conversation_id"], r["score"], r["comment"]) for r in low] == [("b", 2, "slow")]
    conv = await q.conversation("b")
    assert conv["rating"]["score"] == 2 and conv["conversation"]["end_reason"] == "agent_resolved"
    assert [m["text"] for m in conv["messages"]] == ["我的电话 138****5678", "答复"]
    assert await q.conversation("nope") is None
    dash = await q.dashboard(PERIOD)
    assert set(dash) >= {"summary", "trend", "distribution", "topics", "unanswered", "low_rated", "channels",
                         "languages"}
    assert dash["channels"] == ["rest", "socketio"]


async def test_percentile_matches_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10.0], 0.9) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


async def test_percentile_is_postgresql_percentile_cont_to_the_last_digit(require_service) -> None:
    """SQLite's waits are computed in Python: the same figures as PostgreSQL's, rounding included."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    engine = create_async_engine(PG_URL, future=True)
    rng = random.Random(7)
    query = text("SELECT percentile_cont(:q) WITHIN GROUP (ORDER BY v) FROM unnest(CAST(:values AS float8[])) AS v")
    try:
        async with engine.connect() as conn:
            for n in (1, 2, 3, 4, 7, 10, 11, 28, 50, 60):
                values = sorted(round(rng.lognormvariate(4.6, 0.7), 1) for _ in range(n))  # waits, as stored
                for q in (0.5, 0.9):
                    expected = (await conn.execute(query, {"q": q, "values": values})).scalar()
                    assert percentile(values, q) == expected, (values, q)
    finally:
        await engine.dispose()
