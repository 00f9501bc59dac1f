"""Rasa's socket.io protocol against a real running gateway."""
import asyncio
import json
from typing import Any, Dict, List, Tuple

import pytest
import pytest_asyncio
import socketio
from rasa.core.channels.socketio import SocketIOOutput

from bot.app import create_app
from bot.keys import METRICS, SIGNER
from bot.socket_channel import to_socket_events
from tests.socketio_client import connect_polling, leave

pytestmark = pytest.mark.asyncio


class Peer:
    """A python-socketio client that queues every event it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        for name in ("session_confirm", "bot_uttered", "gateway_error"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str):
        async def record(data: Any = None) -> None:
            await self.events.put((name, data))
        return record

    async def connect(self) -> "Peer":
        await connect_polling(self.sio, self.url)
        return self

    async def close(self) -> None:
        await leave(self.sio)

    async def next(self, timeout: float = 5) -> Tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def session(self, session_id: Any = None) -> str:
        await self.sio.emit("session_request", {"session_id": session_id} if session_id is not None else {})
        name, data = await self.next()
        assert name == "session_confirm"
        return data

    async def say(self, session_id: str, message: str, count: int) -> List[Dict[str, Any]]:
        await self.sio.emit("user_uttered", {"message": message, "session_id": session_id})
        events = [await self.next() for _ in range(count)]
        return [data for name, data in events if name == "bot_uttered"] if all(
            n == "bot_uttered" for n, _ in events) else events


@pytest_asyncio.fixture
async def server(aiohttp_server, make_settings):
    app = create_app(make_settings())
    srv = await aiohttp_server(app)
    srv.gateway_app = app
    return srv


@pytest_asyncio.fixture
async def peers(server):
    made: List[Peer] = []

    async def make() -> Peer:
        peer = await Peer(f"http://127.0.0.1:{server.port}").connect()
        made.append(peer)
        return peer

    yield make
    for peer in made:
        await peer.close()


async def test_session_and_bot_uttered(server, peers, fake_rasa, custom_payload) -> None:
    peer = await peers()
    session_id = await peer.session()
    assert isinstance(session_id, str) and len(session_id) == 32
    events = await peer.say(session_id, "怎么开发票", count=3)
    assert isinstance(events[2].pop("feedback_id"), str)  # thumbs up/down id (bot/analytics)
    assert events == [  # as Rasa's SocketIOOutput: text parts, buttons on the last, then the custom json alone
        {"text": "关于“怎么开发票”：请在个税App办理年度汇算。", "quick_replies": []},
        {
            "text": "还有其他问题吗？",
            "quick_replies": [
                {"content_type": "text", "title": "是", "payload": "/affirm"},
                {"content_type": "text", "title": "否", "payload": "/deny"},
            ],
        },
        custom_payload,
    ]
    assert fake_rasa.received[-1]["sender"] == server.gateway_app[SIGNER].conversation_id(session_id)  # not the token
    assert fake_rasa.received[-1]["input_channel"] == "socketio"


async def test_session_persistence(peers) -> None:
    first = await peers()
    session_id = await first.session()
    await first.close()
    second = await peers()
    assert await second.session(session_id) == session_id
    assert await second.say(session_id, "echo:again", count=1) == [{"text": "again"}]


async def test_replies_reach_every_socket_of_the_session(peers) -> None:
    a, b = await peers(), await peers()
    session_id = await a.session()
    assert await b.session(session_id) == session_id
    assert await a.say(session_id, "echo:both", count=1) == [{"text": "both"}]
    assert await b.next() == ("bot_uttered", {"text": "both"})


async def test_made_up_session_id_is_replaced(peers) -> None:
    peer = await peers()
    session_id = await peer.session("someone-elses-id")
    assert session_id != "someone-elses-id" and len(session_id) == 32


async def test_foreign_or_missing_session_is_refused(peers, fake_rasa) -> None:
    owner, intruder = await peers(), await peers()
    owner_session = await owner.session()
    await intruder.session()
    await intruder.sio.emit("user_uttered", {"message": "hi", "session_id": owner_session})
    name, data = await intruder.next()
    assert name == "gateway_error" and data["error"]["code"] == "no_session"
    await intruder.sio.emit("user_uttered", {"message": "hi"})
    assert (await intruder.next())[1]["error"]["code"] == "no_session"
    assert fake_rasa.received == []
    assert owner.events.empty()


@pytest.mark.parametrize(
    "data, code",
    [
        ("not an object", "invalid_type"),
        ({"message": "   "}, "empty_message"),
        ({"message": "x" * 2001}, "message_too_long"),
        ({"message": 5}, "invalid_type"),
        ({"message": "a\x00b"}, "invalid_message"),
        ({"message": "hi", "metadata": [1]}, "invalid_type"),
    ],
)
async def test_bad_socket_input(peers, data, code) -> None:
    peer = await peers()
    session_id = await peer.session()
    if isinstance(data, dict):
        data = dict(data, session_id=session_id)
    await peer.sio.emit("user_uttered", data)
    name, payload = await peer.next()
    assert name == "gateway_error" and payload["error"]["code"] == code
    assert await peer.say(session_id, "echo:fine", count=1) == [{"text": "fine"}]


async def test_socket_rate_limit(aiohttp_server, make_settings) -> None:
    srv = await aiohttp_server(create_app(make_settings(sender_burst=1, sender_per_minute=1)))
    peer = await Peer(f"http://127.0.0.1:{srv.port}").connect()
    try:
        session_id = await peer.session()
        assert await peer.say(session_id, "echo:1", count=1) == [{"text": "1"}]
        await peer.sio.emit("user_uttered", {"message": "echo:2", "session_id": session_id})
        name, data = await peer.next()
        assert name == "gateway_error" and data["error"]["code"] == "rate_limited"
        assert data["error"]["retry_after"] == 60
    finally:
        await peer.close()


async def test_open_sessions_gauge_and_history(server, peers) -> None:
    peer = await peers()
    session_id = await peer.session()
    await peer.say(session_id, "echo:<i>x</i> 13812345678", count=1)
    import aiohttp

    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{server.port}"
        metrics = await (await http.get(base + "/metrics")).text()
        assert "taxguide_socket_sessions_open 1.0" in metrics
        assert 'taxguide_messages_total{channel="socketio",sender_type="taxpayer"} 1.0' in metrics
        resp = await http.get(f"{base}/conversations/{session_id}/history",
                              headers={"Authorization": f"Bearer {session_id}"})
        history = await resp.json()
    assert [(m["sender"], m["channel"], m["text"]) for m in history] == [
        ("taxpayer", "socketio", "echo:<i>x</i> 138****5678"),
        ("bot", "socketio", "<i>x</i> 138****5678"),
    ]
    await peer.close()
    await asyncio.sleep(0.2)
    assert "taxguide_socket_sessions_open 0.0" in server.gateway_app[METRICS].render().decode()


async def test_raw_websocket_transport(server) -> None:
    """Engine.IO v4 / Socket.IO v5 frames over a plain websocket, as browsers send them."""
    import aiohttp

    url = f"http://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url) as ws:

            async def frame() -> str:
                while True:
                    msg = await asyncio.wait_for(ws.receive_str(), 5)
                    if msg != "2":  # skip pings
                        return msg
                    await ws.send_str("3")

            assert (await frame()).startswith("0{")
            await ws.send_str("40")
            assert (await frame()).startswith("40")
            await ws.send_str('42["session_request",{}]')
            event, session_id = json.loads((await frame())[2:])
            assert event == "session_confirm" and len(session_id) == 32
            await ws.send_str("42" + json.dumps(["user_uttered", {"message": "echo:ws", "session_id": session_id}]))
            assert json.loads((await frame())[2:]) == ["bot_uttered", {"text": "ws"}]


REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_instances_share_sockets_through_redis(aiohttp_server, make_settings, require_service) -> None:
    """A reply emitted by one gateway instance reaches a taxpayer connected to another; the handoff's
    per-instance delivery reaches each taxpayer once, not once per instance."""
    require_service("Redis", "127.0.0.1", 6379)
    import uuid

    from bot.keys import SIO
    from bot.socket_channel import BOT_EVENT, SocketTaxpayers

    prefix = f"taxguide-test:{uuid.uuid4().hex}:"
    apps = [create_app(make_settings(redis_url=REDIS_URL, handoff_redis_prefix=prefix)) for _ in range(2)]
    servers = [await aiohttp_server(app) for app in apps]
    peer = await Peer(f"http://127.0.0.1:{servers[0].port}").connect()
    try:
        session_id = await peer.session()
        room = apps[0][SIGNER].conversation_id(session_id)  # the conversation's room, as the handoff names it
        await asyncio.sleep(0.3)  # the other instance's Redis listener subscribes on its first emit
        await apps[1][SIO].emit(BOT_EVENT, {"text": "from the other instance"}, room=room)
        assert await peer.next() == ("bot_uttered", {"text": "from the other instance"})
        for app in apps:  # what the handoff fan-out does on every instance
            await SocketTaxpayers(app[SIO]).taxpayer_message(room, {"text": "an officer replied"}, "e1")
        assert await peer.next() == ("bot_uttered", {"text": "an officer replied"})
        with pytest.raises(asyncio.TimeoutError):
            await peer.next(timeout=1.0)
    finally:
        await peer.close()


class EmitRecorder:
    """Stands in for the socket.io server Rasa's SocketIOOutput emits through (same ``emit`` signature)."""

    def __init__(self) -> None:
        self.emitted: List[Tuple[str, Any]] = []

    async def emit(self, event: str, data: Any = None, to: Any = None, room: Any = None, skip_sid: Any = None,
                   namespace: Any = None, callback: Any = None, ignore_queue: bool = False) -> None:
        self.emitted.append((event, data))


