"""Fixtures of the gateway tests: a fake Rasa + action server and app factories."""
from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.analytics.settings import AnalyticsSettings
from bot.app import create_app
from bot.rasa_client import TURN_KEY
from bot.settings import Settings
from bot.wechat.settings import WeChatSettings
from tests.ci import in_ci

SECRET = "test-secret-not-for-production"

CUSTOM = {
    "kind": "answer",
    "article_id": "iit-annual-settlement",
    "confidence": 0.87,
    "sources": [{"title": "国家税务总局公告2023年第3号", "url": "https://example.invalid/a"}],
}


HANDOFF_PHRASES = ("agent please", "speak to someone", "human operator", "put me through", "我要人工")
_failed_turns: Dict[str, int] = {}


def rasa_reply(sender: str, message: str) -> List[Dict[str, Any]]:
    """What Rasa's REST output returns for utter_message(text, buttons, json_message).

    Besides echo and the default answer it plays the handoff triggers: a request for a person
    (action_request_handoff's payload), an answer from a needs_officer article ("audit" in the
    message), and NLU not understanding ("blorp"; failed_turns counts per sender).
    """
    if message.startswith("echo:"):
        return [{"recipient_id": sender, "text": message[5:]}]
    lower = message.lower()
    if any(p in lower for p in HANDOFF_PHRASES):
        _failed_turns[sender] = 0
        text = "I'll connect you with a tax officer. One moment while I check who is available."
        return [{"recipient_id": sender, "text": text,
                 "custom": {"kind": "handoff", "reason": "requested", "topic": None,
                            "language": "zh" if "人工" in message else "en"}}]
    if "blorp" in lower:
        _failed_turns[sender] = _failed_turns.get(sender, 0) + 1
        return [{"recipient_id": sender, "text": "Sorry, I didn't understand that.",
                 "custom": {"kind": "fallback", "article_id": None, "confidence": None, "sources": [],
                            "failed_turns": _failed_turns[sender]}}]
    _failed_turns[sender] = 0
    if "audit" in lower:
        return [{"recipient_id": sender, "text": "Taxpayers must accept lawful tax inspections.",
                 "custom": {"kind": "answer", "article_id": "proc-tax-audit", "confidence": 0.91, "sources": [],
                            "title": "Being audited or inspected by the tax office", "needs_officer": True}}]
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
        self.received: List[Dict[str, Any]] = []  # bodies as sent, less the gateway's turn marker
        self.turn_ids: List[Optional[str]] = []  # the gateway's turn marker of each received body
        self.reply: Callable[[str, str], List[Dict[str, Any]]] = rasa_reply
        self.tracker_events: List[Dict[str, Any]] = []  # pause/resume appended through the HTTP API
        self.paused: set = set()
        self._runner: Optional[web.AppRunner] = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/", self._root)
        app.router.add_get("/status", self._root)
        app.router.add_get("/health", self._root)
        app.router.add_post("/conversations/{conversation_id}/tracker/events", self._tracker_events)
        return app

    async def _tracker_events(self, request: web.Request) -> web.Response:
        body = await request.json()
        conv = request.match_info["conversation_id"]
        self.tracker_events.append({"conversation_id": conv, "event": body.get("event"),
                                    "token": request.query.get("token")})
        if body.get("event") == "pause":
            self.paused.add(conv)
        elif body.get("event") == "resume":
            self.paused.discard(conv)
        return web.json_response({"sender_id": conv, "paused": conv in self.paused})

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        metadata = body.get("metadata")
        self.turn_ids.append(metadata.pop(TURN_KEY, None) if isinstance(metadata, dict) else None)
        self.received.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": "boom"}, status=self.status)
        if body["sender"] in self.paused:  # Rasa records but does not answer a paused conversation
            return web.json_response([])
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


async def wait_until_serving(http: aiohttp.ClientSession, base: str, seconds: float = 60.0) -> None:
    """Wait until a gateway started as a process (`python -m bot`) at ``base`` serves its API description."""
    for _ in range(int(seconds * 10)):
        try:
            async with http.get(base + "/openapi.yaml") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)


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
        settings = replace(base, **overrides)
        # the subsystems' sections as a process would read them (tests set SURVEY_*, ANALYTICS_*, WECHAT_*)
        if "analytics" not in overrides:
            settings = replace(settings, analytics=AnalyticsSettings.from_env(settings.database_url))
        if "wechat" not in overrides:
            settings = replace(settings, wechat=WeChatSettings.from_env())
        return settings

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
    if in_ci():
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


# --------------------------------------------------------------------------- live-agent handoff

AGENT_PASSWORD = "agent-password-1"


@pytest.fixture
def handoff_policy():
    """Always open, fast presence sweeps, for the handoff tests."""
    from bot.handoff.policy import HandoffPolicy

    return replace(HandoffPolicy(), always_open=True, sweep_seconds=0.2, disconnect_grace_seconds=0.3,
                   presence_ttl_seconds=30.0, heartbeat_seconds=0.2)


@pytest.fixture
def make_handoff_app(make_settings, handoff_policy):
    """``make_handoff_app(store=None, policy=None, **settings)``: a gateway app with console sessions."""

    def make(store=None, policy=None, **overrides):
        settings = make_settings(session_key="handoff-test-session-key", bcrypt_rounds=4, rasa_token="rasa-test-token",
                                 **overrides)
        return create_app(settings, handoff_store=store, handoff_policy=policy or handoff_policy)

    return make


async def add_account(app, username: str, role: str = "agent", password: str = AGENT_PASSWORD) -> None:
    from bot.db.handoff_repository import HandoffRepository
    from bot.handoff.auth import hash_password
    from bot.keys import ENGINE

    await HandoffRepository(app[ENGINE]).create_account(username, hash_password(password, 4), role, username.title())


async def login(client, username: str, password: str = AGENT_PASSWORD) -> str:
    """Sign in through the API; returns the CSRF token (the cookie stays in the client)."""
    resp = await client.post("/agent/api/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["csrf_token"]


@pytest.fixture
def handoff_helpers():
    return {"add_account": add_account, "login": login}
