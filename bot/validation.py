"""Parsing and validation of incoming taxpayer messages."""
from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from bot.errors import ApiError

MAX_SENDER_CHARS = 128
#: JSON integers must fit a signed 64-bit column (SQLite INTEGER, PostgreSQL BIGINT).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
_MAX_INT_CHARS = 20  # "-9223372036854775808"; longer literals are refused before int() parses them
#: C0 controls except tab, line feed and carriage return; DEL; C1 controls; lone UTF-16 surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class IncomingMessage:
    """A validated taxpayer message."""

    sender: str
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)


class _BadNumber(ValueError):
    """A JSON number the gateway refuses (too large, not finite)."""


def _parse_int(raw: str) -> int:
    if len(raw) > _MAX_INT_CHARS:
        raise _BadNumber(raw[:24])
    value = int(raw)
    if not MIN_INT <= value <= MAX_INT:
        raise _BadNumber(raw)
    return value


def _parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise _BadNumber(raw[:24])
    return value


def _parse_constant(raw: str) -> float:
    raise _BadNumber(raw)  # NaN, Infinity, -Infinity are not JSON


def has_forbidden_chars(text: str) -> bool:
    """Whether ``text`` holds a control character (other than tab, CR, LF), NUL or a lone surrogate."""
    return _FORBIDDEN.search(text) is not None


def check_strings(value: Any, where: str = "the body") -> None:
    """Refuse (400 ``invalid_message``) any string, key or value, with forbidden characters."""
    stack: List[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_forbidden_chars(item):
                raise ApiError(400, "invalid_message", f"{where} contains control characters or lone surrogates")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def decode_json_body(body: bytes) -> Any:
    """Decode a request body as strict UTF-8 JSON or raise ApiError(400).

    Numbers must fit 64-bit integers or finite floats, and no string may hold control characters,
    NUL or lone surrogates (escaped UTF-16 halves without their pair).
    """
    if not body:
        raise ApiError(400, "empty_body", "request body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", "request body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except _BadNumber:
        raise ApiError(400, "invalid_number", "numbers must fit a 64-bit integer or be finite") from None
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise ApiError(400, "malformed_json", "request body is not valid JSON") from None
    check_strings(data)
    return data


def _invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Cf"  # Cf: zero-width spaces and joiners, BOM, ...


def validate_text(message: Any, max_chars: int) -> str:
    """Check a message text; return it with surrounding whitespace stripped."""
    if not isinstance(message, str):
        raise ApiError(400, "invalid_type", "'message' must be a string")
    if has_forbidden_chars(message):
        raise ApiError(400, "invalid_message", "'message' contains binary or control characters")
    text = message.strip()
    if all(_invisible(ch) for ch in text):
        raise ApiError(400, "empty_message", "'message' is empty or only invisible characters")
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
    if len(sender) > MAX_SENDER_CHARS or has_forbidden_chars(sender) or any(c.isspace() for c in sender):
        raise ApiError(
            400, "invalid_sender", f"'sender' must be at most {MAX_SENDER_CHARS} visible characters"
        )
    return sender


#: The longest ``Idempotency-Key`` header taken (a UUID is 36 characters).
MAX_IDEMPOTENCY_KEY_CHARS = 128


def validate_idempotency_key(value: Optional[str]) -> Optional[str]:
    """Check the optional ``Idempotency-Key`` header: 1-128 visible ASCII characters, or absent."""
    if value is None:
        return None
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY_CHARS or not all("!" <= c <= "~" for c in value):
        raise ApiError(400, "invalid_idempotency_key",
                       f"'Idempotency-Key' must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters")
    return value


def validate_metadata(metadata: Any) -> Dict[str, Any]:
    """Check optional metadata: absent, null or an object."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_type", "'metadata' must be an object")
    check_strings(metadata, "'metadata'")
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
