"""Fixtures of the WeChat channel tests: a WeChat-side encoder (signs and encrypts callbacks the way
WeChat's servers do, written here from the documented algorithm, independent of bot/wechat/crypto.py),
a fake WeChat API server (access token + customer-service messages) and app factories."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import struct
import time
import xml.etree.ElementTree as ET
from typing import Any, Callable, Dict, List, Optional

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import unused_port
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import text as sql

from bot.keys import ENGINE

TOKEN = "taxguideWxToken2026"
APP_ID = "wx1234567890abcdef"
APP_SECRET = "app-secret-for-tests"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters
ACCOUNT = "gh_0123456789ab"
SECRET = "test-secret-not-for-production"  # SESSION_SECRET of tests/bot/conftest.py


def conversation_of(openid: str, secret: str = SECRET) -> str:
    return "wx-" + hmac.new(secret.encode(), openid.encode(), hashlib.sha256).hexdigest()[:32]


class WeChatSim:
    """What WeChat's servers send: signed query strings, message XML, safe-mode encryption."""

    def __init__(self, token: str = TOKEN, app_id: str = APP_ID, aes_key: Optional[str] = AES_KEY) -> None:
        self.token = token
        self.app_id = app_id
        self.aes_key = aes_key
        self._msg_id = 7_000_000_000_000_000_000

    @staticmethod
    def sha1_sorted(*parts: str) -> str:
        return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()

    # -- encryption (documented: AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes)
    def _key(self) -> bytes:
        assert self.aes_key is not None
        return base64.b64decode(self.aes_key + "=")

    def encrypt(self, xml: str, random16: Optional[bytes] = None, app_id: Optional[str] = None) -> str:
        body = xml.encode("utf-8")
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + (app_id or self.app_id).encode()
        pad = 32 - len(plain) % 32
        plain += bytes([pad]) * pad
        key = self._key()
        enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        key = self._key()
        dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        plain = plain[: -plain[-1]]
        (length,) = struct.unpack(">I", plain[16:20])
        assert plain[20 + length:].decode() == self.app_id
        return plain[20:20 + length].decode("utf-8")

    # -- messages
    def next_msg_id(self) -> str:
        self._msg_id += 1
        return str(self._msg_id)

    @staticmethod
    def text_xml(openid: str, content: str, msg_id: str, create_time: Optional[int] = None) -> str:
        return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")

    @staticmethod
    def event_xml(openid: str, event: str, create_time: Optional[int] = None) -> str:
        return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                f"<Event><![CDATA[{event}]]></Event></xml>")

    @staticmethod
    def media_xml(openid: str, msg_type: str, msg_id: str) -> str:
        return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
                f"<MediaId><![CDATA[media-1]]></MediaId><Format><![CDATA[amr]]></Format><MsgId>{msg_id}</MsgId></xml>")

    def query(self, openid: str = "", timestamp: Optional[int] = None, nonce: str = "1320562132",
              encrypted: Optional[str] = None, token: Optional[str] = None) -> Dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        token = token or self.token
        q = {"signature": self.sha1_sorted(token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if openid:
            q["openid"] = openid
        if encrypted is not None:
            q["encrypt_type"] = "aes"
            q["msg_signature"] = self.sha1_sorted(token, ts, nonce, encrypted)
        return q

    def request(self, xml: str, openid: str = "", safe: bool = True, app_id: Optional[str] = None,
                **kw: Any) -> Dict[str, Any]:
        """``{"params", "data"}`` of one callback, plain or encrypted (for ``app_id``, default ours)."""
        if not safe:
            return {"params": self.query(openid, **kw), "data": xml.encode("utf-8")}
        encrypted = self.encrypt(xml, app_id=app_id)
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return {"params": self.query(openid, encrypted=encrypted, **kw), "data": body.encode("utf-8")}

    def reply(self, body: str, safe: bool = True) -> Dict[str, str]:
        """The fields of a passive reply; safe mode: its MsgSignature checked, then decrypted."""
        root = ET.fromstring(body)
        if safe:
            encrypted = root.findtext("Encrypt")
            assert root.findtext("MsgSignature") == self.sha1_sorted(
                self.token, root.findtext("TimeStamp"), root.findtext("Nonce"), encrypted)
            root = ET.fromstring(self.decrypt(encrypted))
        return {child.tag: child.text or "" for child in root}


class FakeWeChatApi:
    """The two WeChat API calls the gateway makes, on a local port."""

    def __init__(self) -> None:
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_requests: List[Dict[str, str]] = []
        self.sent: List[Dict[str, Any]] = []
        self.valid: set = set()
        self.token_delay = 0.0
        self.expires_in = 7200
        self.refuse_with: Optional[int] = None  # errcode for every send
        self._runner: Optional[web.AppRunner] = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        q = request.query
        if q.get("grant_type") != "client_credential" or q.get("appid") != APP_ID or q.get("secret") != APP_SECRET:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        token = f"ACCESS-TOKEN-{len(self.token_requests)}"
        self.valid.add(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token")
        raw = await request.read()
        if token not in self.valid:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.refuse_with:
            return web.json_response({"errcode": self.refuse_with, "errmsg": "refused"})
        body = __import__("json").loads(raw.decode("utf-8"))
        self.sent.append({"token": token, "raw": raw, **body})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def texts(self, openid: Optional[str] = None) -> List[str]:
        return [m["text"]["content"] for m in self.sent if openid is None or m["touser"] == openid]

    async def wait_for(self, count: int, openid: Optional[str] = None, timeout: float = 5.0) -> List[str]:
        deadline = time.monotonic() + timeout
        while len(self.texts(openid)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.texts(openid)

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest_asyncio.fixture
async def fake_wechat() -> FakeWeChatApi:
    fake = FakeWeChatApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def sim() -> WeChatSim:
    return WeChatSim()


@pytest.fixture
def wechat_env(monkeypatch, fake_wechat) -> Callable[..., None]:
    """``wechat_env(safe=True, **VARS)``: the WECHAT_* variables of a configured Official Account."""

    def configure(safe: bool = True, **extra: str) -> None:
        values = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                  "WECHAT_API_BASE": fake_wechat.url, "WECHAT_REPLY_BUDGET": "3", "WECHAT_TIMESTAMP_WINDOW": "300"}
        values.update(extra)
        for name in ("WECHAT_ENCODING_AES_KEY", "WECHAT_ID_SECRET", "WECHAT_REDIS_PREFIX"):
            monkeypatch.delenv(name, raising=False)
        if safe:
            values["WECHAT_ENCODING_AES_KEY"] = AES_KEY
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return configure


@pytest.fixture
def wechat_app(make_handoff_app, wechat_env):
    """``wechat_app(safe=True, env={...}, **settings)``: a gateway with the WeChat channel and handoff."""

    def make(safe: bool = True, env: Optional[Dict[str, str]] = None, **overrides: Any):
        wechat_env(safe, **(env or {}))
        return make_handoff_app(**overrides)

    return make


async def transcript(app, conversation_id: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every stored message (optionally of one conversation), oldest first."""
    query = "SELECT conversation_id, sender_type, channel, text, kind FROM messages"
    params: Dict[str, Any] = {}
    if conversation_id:
        query += " WHERE conversation_id = :c"
        params["c"] = conversation_id
    async with app[ENGINE].connect() as conn:
        rows = (await conn.execute(sql(query + " ORDER BY id"), params)).mappings().all()
    return [dict(r) for r in rows]


async def database_dump(app) -> str:
    """The text of every row of every table (to look for what must never be stored)."""
    out: List[str] = []
    async with app[ENGINE].connect() as conn:
        tables = [r[0] for r in (await conn.execute(sql("SELECT name FROM sqlite_master WHERE type='table'"))).all()]
        for table in tables:
            for row in (await conn.execute(sql(f'SELECT * FROM "{table}"'))).all():
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


@pytest.fixture
def wx_helpers():
    return {"transcript": transcript, "database_dump": database_dump, "conversation_of": conversation_of}
