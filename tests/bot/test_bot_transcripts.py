"""Transcripts in SQLite and in real PostgreSQL (fresh schema per test)."""
import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import create_app
from bot.db.migrate import upgrade_head
from bot.db.models import Conversation, Message
from bot.db.repository import TranscriptEntry, TranscriptRepository
from bot.keys import ENGINE, SIGNER, WRITER

pytestmark = pytest.mark.asyncio

PG_URLS = [
    os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    "postgresql+asyncpg://root@127.0.0.1:5432/test",
]


async def _pg_engine(schema: str):
    last = None
    for url in PG_URLS:
        engine = create_async_engine(url, future=True)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as exc:  # wrong user: try the next one
            last = exc
            await engine.dispose()
            continue
        await engine.dispose()
        return create_async_engine(url, future=True, connect_args={"server_settings": {"search_path": schema}}), url
    raise RuntimeError(f"cannot use PostgreSQL: {last}")


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def engine(request, tmp_path, require_service):
    if request.param == "sqlite":
        eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'repo.db'}", future=True)
        yield eng
        await eng.dispose()
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"tg_test_{uuid.uuid4().hex[:12]}"
    eng, url = await _pg_engine(schema)
    try:
        yield eng
    finally:
        await eng.dispose()
        cleanup = create_async_engine(url, future=True)
        async with cleanup.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await cleanup.dispose()


async def test_migrations_create_tables(engine) -> None:
    await upgrade_head(engine)
    await upgrade_head(engine)  # idempotent
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("messages")})
    assert {"conversations", "messages", "alembic_version"} <= tables
    assert {"handoff_events", "agent_accounts", "offline_tickets"} <= tables  # 0002: live-agent handoff
    analytics = {"conversation_outcomes", "conversation_ratings", "answer_feedback", "unanswered_questions"}
    assert analytics <= tables  # 0003
    assert "language" in columns  # 0004: every transcript message records its language
    assert version == "0007"  # the newest revision in bot/migrations/versions


async def test_repository_roundtrip(engine) -> None:
    await upgrade_head(engine)
    repo = TranscriptRepository(engine)
    await repo.ping()
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    await repo.add([
        TranscriptEntry("c1", "taxpayer", "rest", "个税 138****5678", created_at=t0),
        TranscriptEntry("c1", "bot", "rest", "答复", kind="answer", article_id="iit-1", confidence=0.75,
                        payload={"custom": {"kind": "answer", "sources": [{"title": "公告"}]}},
                        created_at=t0 + timedelta(seconds=1)),
    ])
    await repo.add([
        TranscriptEntry("c1", "agent", "socketio", "人工客服为您服务", created_at=t0 + timedelta(seconds=2)),
    ])
    await repo.add([TranscriptEntry("c2", "taxpayer", "socketio", "other", created_at=t0)])

    history = await repo.history("c1")
    assert [(m["sender"], m["channel"], m["text"]) for m in history] == [
        ("taxpayer", "rest", "个税 138****5678"),
        ("bot", "rest", "答复"),
        ("agent", "socketio", "人工客服为您服务"),
    ]
    bot = history[1]
    assert (bot["kind"], bot["article_id"], bot["confidence"]) == ("answer", "iit-1", 0.75)
    assert bot["custom"] == {"kind": "answer", "sources": [{"title": "公告"}]}
    assert datetime.fromisoformat(bot["time"]) == t0 + timedelta(seconds=1)
    assert [m["text"] for m in await repo.history("c1", limit=2)] == ["答复", "人工客服为您服务"]

    async with engine.connect() as conn:
        convs = (await conn.execute(select(Conversation.__table__))).mappings().all()
        count = (await conn.execute(select(Message.__table__.c.id))).all()
    assert sorted((c["id"], c["channel"], c["route"]) for c in convs) == [
        ("c1", "rest", "bot"), ("c2", "socketio", "bot")]
    assert len(count) == 4


