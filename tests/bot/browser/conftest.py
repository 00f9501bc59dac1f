"""Fixtures of the browser tests: the real gateway (`bot.app.create_app`) with a fake Rasa, served from a
background thread so that the sync Playwright API can drive pages against them (the browser itself and the
error watch come from the `pages` fixture, tests/conftest.py and tests/browser.py).

A test module gives the fake Rasa its replies and starts its stack once:

    @pytest.fixture(scope="module")
    def stack(start_stack):
        return start_stack(fake_rasa_reply)
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Callable, Coroutine, Dict, Iterator, List, Mapping, Optional, Tuple, TypeVar

import pytest
from aiohttp import web

Reply = Callable[[str, str], List[Dict[str, Any]]]
T = TypeVar("T")
#: The stack's SESSION_SECRET: tests derive the conversation reference staff see from a session token with it.
SESSION_SECRET = "browser-test-secret-" + "0" * 32


class Servers:
    """One asyncio loop in a daemon thread, serving aiohttp apps on 127.0.0.1."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="taxguide-test-servers", daemon=True)
        self.thread.start()
        self.runners: List[web.AppRunner] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def serve(self, factory: Callable[[], web.Application], port: int = 0) -> Tuple[web.AppRunner, int]:
        """Serve the app `factory` builds (on the loop) on `port` (0: a free one); returns the runner and port."""

        async def start() -> Tuple[web.AppRunner, int]:
            runner = web.AppRunner(factory(), shutdown_timeout=1.0)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            return runner, runner.addresses[0][1]

        runner, bound = self.run(start())
        self.runners.append(runner)
        return runner, bound

    def stop(self, runner: web.AppRunner) -> None:
        """Stop one server: its port is free and its connections are closed."""
        self.run(runner.cleanup())
        self.runners.remove(runner)

    def close(self) -> None:
        """Stop every server, cancel what is left on the loop, and close the loop."""
        for runner in list(reversed(self.runners)):
            try:
                self.stop(runner)
            except Exception:  # best effort: the loop is closed below in any case
                pass

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_rest(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class FakeRasa:
    """Rasa's REST channel answered by `reply(sender, message)`, plus the tracker-events API (pause/resume)
    and the / and /status pages the gateway's health check reads."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.messages: List[Dict[str, Any]] = []  # every webhook body, in order
        self.tracker_events: List[Dict[str, Any]] = []  # {"conversation_id", "event"}

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.messages.append(body)
            return web.json_response(self.reply(str(body.get("sender", "default")), str(body.get("message", ""))))

        async def events(request: web.Request) -> web.Response:
            body = await request.json()
            self.tracker_events.append({"conversation_id": request.match_info["cid"], "event": body.get("event")})
            return web.json_response({})

        async def root(_request: web.Request) -> web.Response:
            return web.Response(text="Hello from Rasa: 3.6.21")

        async def status(_request: web.Request) -> web.Response:
            return web.json_response({"model_file": "fake.tar.gz", "model_id": "fake", "num_active_training_jobs": 0})

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_post("/conversations/{cid}/tracker/events", events)
        app.router.add_get("/", root)
        app.router.add_get("/status", status)
        return app


class Stack:
    """The real gateway on a free port, talking to a fake Rasa; `base` is its URL (no trailing slash).

    The secret and the SQLite file are fixed, so a restarted gateway accepts the same session ids and
    still has the transcripts. `env` adds or overrides gateway settings (environment names); `policy` is
    the handoff policy (None: the default one).
    """

    def __init__(self, workdir: Path, reply: Reply, env: Mapping[str, str], policy: Optional[object]) -> None:
        from bot.app import create_app
        from bot.settings import Settings

        self.servers = Servers()
        self.rasa = FakeRasa(reply)
        _, rasa_port = self.servers.serve(self.rasa.app)
        settings = {
            "RASA_URL": f"http://127.0.0.1:{rasa_port}",
            "ACTION_SERVER_URL": "http://127.0.0.1:9",
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
            "SESSION_SECRET": SESSION_SECRET,
            "SESSION_KEY": "browser-test-session-key",
            "BCRYPT_ROUNDS": "4",
            "LOG_LEVEL": "WARNING",
            **env,
        }

        def gateway() -> web.Application:
            self.app = create_app(Settings.from_env(settings), handoff_policy=policy)
            return self.app

        self._gateway = gateway
        self.app: web.Application
        self._runner, self.port = self.servers.serve(gateway)
        self.base = f"http://127.0.0.1:{self.port}"

    def restart_gateway(self) -> None:
        """Drop every connection, then serve a fresh gateway on the same port."""
        self.servers.stop(self._runner)
        self._runner, _ = self.servers.serve(self._gateway, port=self.port)

    def add_account(self, username: str, password: str, role: str, display_name: str) -> None:
        """A staff account (agent, analyst, admin) in the gateway's database."""
        from bot.db.handoff_repository import HandoffRepository
        from bot.handoff.auth import hash_password
        from bot.keys import ENGINE

        repository = HandoffRepository(self.app[ENGINE])
        self.servers.run(repository.create_account(username, hash_password(password, 4), role, display_name))

    def close(self) -> None:
        self.servers.close()


@pytest.fixture(scope="module")
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Stack]]:
    """``start_stack(reply, env={}, policy=None)``: a gateway and its fake Rasa, stopped after the module."""
    started: List[Stack] = []

    def start(reply: Reply, env: Optional[Mapping[str, str]] = None, policy: Optional[object] = None) -> Stack:
        stack = Stack(tmp_path_factory.mktemp("gateway"), reply, env or {}, policy)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.close()
