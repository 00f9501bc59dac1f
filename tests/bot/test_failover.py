"""A Rasa worker that hangs or dies leaves the rotation; its conversations go on; timed-out turns are undone."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any, AsyncIterator, Callable, Dict, List, Tuple

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.keys import SERVICE
from bot.service import APOLOGY_KIND, RESTARTED_KIND
from knowledge import catalogue
from tests.bot.conftest import FakeRasa

URL = "/webhooks/rest/webhook"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``within`` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def tagged(name: str) -> Callable[[str, str], List[Dict[str, Any]]]:
    def reply(sender: str, message: str) -> List[Dict[str, Any]]:
        return [{"recipient_id": sender, "text": f"{name}|{sender}|{message}"}]

    return reply


async def say(client: Any, sender: str, message: str) -> List[Dict[str, Any]]:
    resp = await client.post(URL, json={"sender": sender, "message": message})
    assert resp.status == 200
    return await resp.json()


def who(replies: List[Dict[str, Any]]) -> str:
    """The worker that answered (the fakes tag their replies), or the kind of the gateway's own reply."""
    last = replies[-1]
    if (last.get("custom") or {}).get("kind") == APOLOGY_KIND:
        return APOLOGY_KIND
    return str(last["text"]).split("|")[0]


async def owned_by(client: Any, name: str) -> str:
    """A sender whose conversation worker ``name`` answers."""
    for i in range(40):
        if who(await say(client, f"c{i}", "hi")) == name:
            return f"c{i}"
    raise AssertionError(f"no conversation of {name}")


# --------------------------------------------------------------------------- a worker process stopped with SIGSTOP


@pytest_asyncio.fixture
async def worker_processes() -> AsyncIterator[Dict[str, Tuple[str, "asyncio.subprocess.Process"]]]:
    """Two fake Rasa workers, each its own process (so SIGSTOP hangs it like a stuck ``rasa run``)."""
    made: Dict[str, Tuple[str, asyncio.subprocess.Process]] = {}
    for name in ("w1", "w2"):
        port = unused_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bot.rasa_process", str(port), name, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
        made[name] = (f"http://127.0.0.1:{port}", proc)
    yield made
    for _, proc in made.values():
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        await proc.wait()


async def test_a_hung_worker_leaves_the_rotation_and_its_conversations_go_on(  # type: ignore[no-untyped-def]
        aiohttp_client, make_settings, worker_processes) -> None:
    """SIGSTOP: the worker accepts connections and never answers. Within 5 s it is out of the rotation;
    its conversations (shared tracker: context intact) and new ones are answered by the other worker,
    not apologised to; /health names it; after SIGCONT it rejoins and gets its conversations back."""
    (u1, p1), (u2, _) = worker_processes["w1"], worker_processes["w2"]
    settings = make_settings(rasa_url=u1, rasa_urls=(u1, u2), reply_timeout=1.0, probe_interval=0.2,
                             probe_misses=3, rasa_shared_tracker=True)
    gateway = await aiohttp_client(create_app(settings))
    rasa = gateway.server.app[SERVICE].rasa
    owner = {f"taxpayer-{i}": who(await say(gateway, f"taxpayer-{i}", "t0")) for i in range(16)}
    of_w1 = [s for s, name in owner.items() if name == "w1"]
    assert of_w1 and len(of_w1) < len(owner), "conversations are spread over both workers"

    p1.send_signal(signal.SIGSTOP)
    assert await wait_until(lambda: rasa.is_down(u1), within=5.0), "a hung worker leaves the rotation within 5 s"
    for sender in of_w1:
        assert who(await say(gateway, sender, "t1")) == "w2", "answered by the next worker, not an apology"
    for i in range(6):
        assert who(await say(gateway, f"new-{i}", "hello")) == "w2"
    health = await (await gateway.get("/health")).json()
    assert health["checks"]["rasa"]["status"] == "degraded"
    assert health["checks"]["rasa"]["workers"][u1]["status"] == "down"
    assert health["checks"]["rasa"]["workers"][u1]["rotation"] == "out"
    assert health["checks"]["rasa"]["workers"][u2]["rotation"] == "in"

    p1.send_signal(signal.SIGCONT)
    assert await wait_until(lambda: not rasa.is_down(u1), within=5.0), "a worker that answers again rejoins"
    for sender in of_w1:
        assert who(await say(gateway, sender, "t2")) == "w1"


