"""Two gateways, two Rasa workers and two action servers behind nginx, on shared Redis and PostgreSQL
(scripts/cluster.py): conversations do not depend on the instance, and losing one loses nothing."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.request
import uuid
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Optional, Tuple

import aiohttp
import psycopg2
import pytest
import redis
import socketio

from bot.rasa_client import pick_worker
from bot.sessions import SessionSigner
from scripts import cluster as supervisor
from scripts import stack
from tests.ci import unavailable
from tests.socketio_client import connect_polling, leave

pytestmark = pytest.mark.integration
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REDIS_DB = 8  # a database of its own, flushed before and after
AGENT, PASSWORD = "li", "cluster-agent-password"
Event = Tuple[str, Any]


def require(name: str, port: int) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as error:
        unavailable(f"{name} is not running on 127.0.0.1:{port} (scripts/services.sh starts it): {error}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[supervisor.Cluster, str]]:
    """The cluster on free ports with a database of its own and an agent account; yields it and the database dsn."""
    require("PostgreSQL", 5432)
    require("Redis", 6379)
    if supervisor.nginx_binary() is None:
        unavailable("nginx is not installed (bash scripts/nginx.sh installs it)")
    database = f"taxguide_cluster_it_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    env = stack.environment()
    env.update(
        HANDOFF_ALWAYS_OPEN="true",
        RATE_LIMIT_IP_BURST="1000",  # every test client is 127.0.0.1
        RATE_LIMIT_IP_PER_MINUTE="10000",
        UPSTREAM_TIMEOUT="20",  # two Rasa workers on a 2-core machine under load: slow, not down
        SURVEY_IDLE_SECONDS="0",  # no idle surveys: the counts below are the scenario's only
        BCRYPT_ROUNDS="4",
    )
    try:
        with supervisor.running_cluster(env, state=tmp_path_factory.mktemp("cluster"), database_url=database_url,
                                        redis_url=redis_url) as running:
            account = subprocess.run(
                [str(stack.VENV_BIN / "python"), "-m", "bot.accounts", "create", "--username", AGENT, "--role",
                 "agent", "--display-name", "Officer Li"],
                input=PASSWORD + "\n", text=True, capture_output=True, cwd=stack.ROOT,
                env=dict(env, DATABASE_URL=database_url))
            assert account.returncode == 0, account.stderr
            yield running, f"host=127.0.0.1 port=5432 user=postgres dbname={database}"
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def whole(cluster: Tuple[supervisor.Cluster, str]) -> Tuple[supervisor.Cluster, str]:
    """The cluster with every member running: one a previous test killed is started again first."""
    running, dsn = cluster
    dead = [name for name, member in running.members.items() if not member.alive]
    for name in dead:
        running.members[name].start()
    if dead:
        running.wait(dead, 300)
        for name in dead:
            if name.startswith("rasa-"):
                stack.warm_up(running.ports.rasa[int(name[-1]) - 1])
    return running, dsn


def query(dsn: str, sql: str, *args: Any) -> List[Tuple[Any, ...]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


def say(url: str, sender: str, text: str) -> List[Dict[str, Any]]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(f"{url}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def customs(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [m["custom"] for m in messages if isinstance(m.get("custom"), dict)]


def kinds(messages: List[Dict[str, Any]]) -> List[str]:
    return [str(c.get("kind")) for c in customs(messages)]


def asked_slot(messages: List[Dict[str, Any]]) -> Optional[str]:
    """The slot a calculator form asks for next (None when it asks nothing)."""
    slots = [c.get("slot") for c in customs(messages) if c.get("kind") == "form"]
    return str(slots[-1]) if slots else None


def reference(running: supervisor.Cluster, sender: str) -> str:
    """The conversation id the cluster derives from a session token or REST sender (its SESSION_SECRET)."""
    return SessionSigner(running.secrets["SESSION_SECRET"]).conversation_id(sender)


def new_session(url: str) -> str:
    request = urllib.request.Request(f"{url}/sessions", b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["session_id"])


def history(url: str, session_id: str) -> List[Dict[str, Any]]:
    request = urllib.request.Request(f"{url}/conversations/{session_id}/history",
                                     headers={"Authorization": f"Bearer {session_id}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# --------------------------------------------------------------------------- clients


class Taxpayer:
    """A socket.io client that keeps every event it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: List[Event] = []
        self.session_id = ""
        for name in ("session_confirm", "bot_uttered", "handoff_status", "gateway_error"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[[Any], Any]:
        async def record(data: Any = None) -> None:
            self.events.append((name, data))
        return record

    async def connect(self, session_id: Optional[str] = None) -> "Taxpayer":
        await connect_polling(self.sio, self.url, wait_timeout=10)
        await self.sio.emit("session_request", {"session_id": session_id} if session_id else {})
        _, confirmed = await self.wait(lambda name, data: name == "session_confirm")
        self.session_id = str(confirmed)
        return self

    async def say(self, text: str) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def wait(self, match: Callable[[str, Any], bool], timeout: float = 30, after: int = 0) -> Event:
        """The first event from index ``after`` on that ``match`` accepts (waiting for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, data in self.events[after:]:
                if match(name, data):
                    return name, data
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching event within {timeout}s; got {self.events[after:]}")

    async def uttered(self, kind: str, after: int = 0, timeout: float = 30) -> Dict[str, Any]:
        """The bot message whose custom json has ``kind``, as ``{text, quick_replies?, custom}``: like Rasa's
        socket.io channel, the gateway emits the custom json as its own event right after the message's text."""
        _, data = await self.wait(lambda name, data: name == "bot_uttered" and isinstance(data, dict)
                                  and data.get("kind") == kind, timeout, after)
        index = next(i for i in range(after, len(self.events)) if self.events[i][1] is data)
        message: Dict[str, Any] = {"custom": dict(data)}
        for name, event in reversed(self.events[:index]):  # the text event before it (status events may interleave)
            if name == "bot_uttered":
                if isinstance(event, dict) and "text" in event:
                    message.update(event)
                break
        return message

    async def close(self) -> None:
        """Leave at once; works on a dead server too."""
        await leave(self.sio)


class Officer:
    """An agent signed in to the console of one instance, with its live websocket."""

    def __init__(self, url: str) -> None:
        self.url = url
        # cookies for 127.0.0.1; the console cookie is Secure, and like a browser the client treats loopback as secure
        loopback = [url, url.replace("http://", "ws://", 1)]
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=loopback))
        self.csrf = ""
        self.ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self.frames: List[Dict[str, Any]] = []
        self.reader: Optional["asyncio.Task[None]"] = None

    async def sign_in(self) -> "Officer":
        try:
            return await self._sign_in()
        except BaseException:
            await self.close()
            raise

    async def _sign_in(self) -> "Officer":
        async with self.http.post(f"{self.url}/agent/api/login", json={"username": AGENT, "password": PASSWORD},
                                  headers={"Origin": self.url}) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf_token"]
        self.ws = await self.http.ws_connect(f"{self.url}/agent/ws", origin=self.url)
        self.reader = asyncio.create_task(self._read())
        await self.post("/agent/api/presence", {"status": "online"})
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(message.data))

    async def post(self, path: str, body: Dict[str, Any], status: int = 200) -> Dict[str, Any]:
        async with self.http.post(self.url + path, json=body, headers={"X-CSRF-Token": self.csrf}) as response:
            assert response.status == status, await response.text()
            return dict(await response.json())

    async def frame(self, match: Callable[[Dict[str, Any]], bool], timeout: float = 30) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.frames:
                if match(frame):
                    return frame
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching console frame within {timeout}s; got {self.frames}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.http.close()