async def test_gateway_stores_every_turn(aiohttp_client, make_settings, tmp_path) -> None:
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    await client.post("/webhooks/rest/webhook", json={"sender": "s-1", "message": "卡号 6222 0212 3450 7890 怎么退税"})
    async with app[ENGINE].connect() as conn:
        rows = (await conn.execute(select(Message.__table__).order_by(Message.__table__.c.id))).mappings().all()
    assert [(r["conversation_id"], r["sender_type"], r["channel"]) for r in rows] == [
        (app[SIGNER].conversation_id("s-1"), "taxpayer", "rest"), (app[SIGNER].conversation_id("s-1"), "bot", "rest")]
    assert rows[0]["text"] == "卡号 **** **** **** 7890 怎么退税"
    assert "6222 0212" not in rows[1]["text"]
    assert (rows[1]["kind"], rows[1]["article_id"], rows[1]["confidence"]) == ("answer", "iit-annual-settlement", 0.87)
    assert rows[0]["created_at"] is not None
    assert (tmp_path / "gateway.db").exists()


async def test_database_failure_does_not_block_replies(aiohttp_client, make_settings, tmp_path, monkeypatch) -> None:
    spool = tmp_path / "spool.jsonl"
    monkeypatch.setenv("ANALYTICS_SPOOL_PATH", str(spool))
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    async with app[ENGINE].begin() as conn:
        await conn.execute(text("DROP TABLE messages"))
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "s-2", "message": "echo:still answering"})
    assert resp.status == 200 and (await resp.json())[0]["text"] == "still answering"
    assert 'taxguide_errors_total{kind="db"} 1.0' in await (await client.get("/metrics")).text()
    # the turn is not dropped: it waits in the spool file for the database
    kept = [json.loads(line)["op"] for line in spool.read_text().splitlines()]
    assert [(e["sender_type"], e["text"]) for op in kept if op["op"] == "transcript" for e in op["entries"]] == [
        ("taxpayer", "echo:still answering"), ("bot", "still answering")]


async def test_a_replayed_write_is_stored_once(engine) -> None:
    await upgrade_head(engine)
    repo = TranscriptRepository(engine)
    entries = [TranscriptEntry("c-r", "taxpayer", "rest", "once"), TranscriptEntry("c-r", "bot", "rest", "reply")]
    await repo.add(entries)
    await repo.add(entries)  # the same entries again: a retry after a commit whose answer was lost
    await repo.add([entries[1], TranscriptEntry("c-r", "taxpayer", "rest", "next")])
    assert [m["text"] for m in await repo.history("c-r")] == ["once", "reply", "next"]


async def test_transcripts_wait_out_a_postgresql_outage(aiohttp_client, make_settings, require_service, tmp_path,
                                                       monkeypatch) -> None:
    """The database refuses connections mid-conversation: replies go on, every line is stored once later."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"tg_transcripts_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(PG_URLS[0], future=True, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    monkeypatch.setenv("ANALYTICS_SPOOL_PATH", str(tmp_path / "spool.jsonl"))
    monkeypatch.setenv("ANALYTICS_RETRY_SECONDS", "0.1")
    monkeypatch.setenv("ANALYTICS_DB_TIMEOUT", "2")
    try:
        app = create_app(make_settings(database_url=PG_URLS[0].rsplit("/", 1)[0] + "/" + name))
        client = await aiohttp_client(app)

        async def say(text_: str) -> str:
            resp = await client.post("/webhooks/rest/webhook", json={"sender": "s-pg", "message": f"echo:{text_}"})
            assert resp.status == 200
            return (await resp.json())[0]["text"]

        assert await say("before") == "before"
        async with admin.connect() as conn:  # down: no new connections, the open ones are killed
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        assert [await say("during 1"), await say("during 2")] == ["during 1", "during 2"]
        assert app[WRITER].pending >= 2
        async with admin.connect() as conn:  # back
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert await say("after") == "after"
        assert await app[WRITER].drained(10), f"{app[WRITER].pending} write(s) still waiting"
        async with app[ENGINE].connect() as conn:
            rows = (await conn.execute(select(Message.__table__.c.sender_type, Message.__table__.c.text)
                                       .order_by(Message.__table__.c.id))).all()
        lines = ["before", "during 1", "during 2", "after"]
        assert [tuple(r) for r in rows] == [(who, f"echo:{t}" if who == "taxpayer" else t)
                                             for t in lines for who in ("taxpayer", "bot")]
        await client.close()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
