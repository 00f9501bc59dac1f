"""Writes of satisfaction logging, and the buffer that keeps them while the database is down.

``AnalyticsRepository`` applies one operation (``bot.analytics.ops``, transcript entries or a handoff
step) to the database; ``DurableWriter`` applies it at once or keeps it, in bounded memory and in an append-only
spool file, and retries in the original order until the database takes it. A write the database
refuses for good (bad data: ``is_transient`` is false) is tried ``max_tries`` times and then moved to
the ``dead_letters`` table, so it never holds up the writes behind it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Literal,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypedDict,
    Union,
    cast,
)

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.analytics.clock import beijing_day, parse_time, utcnow
from bot.analytics.models import answer_feedback, conversation_outcomes, conversation_ratings, unanswered_questions
from bot.analytics.ops import EndOp, FeedbackOp, Op, RatingOp, TurnOp
from bot.db.models import DeadLetter
from bot.db.repository import (
    HandoffEventOp,
    TranscriptEntry,
    TranscriptOp,
    insert_entries,
    insert_handoff_event,
)
from bot.db.statements import insert_on_conflict

log = logging.getLogger(__name__)

#: What ``DurableWriter.write`` did with an operation: in the database now, or kept for a retry.
WriteResult = Literal["stored", "buffered"]

#: One durable write: an analytics operation, transcript entries or a handoff step.
Write = Union[Op, TranscriptOp, HandoffEventOp]

#: SQLSTATE classes of failures that pass: connection, resources, operator intervention (restart),
#: transaction rollback (serialization, deadlock), lock not available, system errors.
TRANSIENT_SQLSTATES = ("08", "53", "57", "40", "55P03", "58")


def is_transient(exc: BaseException) -> bool:
    """False when the database refused this write (bad data), true when it was unreachable or busy.

    A refusal is a failed statement (not a failed connection) that is not a connection, resource or
    concurrency error, or an operation the repository cannot read (``ValueError``, ``TypeError``,
    ``LookupError``); anything else (refused or dropped connections, timeouts) is transient.
    """
    if isinstance(exc, (ValueError, TypeError, LookupError, sa_exc.CompileError)):
        return False
    if not isinstance(exc, sa_exc.StatementError):
        return True  # OSError, timeouts, pool errors, a driver error while connecting
    if not isinstance(exc, sa_exc.DBAPIError):
        return False  # the statement's parameters could not be processed
    if exc.connection_invalidated or exc.statement is None or isinstance(exc.orig, OSError):
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if isinstance(state, str) and state:
        return state.startswith(TRANSIENT_SQLSTATES)
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))  # SQLite: locked, busy, I/O


def _error_text(exc: BaseException) -> str:
    """The database's reason (without the statement and its parameters), for the dead-letter row."""
    reason = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    return f"{type(reason).__name__}: {reason}".replace("\x00", "\\0")[:2000]


#: One turn's counts added to its conversation's outcome row (created on the first turn); a new question after
#: the end re-opens the conversation. Compiled once (``bot.db.statements``).
UPSERT_TURN = insert_on_conflict(
    conversation_outcomes,
    ("conversation_id", "started_at", "day", "last_activity_at", "channel", "language", "taxpayer_messages",
     "answers", "unanswered", "topic_article_id", "handoff_requested", "agent_joined", "score"),
    "conversation_id",
    values={"score": "(SELECT score FROM conversation_ratings WHERE conversation_id = :conversation_id)"},
    update={
        "last_activity_at": "excluded.last_activity_at",
        "taxpayer_messages": "conversation_outcomes.taxpayer_messages + excluded.taxpayer_messages",
        "answers": "conversation_outcomes.answers + excluded.answers",
        "unanswered": "conversation_outcomes.unanswered + excluded.unanswered",
        "topic_article_id": "coalesce(conversation_outcomes.topic_article_id, excluded.topic_article_id)",
        "handoff_requested": "(conversation_outcomes.handoff_requested OR excluded.handoff_requested)",
        "agent_joined": "(conversation_outcomes.agent_joined OR excluded.agent_joined)",
        "ended_at": "NULL",
        "end_reason": "NULL",
    },
)


class IdleConversation(TypedDict):
    """A conversation claimed by the idle sweep (asked for a rating once)."""

    conversation_id: str
    channel: str
    language: str