@pytest.fixture
async def officer_on_b(whole: Tuple[supervisor.Cluster, str]) -> AsyncIterator[Officer]:
    officer = await Officer(whole[0].gateway_urls["b"]).sign_in()
    yield officer
    await officer.close()


# --------------------------------------------------------------------------- conversations across instances


def test_a_conversation_keeps_its_context_across_gateway_instances(whole: Tuple[supervisor.Cluster, str]) -> None:
    running, _ = whole
    a, b = running.gateway_urls["a"], running.gateway_urls["b"]
    session_id = new_session(a)
    started = say(a, session_id, "calculate the tax on my year-end bonus")
    assert asked_slot(started) == "bonus_amount", started
    result = say(b, session_id, "24000")  # the form started on A goes on at B
    calculation = [c for c in customs(result) if c.get("kind") == "calculation"]
    assert calculation, result
    assert "720" in " ".join(m.get("text", "") for m in result)  # 24,000 x 3%
    assert kinds(say(a, session_id, "thanks")).count("survey") == 1
    assert kinds(say(b, session_id, '/rate{"score": 5}')) == ["survey_thanks"]  # the survey state is shared
    turns = [(m["sender_type"], m["text"]) for m in history(b, session_id) if m["sender_type"] == "taxpayer"]
    assert turns == [("taxpayer", "calculate the tax on my year-end bonus"), ("taxpayer", "24000"),
                     ("taxpayer", "thanks"), ("taxpayer", '/rate{"score": 5}')]