RASA_MESSAGES = [
    {"text": "one part"},
    {"text": "first\n\nsecond\n\nthird"},
    {"text": "pick one\n\nof these", "buttons": [{"title": "A", "payload": "/a"}, {"title": "B", "payload": "/b"}]},
    {"text": "with json", "custom": {"data": {"kind": "answer", "article_id": "vat-rates"}}},
    {"text": "a picture", "image": "https://example.invalid/p.png"},
    {"attachment": {"type": "video", "payload": {"src": "https://example.invalid/v.mp4"}}},
    {"elements": [{"title": "card 1"}, {"title": "card 2"}]},
    {"text": "all", "buttons": [{"title": "C", "payload": "/c"}], "custom": {"data": {"kind": "x"}},
     "image": "https://example.invalid/q.png"},
]


@pytest.mark.parametrize("message", RASA_MESSAGES)
async def test_bot_uttered_events_are_the_ones_rasa_socketio_output_emits(message) -> None:
    """rasa-webchat and other Rasa widgets render only what Rasa's own socket.io channel sends."""
    recorder = EmitRecorder()
    await SocketIOOutput(recorder, "bot_uttered").send_response("room", json.loads(json.dumps(message)))
    assert [("bot_uttered", event) for event in to_socket_events(message)] == recorder.emitted


