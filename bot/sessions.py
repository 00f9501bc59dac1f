"""Taxpayers' session tokens and the conversation references derived from them.

A session token is 16 random hex digits followed by 16 hex digits of an HMAC over them, so the gateway
can tell its own tokens from ones a client made up. The token is the taxpayer's bearer credential and
never leaves the taxpayer's side: the gateway derives the conversation id from it with a keyed hash
(``SessionSigner.conversation_id``) and uses only that id for Rasa, the database, metrics, the handoff,
analytics and every staff view. The derived id grants nothing: the taxpayer endpoints take the token.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Optional

_ID = re.compile(r"^[0-9a-f]{32}$")
#: Separates the conversation-id hash from the token MAC, so a derived id is never a valid token.
_CONVERSATION = b"taxguide-conversation\x00"


class SessionSigner:
    """Issues and verifies signed session tokens and derives their conversation ids."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode("ascii"), hashlib.sha256).hexdigest()[:16]

    def new_id(self) -> str:
        """A fresh signed session token (32 hex digits, like Rasa's uuid4().hex)."""
        nonce = secrets.token_hex(8)
        return nonce + self._mac(nonce)

    def is_valid(self, session_id: Optional[str]) -> bool:
        """True when ``session_id`` is a token issued by a gateway sharing this secret."""
        if not isinstance(session_id, str) or not _ID.match(session_id):
            return False
        return hmac.compare_digest(session_id[16:], self._mac(session_id[:16]))

    def conversation_id(self, sender: str) -> str:
        """The conversation id of a session token or of a client-chosen sender (32 hex digits).

        The same on every gateway sharing the secret; it cannot be turned back into the token.
        """
        digest = hmac.new(self._key, _CONVERSATION + sender.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:32]