class AnalyticsRepository:
    """Applies operations to the database (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def apply(self, op: Write) -> None:
        """Apply one operation in its own transaction; ValueError for an unknown kind."""
        await self.apply_all([op])

    async def apply_all(self, ops: Sequence[Write]) -> None:
        """Apply operations in order, in one transaction (all or none); transcript entries in one statement."""
        async with self.engine.begin() as conn:
            entries: List[TranscriptEntry] = []
            for op in ops:
                if op["op"] == "transcript":
                    entries.extend(TranscriptEntry.from_record(item) for item in op["entries"])
                    continue
                await insert_entries(conn, entries)  # the transcripts before it, in order
                entries = []
                await self._apply_in(conn, op)
            await insert_entries(conn, entries)

    async def _apply_in(self, conn: AsyncConnection, op: Write) -> None:
        if op["op"] == "handoff_event":
            await insert_handoff_event(conn, op)
        elif op["op"] == "turn":
            await self._turn(conn, op)
        elif op["op"] == "end":
            await self._end(conn, op)
        elif op["op"] == "rating":
            await self._rating(conn, op)
        elif op["op"] == "feedback":
            await self._feedback(conn, op)
        else:
            raise ValueError(f"unknown analytics operation {op.get('op')!r}")

    async def dead_letter(self, op: Write, error: str, tries: int) -> None:
        """Keep an operation the database refused for good in ``dead_letters``."""
        async with self.engine.begin() as conn:
            await conn.execute(DeadLetter.__table__.insert().values(
                kind=str(op.get("op")), payload=op, error=error, tries=tries, created_at=utcnow(),
            ))

    async def _turn(self, conn: AsyncConnection, op: TurnOp) -> None:
        at = parse_time(op["at"])
        language = op.get("language") or "en"
        await conn.execute(UPSERT_TURN, {
            "conversation_id": op["conversation_id"], "started_at": at, "day": beijing_day(at), "last_activity_at": at,
            "channel": op["channel"], "language": language, "taxpayer_messages": int(op.get("taxpayer_messages", 1)),
            "answers": int(op.get("answers", 0)), "unanswered": int(op.get("unanswered", 0)),
            "topic_article_id": op.get("topic"), "handoff_requested": bool(op.get("handoff_requested")),
            "agent_joined": bool(op.get("agent_joined")),
        })
        rows = op.get("unanswered_rows") or []
        if rows:
            await conn.execute(
                unanswered_questions.insert(),
                [
                    {"conversation_id": op["conversation_id"], "created_at": at, "kind": r["kind"],
                     "question": r.get("question"), "channel": op["channel"], "language": language}
                    for r in rows
                ],
            )

    async def _end(self, conn: AsyncConnection, op: EndOp) -> None:
        t = conversation_outcomes
        at = parse_time(op["at"])
        by_agent = op["reason"] == "agent_resolved"
        values: Dict[str, Any] = {"ended_at": at, "end_reason": op["reason"]}
        if op.get("survey"):
            values["survey_requested_at"] = at
        stmt = self._insert(t).values(
            conversation_id=op["conversation_id"], started_at=at, day=beijing_day(at), last_activity_at=at,
            channel=op.get("channel") or "unknown", language=op.get("language") or "en",
            taxpayer_messages=0, agent_joined=by_agent, handoff_requested=by_agent, **values,
        )
        set_ = dict(values)
        if op.get("survey"):
            set_["survey_requested_at"] = func.coalesce(t.c.survey_requested_at, stmt.excluded.survey_requested_at)
        if by_agent:
            set_["agent_joined"] = True
            set_["handoff_requested"] = True
        await conn.execute(stmt.on_conflict_do_update(index_elements=["conversation_id"], set_=set_))

    async def _rating(self, conn: AsyncConnection, op: RatingOp) -> None:
        t = conversation_ratings
        at = parse_time(op["at"])
        skipped = bool(op.get("skipped"))
        score = op["score"]
        if skipped:
            score = None
        elif score is None:
            raise ValueError("a rating that is not skipped needs a score")
        stmt = self._insert(t).values(
            conversation_id=op["conversation_id"], score=None if score is None else int(score), skipped=skipped,
            comment=op.get("comment"), channel=op.get("channel"), created_at=at, updated_at=at,
        )
        if skipped:  # a skip never erases a rating
            stmt = stmt.on_conflict_do_nothing(index_elements=["conversation_id"])
        else:
            ex = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=["conversation_id"],
                set_={"score": ex.score, "skipped": ex.skipped, "comment": ex.comment, "channel": ex.channel,
                      "updated_at": ex.updated_at},
                where=or_(t.c.updated_at <= ex.updated_at, t.c.skipped == True),  # noqa: E712
            )
        await conn.execute(stmt)
        # the dashboard's copy of the score (whichever rating won above)
        current = select(t.c.score).where(t.c.conversation_id == op["conversation_id"]).scalar_subquery()
        o = conversation_outcomes
        await conn.execute(update(o).where(o.c.conversation_id == op["conversation_id"]).values(score=current))

    async def _feedback(self, conn: AsyncConnection, op: FeedbackOp) -> None:
        t = answer_feedback
        at = parse_time(op["at"])
        stmt = self._insert(t).values(
            conversation_id=op["conversation_id"], feedback_id=op["feedback_id"], article_id=op.get("article_id"),
            helpful=bool(op["helpful"]), created_at=at, updated_at=at,
        )
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_id", "feedback_id"],
            set_={"helpful": ex.helpful, "updated_at": ex.updated_at},
            where=t.c.updated_at <= ex.updated_at,
        )
        await conn.execute(stmt)

    # ------------------------------------------------------------------ reads used by the gateway
    async def claim_idle(
        self, idle_before: datetime, not_before: datetime, limit: int = 100
    ) -> List[IdleConversation]:
        """Conversations idle since ``idle_before`` (but active after ``not_before``), never surveyed, not ended.

        Each one is marked (survey asked, end_reason idle) by exactly one caller, which gets it back.
        """
        t = conversation_outcomes
        cond = and_(t.c.last_activity_at < idle_before, t.c.last_activity_at >= not_before,
                    t.c.survey_requested_at.is_(None), t.c.ended_at.is_(None), t.c.taxpayer_messages > 0)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(t.c.conversation_id, t.c.channel, t.c.language).where(cond).limit(limit)
            )).mappings().all()
        claimed: List[IdleConversation] = []
        now = utcnow()
        for row in rows:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(t).where(t.c.conversation_id == row["conversation_id"], t.c.survey_requested_at.is_(None),
                                    t.c.ended_at.is_(None))
                    .values(survey_requested_at=now, ended_at=now, end_reason="idle")
                )
            if result.rowcount == 1:
                claimed.append(IdleConversation(conversation_id=row["conversation_id"], channel=row["channel"],
                                                language=row["language"]))
        return claimed

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


class OpSink(Protocol):
    """Where ``DurableWriter`` applies operations (``AnalyticsRepository``; tests use doubles)."""

    async def apply(self, op: Write) -> None:
        """Apply ``op``; raise when it could not be applied (it is then kept and retried)."""
        ...

    async def apply_all(self, ops: Sequence[Write]) -> None:
        """Apply ``ops`` in order, all or none; raise when they could not be applied."""
        ...

    async def dead_letter(self, op: Write, error: str, tries: int) -> None:
        """Keep ``op``, which the database refused ``tries`` times, aside; raise when it could not."""
        ...


class BufferFull(RuntimeError):
    """The database is down and neither memory nor the spool file can take the write."""


class DurableWriter:
    """Writes operations now, or buffers them (bounded memory + append-only spool file) and retries.

    ``write`` returns ``"stored"`` (in the database) or ``"buffered"`` (kept, will be retried); it
    raises ``BufferFull`` only when the write could not be kept anywhere. Writes that arrive while a
    commit is under way are committed together in the next transaction (group commit: under load one
    transaction serves many turns; each ``write`` still returns only once its operation is stored or kept).
    While anything is buffered, new writes queue behind it so operations reach the database in order.
    A transient failure (``is_transient``) is retried with a growing pause up to ``max_backoff``, for as
    long as it lasts; any other failure is retried at once up to ``max_tries`` tries, then the operation goes to
    the dead letters (``OpSink.dead_letter``) and the next one is written.
    """

    def __init__(
        self, repo: OpSink, spool_path: Optional[Path] = None, max_memory: int = 50_000,
        retry_seconds: float = 2.0, db_timeout: float = 3.0, on_error: Callable[[str], None] = lambda kind: None,
        max_tries: int = 3, max_backoff: float = 30.0, max_batch: int = 200,
    ) -> None:
        self.repo = repo
        self.spool_path = spool_path
        self.max_memory = max_memory
        self.retry_seconds = retry_seconds
        self.db_timeout = db_timeout
        self.on_error = on_error
        self.max_tries = max(1, max_tries)
        self.max_backoff = max(retry_seconds, max_backoff)
        self.max_batch = max(1, max_batch)
        self._batch: List[Tuple[Write, "asyncio.Future[WriteResult]"]] = []  # writes for the next commit
        self._committing = 0  # writes in the commit under way
        self._committer: Optional["asyncio.Task[None]"] = None
        self._queue: Deque[Tuple[int, Write]] = deque()
        self._seq = 0
        self._applied_seq = 0
        self._spilled = False  # some ops are only in the spool file (memory was full)
        self._head_tries = 0  # refusals (not transient failures) of the operation at the head of the queue
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.stored = 0
        self.buffered_total = 0
        self.dead_lettered = 0

    # ------------------------------------------------------------------ state
    @property
    def pending(self) -> int:
        """Operations waiting for the database (at least 1 while some are only in the spool file)."""
        return len(self._queue) + (1 if self._spilled else 0) + len(self._batch) + self._committing

    async def drained(self, timeout: float, poll: float = 0.05) -> bool:
        """True once nothing waits for the database (the retry loop stored it all); False after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(poll)
        return True

    def load_spool(self) -> int:
        """Queue the operations a previous process left in the spool file (call once at start)."""
        ops = self._read_spool()
        for seq, op in ops:
            self._seq = max(self._seq, seq)
            if len(self._queue) < self.max_memory:
                self._queue.append((seq, op))
            else:
                self._spilled = True
        if ops:
            log.warning("analytics: %d buffered write(s) found in %s; retrying them", len(ops), self.spool_path)
            self._wake.set()
        return len(ops)

    # ------------------------------------------------------------------ writing
    async def write(self, op: Write) -> WriteResult:
        """Apply ``op`` now (with the writes that arrive meanwhile), or keep it when the database fails."""
        if self._queue or self._spilled:
            self._buffer(op)
            return "buffered"
        done: "asyncio.Future[WriteResult]" = asyncio.get_running_loop().create_future()
        self._batch.append((op, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_batches())
        return await asyncio.shield(done)  # a cancelled caller leaves its write to be committed

    async def settled(self) -> None:
        """Return once the writes handed to ``write`` so far are stored or kept."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    async def _commit_batches(self) -> None:
        """Commit the waiting writes, up to ``max_batch`` per transaction, until none wait."""
        while self._batch:
            batch, self._batch = self._batch[:self.max_batch], self._batch[self.max_batch:]
            self._committing = len(batch)
            try:
                if self._queue or self._spilled:  # an earlier commit failed: these keep their place behind it
                    results = [self._keep(op) for op, _ in batch]
                elif len(batch) == 1:
                    results = [await self._write_now(batch[0][0])]
                else:
                    results = await self._write_together([op for op, _ in batch])
            except BaseException as exc:  # cancelled with the event loop: no caller waits for ever
                for _, done in batch + self._batch:
                    if not done.done():
                        done.set_exception(RuntimeError("the writer stopped before this write was stored"))
                raise exc
            finally:
                self._committing = 0
            for (_, done), result in zip(batch, results):
                if done.done():
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)

    async def _write_together(self, ops: List[Write]) -> List[Union[WriteResult, BaseException]]:
        try:
            await asyncio.wait_for(self.repo.apply_all(ops), self.db_timeout)
        except Exception as exc:
            if is_transient(exc):
                log.error("analytics write failed (%s); buffering %d write(s)", type(exc).__name__, len(ops))
                self.on_error("db")
                return [self._keep(op) for op in ops]
            # one of them was refused: the others must not share its fate
            return [await self._write_now(op) for op in ops]
        self.stored += len(ops)
        return ["stored"] * len(ops)

    async def _write_now(self, op: Write) -> Union[WriteResult, BaseException]:
        """Apply one write in its own transaction, or keep it (behind the writes already kept)."""
        refused = False
        if not self._queue and not self._spilled:
            try:
                await asyncio.wait_for(self.repo.apply(op), self.db_timeout)
                self.stored += 1
                return "stored"
            except Exception as exc:
                refused = not is_transient(exc)
                log.error("analytics write failed (%s); buffering it", type(exc).__name__)
                self.on_error("db")
        result = self._keep(op)
        if refused and len(self._queue) == 1:  # it is the head: its first try counts
            self._head_tries = 1
        return result

    def _keep(self, op: Write) -> Union[WriteResult, BaseException]:
        try:
            self._buffer(op)
        except BufferFull as exc:
            return exc
        return "buffered"

    def _buffer(self, op: Write) -> None:
        self._seq += 1
        seq = self._seq
        on_disk = self._append_spool(seq, op)
        if len(self._queue) < self.max_memory:
            self._queue.append((seq, op))
        elif on_disk:
            self._spilled = True
        else:
            self._seq -= 1
            self.on_error("analytics_buffer_full")
            raise BufferFull("the analytics buffer is full and the spool file cannot be written")
        self.buffered_total += 1
        self._wake.set()

    def _append_spool(self, seq: int, op: Write) -> bool:
        if self.spool_path is None:
            return False
        try:
            self.spool_path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"seq": seq, "op": op}, ensure_ascii=False, separators=(",", ":")) + "\n"
            with open(self.spool_path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            return True
        except OSError as exc:
            log.error("analytics spool file not writable: %s", exc)
            return False

    def _read_spool(self) -> List[Tuple[int, Write]]:
        if self.spool_path is None or not self.spool_path.exists():
            return []
        ops: List[Tuple[int, Write]] = []
        with open(self.spool_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                    ops.append((int(item["seq"]), cast(Write, item["op"])))  # written by _append_spool
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash
        ops.sort(key=lambda x: x[0])
        return ops

    # ------------------------------------------------------------------ retrying
    async def flush(self) -> bool:
        """Apply buffered operations in order; True when nothing is left."""
        await self.settled()
        async with self._lock:
            while self._queue or self._spilled:
                if not self._queue and self._spilled:
                    self._spilled = False
                    for seq, op in self._read_spool():
                        if seq > self._applied_seq:
                            if len(self._queue) < self.max_memory:
                                self._queue.append((seq, op))
                            else:
                                self._spilled = True
                                break
                    continue
                seq, op = self._queue[0]
                try:
                    await asyncio.wait_for(self.repo.apply(op), self.db_timeout)
                except Exception as exc:
                    if is_transient(exc):
                        log.warning("analytics retry failed (%s); %d write(s) waiting",
                                    type(exc).__name__, len(self._queue))
                        return False
                    self._head_tries += 1
                    if self._head_tries < self.max_tries:
                        continue  # refused: try again at once, a bounded number of times
                    if not await self._dead_letter(op, exc):
                        return False
                else:
                    self.stored += 1
                self._queue.popleft()
                self._applied_seq = seq
                self._head_tries = 0
            self._truncate_spool()
            return True

    async def _dead_letter(self, op: Write, exc: Exception) -> bool:
        """Move the head operation, refused ``max_tries`` times, to the dead letters; False if that failed."""
        try:
            await asyncio.wait_for(self.repo.dead_letter(op, _error_text(exc), self._head_tries), self.db_timeout)
        except Exception as dead_exc:
            log.error("could not keep a refused %s write as a dead letter (%s)", op.get("op"), type(dead_exc).__name__)
            return False
        log.error("the database refused a %s write %d times (%s); moved to dead_letters",
                  op.get("op"), self._head_tries, type(exc).__name__)
        self.dead_lettered += 1
        self.on_error("dead_letter")
        return True

    def _truncate_spool(self) -> None:
        if self.spool_path is not None and self.spool_path.exists():
            try:
                self.spool_path.unlink()
            except OSError as exc:
                log.error("could not remove the analytics spool file: %s", exc)

    async def run(self) -> None:
        """Background retry loop (until cancelled)."""
        delay = self.retry_seconds
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            if not self._queue and not self._spilled:
                delay = self.retry_seconds
                continue
            # shielded: a shutdown that cancels this loop lets the write in flight finish (the final flush
            # waits for it on the lock) instead of cutting a transaction and dropping its connection
            ok = await asyncio.shield(self.flush())
            delay = self.retry_seconds if ok else min(delay * 2, self.max_backoff)
            if not ok:
                await asyncio.sleep(delay)
