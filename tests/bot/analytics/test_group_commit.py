"""Writes that arrive together share one transaction but not a refusal (issue 11, part 3).
SQLite and a real PostgreSQL (fresh schema per test)."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any, Dict, List, Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics.models import conversation_outcomes, conversation_ratings
from bot.analytics.store import AnalyticsRepository, DurableWriter, Write
from bot.db.models import Conversation, Message
from bot.db.repository import TranscriptEntry, transcript_op

pytestmark = pytest.mark.asyncio
AT = "2026-03-01T08:00:00+00:00"


class Counting(AnalyticsRepository):
    """The real repository, counting its transactions (and able to fail them as a lost connection would)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.transactions = 0
        self.down = False

    async def apply_all(self, ops: Sequence[Write]) -> None:
        self.transactions += 1
        if self.down:
            raise ConnectionRefusedError("database down")
        await super().apply_all(ops)


def turn(conv: str, text: str) -> List[Write]:
    """One taxpayer turn's writes: its outcome counts, then the transcript (question and answer)."""
    entries = [TranscriptEntry(conv, "taxpayer", "rest", text), TranscriptEntry(conv, "bot", "rest", "answer")]
    outcome: Dict[str, Any] = {"op": "turn", "conversation_id": conv, "at": AT, "channel": "rest", "answers": 1}
    return [outcome, transcript_op(entries)]  # type: ignore[list-item]


async def stored_messages(engine: AsyncEngine) -> Dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Message.__table__.c.conversation_id, func.count())
                                  .group_by(Message.__table__.c.conversation_id))
        return dict(rows.all())  # type: ignore[arg-type]


async def test_turns_arriving_together_are_committed_together_and_all_stored(engine, tmp_path) -> None:
    repo = Counting(engine)
    writer = DurableWriter(repo, tmp_path / "spool.jsonl")
    convs = [f"c{n}" for n in range(40)]

    async def one_turn(conv: str) -> List[str]:
        return [await writer.write(op) for op in turn(conv, f"question of {conv}")]

    results = await asyncio.gather(*(one_turn(c) for c in convs))
    assert results == [["stored", "stored"]] * 40
    assert repo.transactions < 20, repo.transactions  # 80 writes
    assert await stored_messages(engine) == {c: 2 for c in convs}
    async with engine.connect() as conn:
        answers = (await conn.execute(select(func.sum(conversation_outcomes.c.answers)))).scalar()
    assert answers == 40


async def test_a_refused_write_does_not_take_the_others_of_its_transaction_with_it(engine, tmp_path) -> None:
    writer = DurableWriter(AnalyticsRepository(engine), tmp_path / "spool.jsonl")
    good = [{"op": "rating", "conversation_id": f"g{n}", "score": 4, "at": AT, "channel": "rest"} for n in range(6)]
    bad = {"op": "rating", "conversation_id": "bad", "score": None, "at": AT}  # no score: refused (ValueError)
    results = await asyncio.gather(*(writer.write(op) for op in [*good[:3], bad, *good[3:]]))  # type: ignore[arg-type]
    # the refused one is kept (and tried again, then set aside), and those after it wait behind it, in order
    assert results == ["stored"] * 3 + ["buffered"] * 4
    assert await writer.flush() is True and writer.dead_lettered == 1
    async with engine.connect() as conn:
        rated = (await conn.execute(select(conversation_ratings.c.conversation_id))).scalars().all()
    assert sorted(rated) == [f"g{n}" for n in range(6)]


async def test_writes_of_a_commit_that_failed_are_kept_in_order_and_stored_once_it_is_back(engine, tmp_path) -> None:
    repo = Counting(engine)
    writer = DurableWriter(repo, tmp_path / "spool.jsonl", retry_seconds=0.05)
    repo.down = True
    convs = [f"d{n}" for n in range(10)]
    results = await asyncio.gather(*(writer.write(turn(c, "q")[1]) for c in convs))
    assert set(results) == {"buffered"}
    assert len((tmp_path / "spool.jsonl").read_text().splitlines()) == 10  # on disk, not only in memory
    repo.down = False
    assert await writer.write(turn("d-after", "q")[1]) == "buffered"  # behind the kept ones
    assert await writer.flush() is True
    assert await stored_messages(engine) == {c: 2 for c in [*convs, "d-after"]}


async def test_a_write_whose_caller_gave_up_is_still_stored(engine, tmp_path) -> None:
    writer = DurableWriter(AnalyticsRepository(engine), tmp_path / "spool.jsonl")
    conv = f"gone-{uuid.uuid4().hex[:6]}"
    task = asyncio.ensure_future(writer.write(turn(conv, "q")[1]))
    await asyncio.sleep(0)  # handed to the writer
    task.cancel()  # the taxpayer's connection closed
    await writer.settled()
    assert await stored_messages(engine) == {conv: 2}


async def test_conversations_committed_together_keep_their_own_channel(engine, tmp_path) -> None:
    writer = DurableWriter(AnalyticsRepository(engine), tmp_path / "spool.jsonl")
    ops = [transcript_op([TranscriptEntry(f"ch-{channel}", "taxpayer", channel, "q")])
           for channel in ("rest", "socketio", "wechat")]
    assert await asyncio.gather(*(writer.write(op) for op in ops)) == ["stored"] * 3
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Conversation.__table__.c.id, Conversation.__table__.c.channel))).all()
    assert sorted(rows) == [("ch-rest", "rest"), ("ch-socketio", "socketio"), ("ch-wechat", "wechat")]