async def test_custom_json_comes_alone_after_the_text(peers, fake_rasa) -> None:
    """Our custom payload is its own event (never on a text event: rasa-webchat then shows nothing)."""
    fake_rasa.reply = lambda sender, message: [
        {"recipient_id": sender, "text": "The basic deduction is 5,000 yuan a month.",
         "custom": {"kind": "smalltalk", "article_id": "iit-basic-deduction"}}]
    peer = await peers()
    session_id = await peer.session()
    events = await peer.say(session_id, "basic deduction", count=2)
    assert events == [{"text": "The basic deduction is 5,000 yuan a month."},
                      {"kind": "smalltalk", "article_id": "iit-basic-deduction"}]


async def test_nothing_invisible_is_sent(peers, fake_rasa) -> None:
    """A reply part of zero-width characters or spaces never becomes an empty ``bot_uttered``."""
    fake_rasa.reply = lambda sender, message: [
        {"recipient_id": sender, "text": "\u200b\u200c\u2060 "},
        {"recipient_id": sender, "text": "\ufeff\n\nshown\n\n\u200d"},
        {"recipient_id": sender, "text": "", "custom": {}},
    ]
    peer = await peers()
    session_id = await peer.session()
    assert await peer.say(session_id, "hello", count=1) == [{"text": "shown"}]
    with pytest.raises(asyncio.TimeoutError):
        await peer.next(timeout=1.0)


@pytest.mark.parametrize(
    "origin, opens",
    [("https://tax.example.gov.cn", True), ("http://{host}", True), ("https://evil.example", False)],
)
async def test_a_listed_embedding_site_and_the_gateways_own_page_may_open_a_socket(
    aiohttp_client, make_settings, origin: str, opens: bool
) -> None:
    client = await aiohttp_client(create_app(make_settings(cors_origins=("https://tax.example.gov.cn",))))
    origin = origin.format(host=f"{client.host}:{client.port}")
    resp = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": origin})
    assert (resp.status == 200) is opens
    if opens:
        assert resp.headers.get("Access-Control-Allow-Origin") == origin
