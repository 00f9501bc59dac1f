"""WeChat channel settings, read from the environment (the variables are in ``knowledge.env``)."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import urlparse

from knowledge.env import Env, SettingsError

DEFAULT_API_BASE = "https://api.weixin.qq.com"
MAX_REPLY_BUDGET = 4.8  # WeChat gives up after 5 s
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey (base64 without its trailing '=')."""
    if not _AES_KEY.match(encoding_aes_key):
        raise SettingsError("WECHAT_ENCODING_AES_KEY must be the 43 characters shown on the WeChat platform")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("WECHAT_ENCODING_AES_KEY is not valid base64") from None
    if len(key) != 32:
        raise SettingsError("WECHAT_ENCODING_AES_KEY must decode to 32 bytes")
    return key


@dataclass(frozen=True)
class WeChatSettings:
    """The Official Account and how the channel talks to WeChat.

    ``WECHAT_TOKEN`` and ``WECHAT_APP_ID`` (both needed for the ``/wechat`` route),
    ``WECHAT_APP_SECRET`` (access token for the customer-service API), ``WECHAT_ENCODING_AES_KEY``
    (safe mode; plain mode when unset), ``WECHAT_API_BASE`` (https://api.weixin.qq.com),
    ``WECHAT_REPLY_BUDGET`` (4.5 s for a passive reply), ``WECHAT_TIMESTAMP_WINDOW`` (300 s against
    replays), ``WECHAT_ID_SECRET`` (pseudonymises OpenIDs; ``SESSION_SECRET`` when unset) and
    ``WECHAT_REDIS_PREFIX`` (``taxguide:wechat:``).
    """

    token: Optional[str] = field(default=None, repr=False)
    app_id: Optional[str] = None
    app_secret: Optional[str] = field(default=None, repr=False)
    encoding_aes_key: Optional[str] = field(default=None, repr=False)
    api_base: str = DEFAULT_API_BASE
    reply_budget: float = 4.5
    timestamp_window: float = 300.0
    id_secret: Optional[str] = field(default=None, repr=False)
    redis_prefix: str = "taxguide:wechat:"
    max_xml_bytes: int = 64 * 1024
    api_timeout: float = 5.0

    @property
    def enabled(self) -> bool:
        """The channel (and its route) exists only with a token and an AppID."""
        return bool(self.token and self.app_id)

    @property
    def safe_mode(self) -> bool:
        """Messages are encrypted (an EncodingAESKey is set)."""
        return self.encoding_aes_key is not None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> WeChatSettings:
        """Read the settings from ``env`` (``os.environ`` by default); SettingsError names a bad variable."""
        read = Env(env)
        token = read.text("WECHAT_TOKEN")
        if token is not None and (len(token) > 64 or any(c.isspace() for c in token)):
            raise SettingsError("WECHAT_TOKEN must be at most 64 characters without spaces")
        aes = read.text("WECHAT_ENCODING_AES_KEY")
        if aes is not None:
            aes_key_bytes(aes)
        api_base = (read.text("WECHAT_API_BASE") or DEFAULT_API_BASE).rstrip("/")
        parsed = urlparse(api_base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError(f"WECHAT_API_BASE must be an http(s) URL, got {api_base!r}")
        budget = read.number("WECHAT_REPLY_BUDGET", 4.5)
        if not 0 < budget <= MAX_REPLY_BUDGET:
            raise SettingsError(f"WECHAT_REPLY_BUDGET must be in (0, {MAX_REPLY_BUDGET}] seconds")
        window = read.number("WECHAT_TIMESTAMP_WINDOW", 300.0)
        if window <= 0:
            raise SettingsError("WECHAT_TIMESTAMP_WINDOW must be positive")
        return cls(
            token=token,
            app_id=read.text("WECHAT_APP_ID"),
            app_secret=read.text("WECHAT_APP_SECRET"),
            encoding_aes_key=aes,
            api_base=api_base,
            reply_budget=budget,
            timestamp_window=window,
            id_secret=read.text("WECHAT_ID_SECRET"),
            redis_prefix=read.text("WECHAT_REDIS_PREFIX") or "taxguide:wechat:",
        )