async def test_a_reply_reaches_the_conversations_sockets_on_the_other_instance(
        whole: Tuple[supervisor.Cluster, str]) -> None:
    running, _ = whole
    on_a = await Taxpayer(running.gateway_urls["a"]).connect()
    on_b = await Taxpayer(running.gateway_urls["b"]).connect(on_a.session_id)  # a second tab, on the other instance
    try:
        assert on_b.session_id == on_a.session_id
        await on_b.say("what VAT rate applies to consulting services")
        for tab in (on_a, on_b):  # emitted by B through the shared socket.io manager on Redis
            answer = await tab.uttered("answer")
            assert answer["custom"]["article_id"] == "vat-rates"
    finally:
        await on_a.close()
        await on_b.close()


async def test_a_handoff_between_a_taxpayer_on_one_instance_and_an_officer_on_the_other(
        whole: Tuple[supervisor.Cluster, str], officer_on_b: Officer) -> None:
    running, dsn = whole
    taxpayer = await Taxpayer(running.gateway_urls["a"]).connect()
    conversation = reference(running, taxpayer.session_id)  # what the officer sees and the database stores
    try:
        await taxpayer.say("can I speak to someone")
        queued = await taxpayer.uttered("handoff_queued")
        assert queued["custom"]["position"] >= 1
        _, status = await taxpayer.wait(lambda name, data: name == "handoff_status" and data.get("status") == "queued")
        assert status["position"] >= 1  # the queue position, published by the instance that queued it
        await officer_on_b.frame(lambda f: f.get("type") == "snapshot"
                                 and conversation in [w["conversation_id"] for w in f["waiting"]])

        mark = len(taxpayer.events)
        await officer_on_b.post(f"/agent/api/conversations/{conversation}/claim", {})
        claimed = await taxpayer.uttered("handoff_claimed", after=mark)
        assert "Officer Li" in claimed["text"]
        await officer_on_b.post(f"/agent/api/conversations/{conversation}/messages",
                                {"text": "Good morning, this is Officer Li."}, status=201)
        message = await taxpayer.uttered("agent_message", after=mark)
        assert message["text"] == "Good morning, this is Officer Li."

        await taxpayer.say("my refund was rejected twice")
        relayed = await officer_on_b.frame(lambda f: f.get("type") == "conversation"
                                           and f.get("conversation_id") == conversation and f.get("message"))
        message = relayed["message"]
        assert (message["sender"], message["text"]) == ("taxpayer", "my refund was rejected twice")

        await officer_on_b.post(f"/agent/api/conversations/{conversation}/close", {"outcome": "resolved"})
        survey = await taxpayer.uttered("survey", after=mark)  # asked by B, delivered by A
        assert survey["quick_replies"]
        await taxpayer.say('/rate{"score": 4}')
        await taxpayer.uttered("survey_thanks", after=mark)
    finally:
        await taxpayer.close()
    events = query(dsn, "SELECT event_type, count(*) FROM handoff_events WHERE conversation_id = %s "
                        "GROUP BY event_type", conversation)
    assert dict(events) == {"requested": 1, "queued": 1, "claimed": 1, "agent_message": 1, "resolved": 1}
    assert query(dsn, "SELECT score FROM conversation_ratings WHERE conversation_id = %s", conversation) == [(4,)]


