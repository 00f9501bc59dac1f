"""The whole chain against real services: gateway (PostgreSQL transcripts, Redis) -> Rasa (Redis tracker
and lock stores) -> action server -> knowledge base."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import psycopg2
import pytest
import redis
import socketio

from bot.sessions import SessionSigner
from scripts import stack
from tests.socketio_client import connect_polling, leave

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
REDIS_DB = 7  # a database of its own, flushed before and after


def require(name: str, port: int) -> None:
    """Real services are required: fail (never skip) when one is down."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as error:
        pytest.fail(f"{name} is not running on 127.0.0.1:{port} (scripts/services.sh starts it): {error}")


@pytest.fixture(scope="module")
def chain() -> Iterator[Tuple[str, str, str]]:
    """Start everything with PostgreSQL + Redis; yield (gateway url, database dsn, redis url)."""
    require("PostgreSQL", 5432)
    require("Redis", 6379)
    database = f"taxguide_it_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = stack.environment()
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        SESSION_SECRET="integration-test-secret",
    )
    try:
        with stack.running(env, gateway=True) as ports:
            dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={database}"
            yield f"http://127.0.0.1:{ports.gateway}", dsn, redis_url
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def post(url: str, body: Dict[str, Any]) -> List[Dict[str, Any]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_health_reports_every_dependency(chain: Tuple[str, str, str]) -> None:
    gateway, _, _ = chain
    with urllib.request.urlopen(f"{gateway}/health", timeout=10) as response:
        body = json.loads(response.read())
    assert response.status == 200
    text = json.dumps(body).lower()
    for part in ("rasa", "action", "database", "redis"):
        assert part in text, body


def test_rest_answer_arrives_as_one_message_with_custom_and_lands_masked_in_postgres(
    chain: Tuple[str, str, str],
) -> None:
    gateway, dsn, redis_url = chain
    sender = f"it-{uuid.uuid4().hex[:8]}"
    text = "My mobile is 13812345678. How much can I earn before income tax kicks in?"
    messages = post(f"{gateway}/webhooks/rest/webhook", {"sender": sender, "message": text})
    answer = next(m for m in messages if m.get("custom", {}).get("kind") == "answer")
    assert answer["recipient_id"] == sender and answer["text"]
    assert answer["custom"]["article_id"] == "iit-basic-deduction"
    assert answer["custom"]["sources"][0]["effective_date"] == "2019-01-01"

    conversation = SessionSigner("integration-test-secret").conversation_id(sender)  # what Rasa and the database see
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT sender_type, text, kind, article_id, confidence FROM messages "
                       "WHERE conversation_id = %s ORDER BY id", (conversation,))
        rows = cursor.fetchall()
    assert rows[0][0] == "taxpayer" and "13812345678" not in rows[0][1] and "5678" in rows[0][1]
    bot_rows = [r for r in rows if r[0] == "bot"]
    assert any(r[2] == "answer" and r[3] == "iit-basic-deduction" and r[4] is not None for r in bot_rows)

    keys = [k.decode() for k in redis.Redis.from_url(redis_url).keys("*")]
    assert any(conversation in key for key in keys), f"Rasa's tracker for {conversation} is not in Redis: {keys}"


def test_socketio_client_gets_answer_with_custom_payload(chain: Tuple[str, str, str]) -> None:
    gateway, _, _ = chain

    async def converse() -> List[Dict[str, Any]]:
        client = socketio.AsyncClient()
        confirmed: asyncio.Future = asyncio.get_running_loop().create_future()
        uttered: List[Dict[str, Any]] = []
        answered = asyncio.Event()

        @client.on("session_confirm")
        async def on_confirm(data: Any) -> None:
            confirmed.set_result(data["session_id"] if isinstance(data, dict) else data)

        @client.on("bot_uttered")
        async def on_bot(data: Dict[str, Any]) -> None:
            uttered.append(data)
            if "kind" in data:  # the answer's custom json, its own event after the text (Rasa's socket.io shape)
                answered.set()

        await connect_polling(client, gateway)
        try:
            await client.emit("session_request", {"session_id": None})
            session_id = await asyncio.wait_for(confirmed, 10)
            await client.emit("user_uttered", {"message": "what VAT rate applies to consulting services",
                                               "session_id": session_id})
            await asyncio.wait_for(answered.wait(), 30)
        finally:
            await leave(client)
        return uttered

    uttered = asyncio.run(converse())
    custom = next(e for e in uttered if "kind" in e)
    assert custom["kind"] == "answer" and custom["article_id"] == "vat-rates" and custom["sources"]
