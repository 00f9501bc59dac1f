"""Transcripts in SQLite and in real PostgreSQL (fresh schema per test)."""
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
from bot.keys import ENGINE

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
    assert version == "0004"


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
    await client.post("/webhooks/rest/webhook", json={"sender": "s-1", "message": "卡号 6222 0212 3456 7890 怎么退税"})
    async with app[ENGINE].connect() as conn:
        rows = (await conn.execute(select(Message.__table__).order_by(Message.__table__.c.id))).mappings().all()
    assert [(r["conversation_id"], r["sender_type"], r["channel"]) for r in rows] == [
        ("s-1", "taxpayer", "rest"), ("s-1", "bot", "rest")]
    assert rows[0]["text"] == "卡号 **** **** **** 7890 怎么退税"
    assert "6222 0212" not in rows[1]["text"]
    assert (rows[1]["kind"], rows[1]["article_id"], rows[1]["confidence"]) == ("answer", "iit-annual-settlement", 0.87)
    assert rows[0]["created_at"] is not None
    assert (tmp_path / "gateway.db").exists()


async def test_database_failure_does_not_block_replies(aiohttp_client, make_settings) -> None:
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    async with app[ENGINE].begin() as conn:
        await conn.execute(text("DROP TABLE messages"))
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "s-2", "message": "echo:still answering"})
    assert resp.status == 200 and (await resp.json())[0]["text"] == "still answering"
    assert 'taxguide_errors_total{kind="db"} 1.0' in await (await client.get("/metrics")).text()
