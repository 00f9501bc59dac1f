"""Fixtures of the gateway tests: a fake Rasa + action server and app factories."""
from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.settings import Settings

SECRET = "test-secret-not-for-production"

CUSTOM = {
    "kind": "answer",
    "article_id": "iit-annual-settlement",
    "confidence": 0.87,
    "sources": [{"title": "国家税务总局公告2023年第3号", "url": "https://example.invalid/a"}],
}


def rasa_reply(sender: str, message: str) -> List[Dict[str, Any]]:
    """What Rasa's REST output returns for utter_message(text, buttons, json_message)."""
    if message.startswith("echo:"):
        return [{"recipient_id": sender, "text": message[5:]}]
    return [
        {
            "recipient_id": sender,
            "text": f"关于“{message}”：请在个税App办理年度汇算。\n\n还有其他问题吗？",
            "buttons": [
                {"title": "是", "payload": "/affirm"},
                {"title": "否", "payload": "/deny"},
            ],
        },
        {"recipient_id": sender, "custom": dict(CUSTOM)},
    ]


class FakeRasa:
    """A small aiohttp app playing Rasa (REST webhook, /, /status) and the
    action server (/health) on one port; it can be slowed, broken or stopped."""

    def __init__(self) -> None:
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.delay = 0.0
        self.status = 200
        self.received: List[Dict[str, Any]] = []
        self.reply: Callable[[str, str], List[Dict[str, Any]]] = rasa_reply
        self._runner: Optional[web.AppRunner] = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/", self._root)
        app.router.add_get("/status", self._root)
        app.router.add_get("/health", self._root)
        return app

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": "boom"}, status=self.status)
        return web.json_response(self.reply(body["sender"], body["message"]))

    async def _root(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status)
        if request.path == "/health":
            return web.json_response({"status": "ok"})
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest_asyncio.fixture
async def fake_rasa() -> FakeRasa:
    fake = FakeRasa()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def make_settings(tmp_path: Path, fake_rasa: FakeRasa) -> Callable[..., Settings]:
    """Settings pointing at the fake Rasa and a fresh SQLite file."""

    def make(**overrides: Any) -> Settings:
        base = Settings(
            host="127.0.0.1",
            port=0,
            rasa_url=fake_rasa.url,
            action_server_url=fake_rasa.url,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            redis_url=None,
            connect_timeout=0.5,
            reply_timeout=1.0,
            health_timeout=0.5,
            session_secret=SECRET,
            sender_burst=100,
            ip_burst=1000,
        )
        return replace(base, **overrides)

    return make


@pytest_asyncio.fixture
async def client(aiohttp_client, make_settings):
    """A test client of the gateway with default test settings."""
    return await aiohttp_client(create_app(make_settings()))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_service(name: str, host: str, port: int) -> None:
    """Fail under CI=true, skip locally, when a real service is not reachable."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: this test needs it)")
    pytest.skip(f"{message}; start it to run this test (CI=true makes this a failure)")


@pytest.fixture
def require_service() -> Callable[[str, str, int], None]:
    """``require_service(name, host, port)``: fail (CI=true) or skip when it is down."""
    return _require_service


@pytest.fixture
def custom_payload() -> Dict[str, Any]:
    """The custom payload the fake actions attach to an answer."""
    return dict(CUSTOM)
