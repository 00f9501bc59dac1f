"""The WeChat server API: the access token and the customer-service message API.

There is one access token per Official Account, shared by every gateway instance. The token is
cached in this process and, with Redis, under ``<prefix>token`` for every instance; a Redis lock
(``SET NX PX``) lets only one instance ask WeChat for a new one while the others wait for it. A
token is renewed ahead of its expiry (five minutes before, or halfway for short-lived ones) and at
once when WeChat answers 40001 / 42001 / 40014 (the call is then retried once). Neither the secret,
the token nor an OpenID is ever logged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any, Callable, Dict, Optional, Tuple

import aiohttp

from bot.wechat.state import RedisCommands

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 42001, 40014})  # invalid, expired, not a valid token
OUT_OF_WINDOW = 45015  # the user has not written within 48 hours
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_DROP_TOKEN = (
    "local v = redis.call('get', KEYS[1]) "
    "if v and cjson.decode(v)['token'] == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
)


class WeChatApiError(Exception):
    """A WeChat API call failed; ``errcode`` is WeChat's error code when it answered one."""

    def __init__(self, errcode: Optional[int], what: str) -> None:
        super().__init__(f"{what}: errcode {errcode}")
        self.errcode = errcode


def _decode(body: str) -> Dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise WeChatApiError(None, "the WeChat API answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise WeChatApiError(None, "the WeChat API answered something that is not an object")
    return data


class AccessTokens:
    """The Official Account's access token: cached here and in Redis, fetched by one instance at a time."""

    def __init__(
        self, http: Callable[[], aiohttp.ClientSession], api_base: str, app_id: str, secret: Optional[str],
        redis: Optional[RedisCommands] = None, prefix: str = "taxguide:wechat:", lock_ttl: float = 10.0,
        lock_wait: float = 8.0, on_error: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self._http = http
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self._secret = secret
        self.redis = redis
        self.key = f"{prefix}{app_id}:token"
        self.lock_key = self.key + ":lock"
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait
        self.on_error = on_error
        self._local: Optional[Tuple[str, float]] = None  # (token, renew_at epoch)
        self._lock = asyncio.Lock()
        self.fetches = 0  # requests to WeChat's token endpoint from this process

    def _fresh(self) -> Optional[str]:
        if self._local is not None and time.time() < self._local[1]:
            return self._local[0]
        return None

    async def get(self) -> str:
        """A valid access token: this process's, the shared one, or a new one (one fetch at a time)."""
        token = self._fresh()
        if token:
            return token
        async with self._lock:
            token = self._fresh()
            if token:
                return token
            token, renew_at = await self._shared_or_fetch()
            self._local = (token, renew_at)
            return token

    async def invalidate(self, token: str) -> None:
        """WeChat refused ``token``: forget it here and in Redis (unless another one replaced it)."""
        if self._local is not None and self._local[0] == token:
            self._local = None
        if self.redis is not None:
            try:
                await self.redis.eval(_DROP_TOKEN, 1, self.key, token)
            except Exception as exc:
                log.warning("wechat token: could not drop the shared token (%s)", type(exc).__name__)
                self.on_error("redis")

    async def _read_shared(self, redis: RedisCommands) -> Optional[Tuple[str, float]]:
        raw = await redis.get(self.key)
        if not raw:
            return None
        data = json.loads(raw)
        if time.time() >= float(data["renew_at"]):
            return None
        return str(data["token"]), float(data["renew_at"])

    async def _shared_or_fetch(self) -> Tuple[str, float]:
        redis = self.redis
        if redis is None:
            return await self._fetch()
        try:
            shared = await self._read_shared(redis)
            if shared:
                return shared
            owner = uuid.uuid4().hex
            deadline = time.monotonic() + self.lock_wait
            while time.monotonic() < deadline:
                if await redis.set(self.lock_key, owner, nx=True, px=int(self.lock_ttl * 1000)):
                    try:
                        shared = await self._read_shared(redis)  # refreshed while we waited for the lock
                        if shared:
                            return shared
                        token, renew_at, expires_at = await self._fetch_full()
                        ttl = max(1, int(renew_at - time.time()))
                        await redis.set(self.key, json.dumps({"token": token, "renew_at": renew_at,
                                                              "expires_at": expires_at}), ex=ttl)
                        return token, renew_at
                    finally:
                        try:
                            await redis.eval(_RELEASE, 1, self.lock_key, owner)
                        except Exception:
                            pass  # it expires by itself
                await asyncio.sleep(0.05)  # another instance is fetching: wait for its token
                shared = await self._read_shared(redis)
                if shared:
                    return shared
            log.warning("wechat token: no token from the instance holding the lock; fetching one here")
        except WeChatApiError:
            raise
        except Exception as exc:
            log.warning("wechat token: redis unavailable (%s); fetching in this process", type(exc).__name__)
            self.on_error("redis")
        return await self._fetch()

    async def _fetch(self) -> Tuple[str, float]:
        token, renew_at, _ = await self._fetch_full()
        return token, renew_at

    async def _fetch_full(self) -> Tuple[str, float, float]:
        if not self._secret:
            raise WeChatApiError(None, "WECHAT_APP_SECRET is not set")
        self.fetches += 1
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        try:
            async with self._http().get(f"{self.api_base}/cgi-bin/token", params=params) as resp:
                data = _decode(await resp.text())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise WeChatApiError(None, f"token request failed ({type(exc).__name__})") from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(data.get("errcode"), "WeChat refused the token request")
        try:
            expires_in = max(1.0, float(data.get("expires_in", 7200)))
        except (TypeError, ValueError):
            expires_in = 7200.0
        now = time.time()
        renew_at = now + max(expires_in - 300.0, expires_in / 2)
        return token, renew_at, now + expires_in


class WeChatApi:
    """Customer-service text messages (``POST /cgi-bin/message/custom/send``)."""

    def __init__(self, http: Callable[[], aiohttp.ClientSession], api_base: str, tokens: AccessTokens,
                 on_error: Callable[[str], None] = lambda kind: None) -> None:
        self._http = http
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens
        self.on_error = on_error

    async def send_text(self, openid: str, content: str, conversation_id: str = "") -> bool:
        """Send one text; True when WeChat accepted it. Failures are logged by conversation id only."""
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": content}},
                          ensure_ascii=False).encode("utf-8")  # WeChat shows \\u escapes literally
        for attempt in (1, 2):
            try:
                token = await self.tokens.get()
                async with self._http().post(
                    f"{self.api_base}/cgi-bin/message/custom/send", params={"access_token": token}, data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                ) as resp:
                    data = _decode(await resp.text())
            except WeChatApiError as exc:
                log.error("wechat: message for %s not sent: %s", conversation_id, exc)
                self.on_error("wechat_api")
                return False
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.error("wechat: message for %s not sent: %s", conversation_id, type(exc).__name__)
                self.on_error("wechat_api")
                return False
            code = data.get("errcode", 0)
            if code in (0, None):
                return True
            if code in TOKEN_ERRORS and attempt == 1:
                log.info("wechat: access token refused (errcode %s); renewing it", code)
                await self.tokens.invalidate(token)
                continue
            if code == OUT_OF_WINDOW:
                log.warning("wechat: message for %s dropped: outside the 48-hour window (errcode %s)",
                            conversation_id, code)
            else:
                log.error("wechat: message for %s refused: errcode %s", conversation_id, code)
            self.on_error("wechat_api")
            return False
        return False
