"""No rating is lost: while the database is down the gateway buffers ratings (bounded memory plus an
append-only spool file), thanks the taxpayer only once the rating is kept, and writes it when the
database is back - with a test double and with a real PostgreSQL database taken offline mid-stream."""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any, Dict, List

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.analytics.models import conversation_ratings
from bot.analytics.store import BufferFull, DurableWriter
from bot.app import create_app
from bot.keys import ENGINE, SIGNER, WRITER

pytestmark = pytest.mark.asyncio
URL = "/webhooks/rest/webhook"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


class FlakyRepo:
    """Fails while ``down`` is set; records what it applied."""

    def __init__(self) -> None:
        self.down = True
        self.applied: List[Dict[str, Any]] = []

    async def apply(self, op: Dict[str, Any]) -> None:
        if self.down:
            raise ConnectionRefusedError("database down")
        self.applied.append(op)

    async def apply_all(self, ops: List[Dict[str, Any]]) -> None:  # all or none, as in one transaction
        if self.down:
            raise ConnectionRefusedError("database down")
        self.applied.extend(ops)


def _op(n: int) -> Dict[str, Any]:
    return {"op": "rating", "conversation_id": f"c{n}", "score": 1 + n % 5, "at": "2026-03-01T00:00:00+00:00"}


async def test_buffer_spool_order_and_recovery(tmp_path) -> None:
    repo = FlakyRepo()
    spool = tmp_path / "spool.jsonl"
    writer = DurableWriter(repo, spool, max_memory=2, retry_seconds=0.05)
    assert [await writer.write(_op(n)) for n in range(4)] == ["buffered"] * 4  # 2 in memory, all 4 on disk
    assert len(spool.read_text().splitlines()) == 4
    assert await writer.flush() is False and writer.pending
    repo.down = False
    await writer.write(_op(4))  # queues behind the buffered ones (order kept)
    assert await writer.flush() is True
    assert [op["conversation_id"] for op in repo.applied] == ["c0", "c1", "c2", "c3", "c4"]
    assert not spool.exists() and writer.pending == 0
    assert await writer.write(_op(5)) == "stored"


async def test_spool_survives_a_restart_and_a_torn_line(tmp_path) -> None:
    spool = tmp_path / "spool.jsonl"
    first = DurableWriter(FlakyRepo(), spool)
    await first.write(_op(1))
    await first.write(_op(2))
    with open(spool, "a") as fh:
        fh.write('{"seq": 3, "op": {"op": "rat')  # the process died mid-write
    repo = FlakyRepo()
    repo.down = False
    second = DurableWriter(repo, spool)
    assert second.load_spool() == 2
    assert await second.flush() is True
    assert [op["conversation_id"] for op in repo.applied] == ["c1", "c2"]


async def test_full_buffer_without_spool_is_refused(tmp_path) -> None:
    writer = DurableWriter(FlakyRepo(), None, max_memory=1)
    assert await writer.write(_op(1)) == "buffered"
    with pytest.raises(BufferFull):
        await writer.write(_op(2))


async def test_background_retry_loop(tmp_path) -> None:
    repo = FlakyRepo()
    writer = DurableWriter(repo, tmp_path / "s.jsonl", retry_seconds=0.05)
    task = asyncio.create_task(writer.run())
    try:
        await writer.write(_op(1))
        await asyncio.sleep(0.2)
        assert repo.applied == []
        repo.down = False
        for _ in range(100):
            if repo.applied:
                break
            await asyncio.sleep(0.05)
        assert [op["conversation_id"] for op in repo.applied] == ["c1"]
    finally:
        task.cancel()


async def test_gateway_thanks_only_after_keeping_the_rating(aiohttp_client, make_settings, tmp_path,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("ANALYTICS_SPOOL_PATH", str(tmp_path / "spool.jsonl"))
    client = await aiohttp_client(create_app(make_settings()))
    app = client.server.app
    writer = app[WRITER]
    real_apply = writer.repo.apply
    sid = (await (await client.post("/sessions")).json())["session_id"]

    async def broken(op):
        raise OSError("database unreachable")

    monkeypatch.setattr(writer.repo, "apply", broken)
    rating = '/rate{"score": 2, "comment": "slow"}'
    replies = await (await client.post(URL, json={"sender": sid, "message": rating})).json()
    assert replies[0]["custom"]["kind"] == "survey_thanks" and replies[0]["custom"]["stored"] == "buffered"
    lines = [json.loads(line) for line in writer.spool_path.read_text().splitlines()]
    assert any(item["op"]["op"] == "rating" and item["op"]["comment"] == "slow" for item in lines)

    monkeypatch.setattr(writer.repo, "apply", real_apply)
    assert await writer.flush() is True
    async with app[ENGINE].connect() as conn:
        conv = app[SIGNER].conversation_id(sid)
        query = select(conversation_ratings).where(conversation_ratings.c.conversation_id == conv)
        row = (await conn.execute(query)).mappings().one()
    assert (row["score"], row["comment"]) == (2, "slow")


async def test_real_postgresql_taken_offline_mid_stream(aiohttp_client, make_settings, require_service, tmp_path,
                                                        monkeypatch) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"tg_outage_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    monkeypatch.setenv("ANALYTICS_SPOOL_PATH", str(tmp_path / "spool.jsonl"))
    monkeypatch.setenv("ANALYTICS_RETRY_SECONDS", "0.2")
    monkeypatch.setenv("ANALYTICS_DB_TIMEOUT", "2")
    try:
        client = await aiohttp_client(create_app(make_settings(database_url=url)))
        app = client.server.app
        sids = [(await (await client.post("/sessions")).json())["session_id"] for _ in range(3)]

        async def rate(sid: str, score: int) -> Dict[str, Any]:
            resp = await client.post(URL, json={"sender": sid, "message": f'/rate{{"score": {score}}}'})
            return (await resp.json())[0]["custom"]

        assert (await rate(sids[0], 5))["stored"] == "stored"
        # the database goes away: no new connections, the open ones are killed
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        down = [await rate(sids[1], 1), await rate(sids[2], 4)]
        assert [c["stored"] for c in down] == ["buffered", "buffered"] and all(c["saved"] for c in down)
        assert app[WRITER].pending >= 2
        async with admin.connect() as conn:  # back
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert await app[WRITER].drained(10), f"{app[WRITER].pending} write(s) still waiting"
        async with app[ENGINE].connect() as conn:
            query = select(conversation_ratings.c.conversation_id, conversation_ratings.c.score)
            rows = (await conn.execute(query)).all()
        convs = [app[SIGNER].conversation_id(sid) for sid in sids]
        assert {(c, s) for c, s in rows} == {(convs[0], 5), (convs[1], 1), (convs[2], 4)}
        await client.close()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
