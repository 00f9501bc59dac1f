"""The WeChat server protocol: checks of a callback request, safe XML parsing, reply XML.

Everything that can be wrong with a request raises ``Rejected`` (status, code) before anything is
stored: a bad or missing signature, a timestamp outside the replay window, a body over the size
limit, a DOCTYPE or ENTITY declaration (no DTDs at all, so no external entities and no entity
expansion), XML that is not well-formed or not a WeChat message, a ciphertext that does not decrypt,
and (safe mode) a message for another AppID.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

from bot.wechat.crypto import CryptoError, MessageCrypto, sign, signature_ok
from bot.wechat.settings import WeChatSettings

_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.I)
_DECLARED_ENCODING = re.compile(r"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)[\"']", re.I)
MAX_OPENID = 128
MAX_FIELD = 16 * 1024


class Rejected(Exception):
    """A request refused with a 4xx; nothing of it is stored."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Inbound:
    """One message or event from a WeChat user (``openid`` is never stored or logged)."""

    openid: str
    account: str  # ToUserName: the Official Account's original id
    create_time: int
    msg_type: str
    content: Optional[str] = None
    msg_id: Optional[str] = None
    event: Optional[str] = None

    @property
    def dedupe_key(self) -> str:
        """WeChat retries with the same MsgId; events have none: FromUserName + CreateTime (hashed)."""
        if self.msg_id:
            return "msg:" + self.msg_id
        digest = hashlib.sha256(f"{self.openid}\n{self.create_time}\n{self.event or self.msg_type}".encode("utf-8"))
        return "evt:" + digest.hexdigest()[:40]


# --------------------------------------------------------------------------- checks


def check_timestamp(timestamp: Optional[str], window: float, now: Optional[float] = None) -> None:
    """Refuse a missing timestamp (400) or one more than ``window`` seconds from now (403, a replay?)."""
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        raise Rejected(400, "invalid_timestamp", "timestamp is missing or not a number")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > window:
        raise Rejected(403, "stale_timestamp", "timestamp outside the accepted window (replay?)")


def check_signature(query: Mapping[str, str], token: str) -> None:
    """``signature`` over token, timestamp and nonce (URL verification, plain mode)."""
    nonce = query.get("nonce") or ""
    if not nonce or len(nonce) > 64:
        raise Rejected(400, "invalid_nonce", "nonce is missing")
    if not signature_ok(query.get("signature"), (token, query.get("timestamp") or "", nonce)):
        raise Rejected(403, "bad_signature", "signature does not match")


def parse_xml(raw: bytes, limit: int) -> Dict[str, str]:
    """The direct children of a ``<xml>`` root as text, parsed without any DTD."""
    if len(raw) > limit:
        raise Rejected(413, "payload_too_large", f"XML larger than {limit} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Rejected(400, "invalid_encoding", "XML is not UTF-8") from None
    if _DTD.search(text):
        raise Rejected(400, "dtd_forbidden", "DOCTYPE and ENTITY declarations are not accepted")
    declared = _DECLARED_ENCODING.match(text)
    if declared and declared.group(1).strip().lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise Rejected(400, "invalid_encoding", "XML must be UTF-8")
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError, RecursionError):
        raise Rejected(400, "malformed_xml", "XML is not well-formed") from None
    if root.tag != "xml":
        raise Rejected(400, "malformed_xml", "the root element must be <xml>")
    fields: Dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in fields:
            fields[child.tag] = (child.text or "").strip() if child.tag != "Content" else (child.text or "")
    return fields


def _inbound(fields: Dict[str, str]) -> Inbound:
    openid = fields.get("FromUserName", "").strip()
    msg_type = fields.get("MsgType", "").strip().lower()
    created = fields.get("CreateTime", "").strip()
    if not openid or len(openid) > MAX_OPENID or not msg_type or not created.isdigit() or len(created) > 12:
        raise Rejected(400, "malformed_message", "FromUserName, CreateTime and MsgType are required")
    msg_id = fields.get("MsgId", fields.get("MsgID", "")).strip() or None
    if msg_id is not None and (not msg_id.isdigit() or len(msg_id) > 32):
        raise Rejected(400, "malformed_message", "MsgId must be a number")
    content = fields.get("Content")
    if content is not None and len(content) > MAX_FIELD:
        raise Rejected(413, "payload_too_large", "Content too long")
    event = fields.get("Event", "").strip().lower() or None
    return Inbound(openid=openid, account=fields.get("ToUserName", "").strip(), create_time=int(created),
                   msg_type=msg_type, content=content, msg_id=msg_id, event=event)


def parse_message(query: Mapping[str, str], raw: bytes, conf: WeChatSettings, crypto: Optional[MessageCrypto],
                  now: Optional[float] = None) -> Inbound:
    """Check and decode one POSTed callback; raise Rejected when anything is wrong."""
    assert conf.token is not None
    check_timestamp(query.get("timestamp"), conf.timestamp_window, now)
    if crypto is None:  # plain mode
        check_signature(query, conf.token)
        return _inbound(parse_xml(raw, conf.max_xml_bytes))
    if (query.get("encrypt_type") or "").lower() != "aes":
        raise Rejected(400, "encryption_required", "safe mode is configured: send encrypt_type=aes")
    if query.get("signature"):  # WeChat sends both; the URL signature must hold too
        check_signature(query, conf.token)
    outer = parse_xml(raw, conf.max_xml_bytes)
    encrypted = outer.get("Encrypt", "")
    if not encrypted:
        raise Rejected(400, "malformed_message", "Encrypt is missing")
    nonce = query.get("nonce") or ""
    if not nonce or len(nonce) > 64:
        raise Rejected(400, "invalid_nonce", "nonce is missing")
    if not signature_ok(query.get("msg_signature"), (conf.token, query.get("timestamp") or "", nonce, encrypted)):
        raise Rejected(403, "bad_signature", "msg_signature does not match")
    try:
        inner, app_id = crypto.decrypt(encrypted)
    except CryptoError:
        raise Rejected(400, "undecryptable", "Encrypt could not be decrypted") from None
    if app_id != conf.app_id:
        raise Rejected(403, "wrong_app_id", "the message is for another AppID")
    return _inbound(parse_xml(inner.encode("utf-8"), conf.max_xml_bytes))


# --------------------------------------------------------------------------- replies


def cdata(value: str) -> str:
    """``value`` as a CDATA section (a ``]]>`` inside is split over two sections)."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(inbound: Inbound, content: str, now: Optional[int] = None) -> str:
    """A passive text reply to ``inbound``."""
    return (
        "<xml>"
        f"<ToUserName>{cdata(inbound.openid)}</ToUserName>"
        f"<FromUserName>{cdata(inbound.account)}</FromUserName>"
        f"<CreateTime>{int(time.time()) if now is None else now}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )


def encrypted_envelope(crypto: MessageCrypto, xml: str, timestamp: Optional[str] = None,
                       nonce: Optional[str] = None) -> str:
    """The safe-mode reply: the encrypted XML with its msg_signature, timestamp and nonce."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**10))
    encrypted = crypto.encrypt(xml)
    return (
        "<xml>"
        f"<Encrypt>{cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{cdata(sign(crypto.token, timestamp, nonce, encrypted))}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce>"
        "</xml>"
    )