# --------------------------------------------------------------------------- through the proxy


def test_the_pages_and_the_apis_work_through_nginx(whole: Tuple[supervisor.Cluster, str]) -> None:
    running, _ = whole
    for path, marker in (("/", b"<html"), ("/agent/", b"<html"), ("/agent/analytics/", b"<html")):
        with urllib.request.urlopen(running.proxy_url + path, timeout=10) as response:
            assert response.status == 200, path
            assert marker in response.read().lower(), path
    with urllib.request.urlopen(running.proxy_url + "/health", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
        assert response.headers["X-TaxGuide-Gateway"] in ("a", "b")


async def test_socketio_and_the_console_websocket_work_through_nginx(whole: Tuple[supervisor.Cluster, str]) -> None:
    running, _ = whole
    taxpayer = await Taxpayer(running.proxy_url).connect()
    try:
        await taxpayer.say("how much can I earn before income tax kicks in")
        answer = await taxpayer.uttered("answer")
        assert answer["custom"]["article_id"] == "iit-basic-deduction"
    finally:
        await taxpayer.close()
    officer = await Officer(running.proxy_url).sign_in()  # Origin and Host agree through the proxy
    try:
        snapshot = await officer.frame(lambda f: f.get("type") == "snapshot")
        assert snapshot["presence"] == "online"
        async with officer.http.get(running.proxy_url + "/agent/api/me") as response:
            assert (await response.json())["username"] == AGENT
    finally:
        await officer.close()


# --------------------------------------------------------------------------- losing an instance

CONVERSATIONS = 10
SCRIPTS = (
    ["hello", "how much can I earn before income tax kicks in", "what VAT rate applies to consulting services",
     "thanks", '/rate{"score": 4}'],
    ["hello", "can I speak to someone", "what VAT rate applies to consulting services", "thanks",
     '/rate{"score": 2}'],
)


async def converse(http: aiohttp.ClientSession, url: str, sender: str, script: List[str], progress: List[int],
                   served: List[Tuple[float, str]]) -> List[str]:
    """Send the script's messages in turn, retrying a failed one once with the same Idempotency-Key (a reply
    lost with its gateway is then found in the store, not asked again); returns the texts that got a reply."""
    answered = []
    for text in script:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        for attempt in (1, 2):
            try:
                async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                     headers=key, timeout=aiohttp.ClientTimeout(total=60)) as response:
                    if response.status == 200:
                        replies = await response.json()
                        assert replies, (sender, text)
                        served.append((time.monotonic(), response.headers.get("X-TaxGuide-Gateway", "?")))
                        answered.append(text)
                        progress.append(1)
                        break
                    failure = f"HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                failure = type(error).__name__
            if attempt == 2:
                raise AssertionError(f"{sender}: {text!r} failed twice ({failure})")
            await asyncio.sleep(0.5)  # as a client would, after reconnecting
    return answered


