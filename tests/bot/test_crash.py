"""A gateway killed without warning (SIGKILL) has stored every turn it answered: no transcript line is lost."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import unused_port

from tests.bot.conftest import SECRET, FakeRasa, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]


async def test_every_answered_turn_is_stored_when_the_gateway_is_killed(fake_rasa: FakeRasa, tmp_path: Path) -> None:
    database = tmp_path / "g.db"
    port = unused_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "RASA_URL": fake_rasa.url,
           "ACTION_SERVER_URL": fake_rasa.url, "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
           "SESSION_SECRET": SECRET, "LOG_LEVEL": "WARNING", "RATE_LIMIT_SENDER_BURST": "0",
           "RATE_LIMIT_IP_BURST": "0"}
    env.pop("REDIS_URL", None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    sent = [f"turn {conversation}-{turn}" for conversation in range(6) for turn in range(8)]
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, base)

            async def conversation(index: int) -> None:
                for turn in range(8):
                    body = {"sender": f"crash-{index}", "message": f"echo:turn {index}-{turn}"}
                    async with http.post(base + "/webhooks/rest/webhook", json=body) as r:
                        assert r.status == 200
                        assert [m["text"] for m in await r.json()] == [f"turn {index}-{turn}"]

            await asyncio.gather(*(conversation(i) for i in range(6)))
        proc.send_signal(signal.SIGKILL)  # the moment the last reply arrived: no shutdown, no final flush
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    with sqlite3.connect(database) as db:  # what a restarted gateway would read
        rows = db.execute("SELECT sender_type, text FROM messages").fetchall()
    taxpayer = sorted(text for kind, text in rows if kind == "taxpayer")
    bot = sorted(text for kind, text in rows if kind == "bot")
    assert taxpayer == sorted(f"echo:{text}" for text in sent)
    assert bot == sorted(sent)
