"""Restarts the taxpayer does not notice: SIGTERM drains turns in flight; socket.io clients reconnect."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any, List

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import unused_port

from bot.app import create_app
from tests.bot.conftest import SECRET, FakeRasa, wait_until_serving
from tests.bot.test_bot_socketio import Peer

ROOT = Path(__file__).resolve().parents[2]


async def test_sigterm_answers_the_turn_in_flight_and_exits(fake_rasa: FakeRasa, tmp_path: Path) -> None:
    """A turn still waiting for Rasa when SIGTERM arrives gets its answer; then the process exits (within 10 s)."""
    port = unused_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "RASA_URL": fake_rasa.url,
           "ACTION_SERVER_URL": fake_rasa.url, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
           "SESSION_SECRET": SECRET, "UPSTREAM_TIMEOUT": "4", "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            await wait_until_serving(http, base)
            fake_rasa.delay = 1.5
            turn = asyncio.create_task(http.post(base + "/webhooks/rest/webhook",
                                                 json={"sender": "draining", "message": "echo:still here"}))
            while not fake_rasa.received:  # the turn has reached Rasa
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            async with await turn as resp:
                assert resp.status == 200
                assert [m["text"] for m in await resp.json()] == ["still here"]
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest_asyncio.fixture
async def server(aiohttp_server, make_settings):  # type: ignore[no-untyped-def]
    return await aiohttp_server(create_app(make_settings()))


async def test_a_socket_client_reconnects_to_the_same_conversation(server) -> None:  # type: ignore[no-untyped-def]
    """What bot/static/chat/socket.js does after a dropped connection: session_request with the stored id."""
    url = f"http://127.0.0.1:{server.port}"
    first = await Peer(url).connect()
    try:
        session_id = await first.session()
        replies: List[Any] = await first.say(session_id, "echo:before the drop", 1)
        assert replies[0]["text"] == "before the drop"
    finally:
        await first.close()
    again = await Peer(url).connect()
    try:
        assert await again.session(session_id) == session_id, "the stored id is confirmed again"
        assert (await again.say(session_id, "echo:after the drop", 1))[0]["text"] == "after the drop"
    finally:
        await again.close()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/conversations/{session_id}/history",
                            headers={"Authorization": f"Bearer {session_id}"}) as resp:
            texts = [m["text"] for m in await resp.json()]
    assert texts == ["echo:before the drop", "before the drop", "echo:after the drop", "after the drop"]


def test_the_chat_page_resends_its_stored_session_after_a_reconnect() -> None:
    script = (ROOT / "bot" / "static" / "chat" / "socket.js").read_text(encoding="utf-8")
    assert "if (state.sessionId) body.session_id = state.sessionId;" in script
    assert "storage.save(STORAGE_SESSION, state.sessionId)" in script
    on_connect = script[script.index('socket.on("connect"'):script.index('socket.on("session_confirm"')]
    assert "requestSession()" in on_connect, "every (re)connect asks for the stored session again"
