"""Masking of personal data (resident IDs, mobile numbers, bank cards)."""
from __future__ import annotations

import logging
import re

# 18-digit resident identity number: 17 digits + check digit or X.
_RESIDENT_ID = re.compile(r"(?<!\d)(\d{3})\d{11}(\d{3}[\dXx])(?![\dA-Za-z])")
# Bank cards: 16-19 digits, contiguous or grouped by spaces/dashes.
_CARD = re.compile(
    r"(?<!\d)(?:\d{16,19}"
    r"|\d{4}(?:[ \-]\d{4}){3}(?:[ \-]?\d{1,3})?"
    r"|\d{6}[ \-]\d{10,13})(?!\d)"
)
# Mainland mobile: optional +86 / 0086 / 86 prefix, 1[3-9] and 9 more digits,
# optionally separated by spaces or dashes.
_MOBILE = re.compile(
    r"(?<![\d+])((?:\+|00)?86[ \-]?)?(1[3-9]\d(?:[ \-]?\d){8})(?!\d)"
)


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    seen = 0
    out = []
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_mobile(match: re.Match[str]) -> str:
    prefix = match.group(1) or ""
    digits = re.sub(r"\D", "", match.group(2))
    return f"{prefix}{digits[:3]}****{digits[-4:]}"


def mask_pii(text: str) -> str:
    """Return ``text`` with resident IDs, bank cards and mobile numbers masked.

    A few digits are kept for context, e.g. ``110***********1234``.
    """
    if not text:
        return text
    text = _RESIDENT_ID.sub(lambda m: f"{m.group(1)}{'*' * 11}{m.group(2)}", text)
    text = _CARD.sub(_mask_card, text)
    text = _MOBILE.sub(_mask_mobile, text)
    return text


_CONVERSATION_PATH = re.compile(r"(/conversations/)[^/\s?\"]+")


class MaskingFilter(logging.Filter):
    """Logging filter that masks personal data in every record it sees.

    Conversation ids in URLs are masked too: they are bearer credentials.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; always keep it."""
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - broken format args
            return True
        masked = _CONVERSATION_PATH.sub(r"\1<redacted>", mask_pii(message))
        if masked != message:
            record.msg, record.args = masked, None
        return True
