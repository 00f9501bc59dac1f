"""Console sessions live on the server (database, or Redis with REDIS_URL): a kept cookie stops working after
logout, and disabling an account or changing its role (``python -m bot.accounts``, another process) ends its
sessions and closes its console websockets within seconds. Taxpayers only ever see an officer's display name."""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import WSMsgType
from cryptography.fernet import Fernet

from bot import accounts
from bot.db.engine import create_engine
from bot.db.handoff_repository import HandoffRepository
from bot.db.migrate import upgrade_head
from bot.handoff.auth import COOKIE_NAME, hash_password, session_key_bytes
from bot.handoff.console import SESSION_ENDED
from bot.handoff.login_guard import SqlFailureLog
from bot.handoff.sessions import SqlSessionStore, new_token, start_session
from bot.keys import CONSOLE_SESSIONS, ENGINE, SETTINGS
from tests.bot.handoff.conftest import REDIS_URL
from tests.bot.handoff.flows import URL, online_agent, session, start

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["database", "redis"])
def backend(request, require_service):
    """Settings overrides for each session backend (Redis under a key prefix of its own)."""
    if request.param == "database":
        return {}
    return {"redis_url": REDIS_URL, "handoff_redis_prefix": request.getfixturevalue("redis_prefix")}


def _cookie(client) -> str:
    (morsel,) = [m for m in client.session.cookie_jar if m.key == COOKIE_NAME]
    return morsel.value


async def _replay(aiohttp_client, client, cookie: str, path: str = "/agent/api/queue") -> int:
    """Status of ``path`` from a fresh client presenting a kept copy of the console cookie."""
    other = await aiohttp_client(client.server)
    return (await other.get(path, headers={"Cookie": f"{COOKIE_NAME}={cookie}"})).status


async def test_a_cookie_kept_after_logout_no_longer_works(aiohttp_client, make_handoff_app, handoff_helpers,
                                                          backend) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, **backend)
    csrf = await handoff_helpers["login"](client, "wang")
    kept = _cookie(client)
    assert await _replay(aiohttp_client, client, kept) == 200  # the copy works while signed in
    assert (await client.post("/agent/api/logout", headers={"X-CSRF-Token": csrf})).status == 200
    for path in ("/agent/api/queue", "/agent/api/tickets"):
        assert await _replay(aiohttp_client, client, kept, path) == 401
    other = await aiohttp_client(client.server)
    me = await other.get("/agent/api/me", headers={"Cookie": f"{COOKIE_NAME}={kept}"})
    assert await me.json() == {"authenticated": False}
    resp = await other.get("/agent/ws", headers={"Cookie": f"{COOKIE_NAME}={kept}"})
    assert resp.status == 401  # no live socket either


