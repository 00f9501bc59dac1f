"""A write the database refuses for good goes to the dead letters after a few tries and never holds up
the ratings, votes and outcomes behind it; an unreachable database is retried, in order, for as long
as it lasts (issue 14). SQLite and a real PostgreSQL (fresh schema per test)."""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics import store
from bot.analytics.models import answer_feedback, conversation_outcomes, conversation_ratings
from bot.analytics.store import AnalyticsRepository, DurableWriter
from bot.tasks import background

AT = "2026-03-01T08:00:00+00:00"


def rating(conv: str, score: int, comment: str = "") -> Dict[str, Any]:
    return {"op": "rating", "conversation_id": conv, "score": score, "comment": comment or None, "at": AT,
            "channel": "rest"}


async def dead_letters(engine: AsyncEngine) -> List[Dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT kind, payload, error, tries FROM dead_letters ORDER BY id")))
        letters = [dict(r) for r in rows.mappings().all()]
    for letter in letters:  # SQLite hands JSON back as text
        if isinstance(letter["payload"], str):
            letter["payload"] = json.loads(letter["payload"])
    return letters


async def test_refused_writes_go_to_dead_letters_and_the_rest_goes_on(engine, tmp_path) -> None:
    writer = DurableWriter(AnalyticsRepository(engine), tmp_path / "spool.jsonl", retry_seconds=0.05)
    broken_transcript = {"op": "transcript", "entries": [{  # no sender: NOT NULL refuses it (IntegrityError)
        "entry_id": uuid.uuid4().hex, "conversation_id": "c-bad", "sender_type": None, "channel": "rest",
        "text": "x", "kind": None, "article_id": None, "confidence": None, "payload": None, "created_at": AT,
        "language": "en"}]}
    assert await writer.write(broken_transcript) == "buffered"  # type: ignore[arg-type]
    await writer.write({"op": "rating", "conversation_id": "c-none", "score": None, "at": AT})  # ValueError
    await writer.write(rating("c-good", 4, "clear"))
    await writer.write({"op": "feedback", "conversation_id": "c-good", "feedback_id": "f1", "helpful": True, "at": AT})
    await writer.write({"op": "end", "conversation_id": "c-good", "at": AT, "reason": "thanks", "channel": "rest"})

    assert await writer.flush() is True
    assert writer.pending == 0 and not (tmp_path / "spool.jsonl").exists()
    async with engine.connect() as conn:
        ratings = (await conn.execute(select(conversation_ratings.c.conversation_id, conversation_ratings.c.score)))
        assert ratings.all() == [("c-good", 4)]
        assert (await conn.execute(select(answer_feedback.c.helpful))).scalars().all() == [True]
        assert (await conn.execute(select(conversation_outcomes.c.end_reason))).scalars().all() == ["thanks"]
    letters = await dead_letters(engine)
    assert [(d["kind"], d["tries"]) for d in letters] == [("transcript", 3), ("rating", 3)]
    assert letters[1]["payload"]["conversation_id"] == "c-none" and "score" in letters[1]["error"]
    assert writer.dead_lettered == 2
    assert await writer.write(rating("c-next", 5)) == "stored"  # nothing is waiting any more


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite stores NUL characters
async def test_postgresql_refuses_a_nul_in_a_comment(engine, tmp_path) -> None:
    writer = DurableWriter(AnalyticsRepository(engine), tmp_path / "spool.jsonl", retry_seconds=0.05)
    await writer.write(rating("c-nul", 2, "bad\x00comment"))
    await writer.write(rating("c-after", 5, "fine"))
    assert await writer.flush() is True
    async with engine.connect() as conn:
        stored = (await conn.execute(select(conversation_ratings.c.conversation_id))).scalars().all()
    assert stored == ["c-after"]
    [letter] = await dead_letters(engine)
    assert letter["kind"] == "rating" and letter["payload"]["comment"] == "bad\x00comment"
    assert "CharacterNotInRepertoire" in letter["error"] or "0x00" in letter["error"]


class Outage:
    """Refuses connections ``failures`` times, then applies (a database that comes back)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.applied: List[str] = []
        self.dead: List[Dict[str, Any]] = []

    async def apply(self, op: Dict[str, Any]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("connection refused")
        self.applied.append(op["conversation_id"])

    async def apply_all(self, ops: List[Dict[str, Any]]) -> None:  # all or none, as in one transaction
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("connection refused")
        self.applied.extend(op["conversation_id"] for op in ops)

    async def dead_letter(self, op: Dict[str, Any], error: str, tries: int) -> None:
        self.dead.append(op)


async def test_an_unreachable_database_is_retried_in_order_and_nothing_is_dead_lettered(tmp_path) -> None:
    sink = Outage(failures=20)
    writer = DurableWriter(sink, tmp_path / "spool.jsonl", max_tries=3)
    for n in range(5):
        assert await writer.write(rating(f"c{n}", 1 + n)) == "buffered"
    for _ in range(19):  # many more failures than max_tries
        assert await writer.flush() is False
    assert await writer.flush() is True
    assert sink.applied == ["c0", "c1", "c2", "c3", "c4"] and sink.dead == []


async def test_drained_waits_for_the_retry_loop_and_gives_up_at_its_timeout(tmp_path) -> None:
    sink = Outage(failures=3)
    writer = DurableWriter(sink, tmp_path / "spool.jsonl", retry_seconds=0.05, max_backoff=0.05)
    assert await writer.drained(0.01)  # nothing written: nothing waits
    await writer.write(rating("c0", 2))
    assert await writer.drained(0.01) is False and writer.pending == 1  # the database is still down
    sink.failures = 2
    async with background(writer.run()):
        assert await writer.drained(5)
    assert sink.applied == ["c0"] and writer.pending == 0


def _dbapi(state: str, cls: type = sa_exc.DBAPIError, statement: Any = "INSERT ...") -> sa_exc.DBAPIError:
    orig = Exception("driver error")
    orig.sqlstate = state  # type: ignore[attr-defined]
    return cls(statement, {}, orig)


@pytest.mark.parametrize("error, transient", [
    (ConnectionRefusedError(111, "refused"), True),
    (TimeoutError(), True),
    (_dbapi("57P01"), True),  # the server was shut down under the statement
    (_dbapi("08006"), True),
    (_dbapi("40P01"), True),  # deadlock
    (_dbapi("55000", statement=None), True),  # refused while connecting (database not accepting connections)
    (_dbapi("22021"), False),  # NUL in text
    (_dbapi("23502", sa_exc.IntegrityError), False),
    (_dbapi("22001", sa_exc.DataError), False),
    (ValueError("a rating that is not skipped needs a score"), False),
])
def test_transient_or_refused(error: BaseException, transient: bool) -> None:
    assert store.is_transient(error) is transient


async def test_a_replayed_handoff_step_is_stored_once(engine, tmp_path) -> None:
    from bot.db.repository import handoff_event_op

    writer = DurableWriter(AnalyticsRepository(engine), tmp_path / "spool.jsonl")
    step = handoff_event_op("c-h", "requested", reason="requested", data={"outcome": "offline"})
    assert await writer.write(step) == "stored"
    assert await writer.write(dict(step)) == "stored"  # type: ignore[arg-type]  # replayed after a lost commit reply
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT conversation_id, event_type, reason FROM handoff_events"))).all()
    assert [tuple(r) for r in rows] == [("c-h", "requested", "requested")]
