"""Parsing and validation of incoming taxpayer messages."""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping

from bot.errors import ApiError

MAX_SENDER_CHARS = 128


@dataclass(frozen=True)
class IncomingMessage:
    """A validated taxpayer message."""

    sender: str
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)


def decode_json_body(body: bytes) -> Any:
    """Decode a request body as strict UTF-8 JSON or raise ApiError(400)."""
    if not body:
        raise ApiError(400, "empty_body", "request body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", "request body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ApiError(400, "malformed_json", "request body is not valid JSON") from None


def _has_binary(text: str) -> bool:
    for ch in text:
        if ch in "\n\r\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return True
    return False


def validate_text(message: Any, max_chars: int) -> str:
    """Check a message text; return it with surrounding whitespace stripped."""
    if not isinstance(message, str):
        raise ApiError(400, "invalid_type", "'message' must be a string")
    if _has_binary(message):
        raise ApiError(400, "invalid_message", "'message' contains binary or control characters")
    text = message.strip()
    if not text:
        raise ApiError(400, "empty_message", "'message' is empty")
    if len(text) > max_chars:
        raise ApiError(400, "message_too_long", f"'message' is longer than {max_chars} characters")
    return text


def validate_sender(sender: Any) -> str:
    """Check a sender / session id."""
    if not isinstance(sender, str):
        raise ApiError(400, "invalid_type", "'sender' must be a string")
    sender = sender.strip()
    if not sender:
        raise ApiError(400, "invalid_sender", "'sender' is empty")
    if len(sender) > MAX_SENDER_CHARS or _has_binary(sender) or any(c.isspace() for c in sender):
        raise ApiError(
            400, "invalid_sender", f"'sender' must be at most {MAX_SENDER_CHARS} visible characters"
        )
    return sender


def validate_metadata(metadata: Any) -> Dict[str, Any]:
    """Check optional metadata: absent, null or an object."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_type", "'metadata' must be an object")
    return metadata


def parse_rest_payload(payload: Any, max_chars: int) -> IncomingMessage:
    """Validate a Rasa REST webhook body ``{"sender", "message", "metadata"?}``."""
    if not isinstance(payload, Mapping):
        raise ApiError(400, "invalid_type", "request body must be a JSON object")
    if "sender" not in payload or "message" not in payload:
        raise ApiError(400, "missing_field", "'sender' and 'message' are required")
    return IncomingMessage(
        sender=validate_sender(payload["sender"]),
        text=validate_text(payload["message"], max_chars),
        metadata=validate_metadata(payload.get("metadata")),
    )