async def test_killing_a_gateway_under_load_loses_and_duplicates_nothing(
        whole: Tuple[supervisor.Cluster, str]) -> None:
    running, dsn = whole
    proxy = running.proxy_url
    run = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as http:
        # socket.io from this address sticks to one gateway: that is the one to lose
        async with http.get(f"{proxy}/socket.io/?EIO=4&transport=polling") as response:
            doomed = response.headers["X-TaxGuide-Gateway"]
        taxpayer = await Taxpayer(proxy).connect()
        await taxpayer.say("calculate the tax on my year-end bonus")
        asked = await taxpayer.wait(lambda name, data: name == "bot_uttered"  # the form's custom json
                                    and isinstance(data, dict) and data.get("slot") == "bonus_amount")
        assert asked

        progress: List[int] = []
        served: List[Tuple[float, str]] = []
        senders = [f"load-{run}-{i}" for i in range(CONVERSATIONS)]
        load = asyncio.gather(*(converse(http, proxy, sender, SCRIPTS[i % 2], progress, served)
                                for i, sender in enumerate(senders)))
        task = asyncio.ensure_future(load)
        total = sum(len(SCRIPTS[i % 2]) for i in range(CONVERSATIONS))
        while len(progress) < total // 2 and not task.done():
            await asyncio.sleep(0.02)
        running.kill(f"gateway-{doomed}")
        killed_at = time.monotonic()  # replies read after this (and a moment for those already received) are B's
        answered = await task

        # the socket.io taxpayer reconnects through nginx, lands on the other gateway and goes on
        await taxpayer.close()
        again = await Taxpayer(proxy).connect(taxpayer.session_id)
        try:
            await again.say("24000")
            await again.uttered("calculation")
            texts = " ".join(str(data.get("text", "")) for name, data in again.events if name == "bot_uttered")
            assert "720" in texts  # 24,000 x 3%: the form's figure asked before the kill, answered after it
        finally:
            await again.close()
    survivor = "b" if doomed == "a" else "a"
    before = {name for at, name in served if at < killed_at}
    after = {name for at, name in served if at > killed_at + 0.5}
    assert before == {"a", "b"}, "nginx did not spread the load over both gateways"
    assert after == {survivor}
    texts = [(m["sender_type"], m["text"]) for m in history(proxy, taxpayer.session_id)]
    assert ("taxpayer", "calculate the tax on my year-end bonus") in texts and ("taxpayer", "24000") in texts

    refs = [reference(running, sender) for sender in senders]  # the ids the gateway stores
    rows = query(dsn, "SELECT conversation_id, text, count(*) FROM messages WHERE sender_type = 'taxpayer' "
                      "AND conversation_id = ANY(%s) GROUP BY conversation_id, text", refs)
    stored = {(conversation, text): count for conversation, text, count in rows}
    replied = {(ref, text): 1 for ref, texts in zip(refs, answered) for text in texts}
    assert len(replied) == total
    assert stored == replied, "taxpayer messages lost or stored twice"

    askers = refs[1::2]
    events = query(dsn, "SELECT conversation_id, event_type, data FROM handoff_events WHERE conversation_id = ANY(%s)",
                   refs)
    requested = [(c, d) for c, t, d in events if t == "requested"]
    assert sorted(c for c, _ in requested) == sorted(askers), events
    queued = sorted(c for c, t, _ in events if t == "queued")
    assert queued == sorted(c for c, data in requested if (data or {}).get("outcome") == "queued"), events
    assert {t for _, t, _ in events} <= {"requested", "queued"}, events

    ratings = query(dsn, "SELECT conversation_id, score, skipped FROM conversation_ratings WHERE conversation_id "
                         "= ANY(%s)", refs)
    assert sorted(ratings) == sorted((r, 4 if i % 2 == 0 else 2, False) for i, r in enumerate(refs))


def test_a_conversation_goes_on_at_the_other_rasa_worker_when_its_own_is_killed(
        whole: Tuple[supervisor.Cluster, str]) -> None:
    running, _ = whole
    gateway = running.gateway_urls["b"]
    workers = [url.rstrip("/") for url in running.rasa_urls]
    candidates = (f"worker-{uuid.uuid4().hex[:8]}" for _ in range(100))
    # Rasa sees the reference, not the sender
    sender = next(s for s in candidates if pick_worker(workers, reference(running, s)) == workers[0])
    assert asked_slot(say(gateway, sender, "help me estimate my annual reconciliation refund")) == "annual_income"
    assert asked_slot(say(gateway, sender, "120000")) == "social_insurance"
    running.kill("rasa-1")  # the conversation's worker
    replies = say(gateway, sender, "12000")
    assert "apology" not in kinds(replies), "the gateway did not fail over to the other Rasa worker"
    assert asked_slot(replies) == "special_additional", replies  # the form went on where it was