# --------------------------------------------------------------------------- in-process fakes


@pytest_asyncio.fixture
async def pair(fake_rasa: FakeRasa) -> AsyncIterator[Tuple[FakeRasa, FakeRasa]]:
    second = FakeRasa()
    await second.start()
    fake_rasa.reply, second.reply = tagged("w1"), tagged("w2")
    yield fake_rasa, second
    await second.stop()


async def test_a_timed_out_turn_takes_its_worker_out_at_the_next_failed_probe(  # type: ignore[no-untyped-def]
        aiohttp_client, make_settings, pair) -> None:
    """Many misses are needed from the probes alone (100 here); a turn that timed out makes one enough."""
    w1, w2 = pair
    settings = make_settings(rasa_url=w1.url, rasa_urls=(w1.url, w2.url), reply_timeout=0.5, probe_interval=0.2,
                             probe_misses=100, rasa_shared_tracker=True)
    gateway = await aiohttp_client(create_app(settings))
    rasa = gateway.server.app[SERVICE].rasa
    sender = await owned_by(gateway, "w1")
    w1.delay = 30  # hangs: neither / nor the webhook answers
    assert who(await say(gateway, sender, "are you there")) == APOLOGY_KIND
    assert await wait_until(lambda: rasa.is_down(w1.url), within=3.0)
    assert who(await say(gateway, sender, "again")) == "w2"
    w1.delay = 0
    assert await wait_until(lambda: not rasa.is_down(w1.url), within=3.0)
    assert who(await say(gateway, sender, "back")) == "w1"


async def test_embedded_stores_restart_a_moved_conversation_and_say_so(  # type: ignore[no-untyped-def]
        aiohttp_client, make_settings, pair) -> None:
    """In-memory trackers (no Redis): the conversation's context is on the lost worker, so the gateway restarts
    it on the next one (/restart first) and tells the taxpayer once; the same when it moves back."""
    w1, w2 = pair
    settings = make_settings(rasa_url=w1.url, rasa_urls=(w1.url, w2.url), probe_interval=0.2)
    assert not settings.rasa_context_shared, "without REDIS_URL every worker has its own tracker store"
    gateway = await aiohttp_client(create_app(settings))
    rasa = gateway.server.app[SERVICE].rasa
    sender = await owned_by(gateway, "w1")
    conversation = w1.received[-1]["sender"]

    await w1.stop()
    replies = await say(gateway, sender, "what is the tax rate")
    assert [r.get("custom", {}).get("kind") for r in replies][0] == RESTARTED_KIND
    assert replies[0]["text"] == catalogue.text("restarted", "en")
    assert who(replies) == "w2" and len(replies) == 2
    assert [b["message"] for b in w2.received if b["sender"] == conversation] == ["/restart", "what is the tax rate"]
    replies = await say(gateway, sender, "und weiter")
    assert len(replies) == 1 and who(replies) == "w2", "told once; the context now lives on w2"
    zh = await say(gateway, "someone-new", "个税起征点是多少")
    assert all(r.get("custom", {}).get("kind") != RESTARTED_KIND for r in zh), "a new conversation lost nothing"

    await w1.start()
    assert await wait_until(lambda: not rasa.is_down(w1.url), within=7.0)
    replies = await say(gateway, sender, "个税怎么算")
    assert replies[0]["custom"] == {"kind": RESTARTED_KIND, "language": "zh"}
    assert replies[0]["text"] == catalogue.text("restarted", "zh") and who(replies) == "w1"
    assert [b["message"] for b in w1.received if b["sender"] == conversation][-2:] == ["/restart", "个税怎么算"]
    history = [m["message"] for m in w1.received + w2.received if m["sender"] == conversation]
    assert history.count("/restart") == 2


# --------------------------------------------------------------------------- a turn the gateway gave up on