async def test_the_cookie_carries_only_an_opaque_token(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    await handoff_helpers["login"](client, "wang")
    key = base64.urlsafe_b64encode(session_key_bytes(app[SETTINGS].session_key))
    plain = json.loads(Fernet(key).decrypt(_cookie(client).encode()))
    assert set(plain["session"]) == {"sid"}  # no username, role or CSRF token in the cookie
    assert await app[CONSOLE_SESSIONS].get(plain["session"]["sid"]) is not None


async def _closed_with(ws) -> int:
    """The close code the server sends, skipping the frames before it (5 s at most for each)."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return int(msg.data) if msg.type is WSMsgType.CLOSE else -1


async def _accounts_command(app, *argv: str) -> str:
    """Run ``python -m bot.accounts ...`` in another process against the app's database (and Redis)."""
    settings = app[SETTINGS]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "HANDOFF_", "DATABASE_"))}
    env.update(DATABASE_URL=settings.database_url, BCRYPT_ROUNDS="4")
    if settings.redis_url:
        env.update(REDIS_URL=settings.redis_url, HANDOFF_REDIS_PREFIX=settings.handoff_redis_prefix)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.accounts", *argv, cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_disabling_an_account_in_another_process_ends_its_sessions_and_sockets(
        aiohttp_client, make_handoff_app, handoff_helpers, backend) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, **backend)
    await online_agent(client, handoff_helpers, "wang")
    kept = _cookie(client)
    ws = await client.ws_connect("/agent/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"

    out = await _accounts_command(app, "disable", "--username", "wang")
    assert "1 console session(s) ended" in out

    assert await _closed_with(ws) == SESSION_ENDED  # the open console closes on its next session check
    assert (await client.get("/agent/api/queue")).status == 401
    assert await _replay(aiohttp_client, client, kept) == 401
    resp = await client.post("/agent/api/login", json={"username": "wang", "password": "agent-password-1"})
    assert resp.status == 401  # and a disabled account cannot sign in again


async def test_a_new_role_ends_the_sessions_of_the_old_one(aiohttp_client, make_handoff_app, handoff_helpers,
                                                           backend) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, **backend)
    await handoff_helpers["login"](client, "wang")
    ws = await client.ws_connect("/agent/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    args = argparse.Namespace(command="set-role", username="wang", role="analyst")
    assert await accounts.run(args, app[SETTINGS]) == 0
    assert await _closed_with(ws) == SESSION_ENDED
    assert (await client.get("/agent/api/queue")).status == 401
    await handoff_helpers["login"](client, "wang")  # signed in again: now an analyst
    assert (await client.get("/agent/api/queue")).status == 403
    assert (await client.get("/agent/api/stats")).status == 200


async def test_taxpayers_see_the_display_name_never_the_login(aiohttp_client, make_handoff_app,
                                                              handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    await HandoffRepository(app[ENGINE]).create_account("li.wei07", hash_password("agent-password-1", 4), "agent",
                                                        "Officer Li")
    csrf = await online_agent(client, handoff_helpers, "li.wei07")
    sid = await session(client)
    bearer = {"Authorization": f"Bearer {sid}"}
    await client.post(URL, json={"sender": sid, "message": "agent please"})
    (entry,) = (await (await client.get("/agent/api/queue")).json())["waiting"]
    conv = entry["conversation_id"]
    assert (await client.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": csrf})).status == 200
    resp = await client.post(f"/agent/api/conversations/{conv}/messages", json={"text": "Hello, how can I help?"},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 201

    status = await (await client.get(f"/conversations/{sid}/handoff", headers=bearer)).json()
    assert status["status"] == "claimed" and status["agent"] == "Officer Li"
    polled = await (await client.get(f"/conversations/{sid}/messages?after=0", headers=bearer)).text()
    history = await (await client.get(f"/conversations/{sid}/history", headers=bearer)).text()
    for seen in (str(status), polled, history):
        assert "li.wei07" not in seen
    assert "Officer Li" in polled


@pytest_asyncio.fixture
async def postgres_engine(require_service):
    """A fresh PostgreSQL database migrated to head (dropped afterwards)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"taxguide_sessions_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        await upgrade_head(engine)
        yield engine
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_sessions_and_failures_in_postgresql(postgres_engine) -> None:
    store = SqlSessionStore(postgres_engine)
    token, other = new_token(), new_token()
    await store.create(token, start_session("wang", "Officer Wang", "agent"))
    await store.create(other, start_session("wang", "Officer Wang", "agent"))
    await store.create(new_token(), start_session("li", "Officer Li", "agent", max_age=-1))  # already expired
    assert (await store.get(token)).display_name == "Officer Wang"
    await store.delete(token)
    assert await store.get(token) is None and await store.get(other) is not None
    assert await store.revoke_user("wang") == 1 and await store.get(other) is None

    failures = SqlFailureLog(postgres_engine, 3600)
    await asyncio.gather(*(failures.failed("203.0.113.7", "wang") for _ in range(6)))  # racing inserts count once each
    await failures.failed("203.0.113.7", "li")
    account, address = await failures.tallies("203.0.113.7", "wang")
    assert (account.failures, address.failures) == (6, 7)
    await failures.succeeded("wang")
    account, address = await failures.tallies("203.0.113.7", "wang")
    assert (account.failures, address.failures) == (0, 1)  # li's failure stays with the address


def test_set_role_command_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit):  # only the roles that exist
        accounts.main(["set-role", "--username", "wang", "--role", "boss"])
    assert accounts.main(["set-role", "--username", "wang", "--role", "admin"]) == 1
    assert "no account 'wang'" in capsys.readouterr().err
