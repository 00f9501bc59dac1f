"""Gateway-issued conversation ids that prove their owner.

An id is 16 random hex digits followed by 16 hex digits of an HMAC over them,
so the gateway can tell its own ids from ids a client made up. Whoever holds
the id owns the conversation (it is the bearer credential for its history).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Optional

_ID = re.compile(r"^[0-9a-f]{32}$")


class SessionSigner:
    """Issues and verifies signed session ids."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode("ascii"), hashlib.sha256).hexdigest()[:16]

    def new_id(self) -> str:
        """A fresh signed session id (32 hex digits, like Rasa's uuid4().hex)."""
        nonce = secrets.token_hex(8)
        return nonce + self._mac(nonce)

    def is_valid(self, session_id: Optional[str]) -> bool:
        """True when ``session_id`` was issued by a gateway sharing this secret."""
        if not isinstance(session_id, str) or not _ID.match(session_id):
            return False
        return hmac.compare_digest(session_id[16:], self._mac(session_id[:16]))