class TrackingRasa(FakeRasa):
    """A fake Rasa with a tracker per conversation, its lock, and the HTTP API's tracker endpoints.

    Like Rasa it logs the user message at once, runs the (slow) turn holding the conversation's lock, and
    applies an appended event under the same lock, so a revert waits for the turn it reverts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trackers: Dict[str, List[Dict[str, Any]]] = {}
        self.log: List[str] = []
        self._locks: Dict[str, asyncio.Lock] = {}

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_get("/conversations/{conversation_id}/tracker", self._tracker)
        return app

    def _lock(self, conversation: str) -> asyncio.Lock:
        return self._locks.setdefault(conversation, asyncio.Lock())

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        conversation = body["sender"]
        async with self._lock(conversation):
            events = self.trackers.setdefault(conversation, [])
            events.append({"event": "user", "text": body["message"], "metadata": body.get("metadata") or {}})
            await asyncio.sleep(self.delay)
            events.append({"event": "bot", "text": f"re: {body['message']}"})
            self.log.append(f"done {body['message']}")
        return web.json_response([{"recipient_id": conversation, "text": f"re: {body['message']}"}])

    async def _tracker(self, request: web.Request) -> web.Response:
        if request.query.get("token") != "rasa-token":
            return web.json_response({"reason": "NotAuthenticated"}, status=401)
        events = self.trackers.get(request.match_info["conversation_id"], [])
        return web.json_response({"events": events, "latest_action_name": "action_listen"})

    async def _tracker_events(self, request: web.Request) -> web.Response:
        if request.query.get("token") != "rasa-token":
            return web.json_response({"reason": "NotAuthenticated"}, status=401)
        conversation = request.match_info["conversation_id"]
        assert (await request.json()) == {"event": "rewind"}
        async with self._lock(conversation):
            events = self.trackers.get(conversation, [])
            users = [i for i, e in enumerate(events) if e["event"] == "user"]
            if users:
                del events[users[-1]:]  # UserUtteranceReverted: back to before the last user message
            self.log.append("rewind")
        return web.json_response({"sender_id": conversation})


async def test_a_turn_the_taxpayer_got_the_apology_for_is_undone_in_rasa(  # type: ignore[no-untyped-def]
        aiohttp_client, make_settings) -> None:
    """Rasa waits up to 300 s per custom action, far past the gateway's reply timeout: the gateway reverts a
    turn it gave up on once Rasa has applied it, so the taxpayer's next message meets the state they saw."""
    rasa = TrackingRasa()
    await rasa.start()
    try:
        settings = make_settings(rasa_url=rasa.url, action_server_url=rasa.url, reply_timeout=0.5,
                                 rasa_token="rasa-token")
        gateway = await aiohttp_client(create_app(settings))
        gateway.server.app[SERVICE].rasa.poll_seconds = 0.05
        assert (await say(gateway, "t1", "my salary is 9000"))[0]["text"] == "re: my salary is 9000"
        rasa.delay = 1.5
        assert who(await say(gateway, "t1", "and my bonus is 3000")) == APOLOGY_KIND
        conversation = rasa.received[0]["sender"]
        assert await wait_until(lambda: "rewind" in rasa.log, within=5.0), "the late turn is reverted"
        assert rasa.log == ["done my salary is 9000", "done and my bonus is 3000", "rewind"]
        rasa.delay = 0
        assert (await say(gateway, "t1", "what do I owe"))[0]["text"] == "re: what do I owe"
        said = [e["text"] for e in rasa.trackers[conversation] if e["event"] == "user"]
        assert said == ["my salary is 9000", "what do I owe"], "the apologised-for turn left no trace"
    finally:
        await rasa.stop()


def test_shared_tracker_setting() -> None:
    from bot.settings import Settings

    assert Settings.from_env({}).rasa_context_shared is False
    assert Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"}).rasa_context_shared is True
    assert Settings.from_env({"REDIS_URL": "redis://h:1", "RASA_SHARED_TRACKER": "false"}).rasa_context_shared is False
    with pytest.raises(ValueError):
        Settings.from_env({"RASA_PROBE_MISSES": "0"})
