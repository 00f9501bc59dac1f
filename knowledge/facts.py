"""The figures an answer states, in a form that compares across English and Chinese.

Both answers of an article must state the same facts. A figure is any number written in digits:
amounts ("60,000 yuan" ↔ "6万元"), rates ("3%"), dates ("31 December 2027" ↔ "2027年12月31日") and
counts ("5 years" ↔ "5年"). Month names become their numbers, 万/亿/million/billion multiply, and
thousands separators are dropped, so equal facts give equal sets.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import FrozenSet

MONTHS = {
    name: index
    for index, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_FULL = "january|february|march|april|june|july|august|september|october|november|december"
# A full month name is a month ("each December" ↔ "每年12月"); "May" and abbreviations count only next to
# a day or year ("31 May", "May 2026"), so the verb "may" is no date.
MONTH_NAME = re.compile(
    r"\b(" + _FULL + r")\b|(?:(?<=\d )|(?<=\d))(" + _NAMES + r")\b\.?|\b(" + _NAMES + r")\b\.?(?=,?\s*\d)",
    re.IGNORECASE,
)
# Full-width digits and separators are folded to ASCII before figures are read.
FULL_WIDTH = str.maketrans("０１２３４５６７８９．％", "0123456789.%")
FIGURE = re.compile(
    r"(?<![0-9A-Za-z.,_])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(万亿|万|亿|million|billion|thousand)?(?![\d])",
    re.IGNORECASE,
)
MULTIPLIERS = {
    "万": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "万亿": Decimal(1_000_000_000_000),
    "thousand": Decimal(1_000),
    "million": Decimal(1_000_000),
    "billion": Decimal(1_000_000_000),
}


def _normalised(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def figures(text: str) -> FrozenSet[str]:
    """Every figure stated in `text`, normalised (see the module docstring)."""
    folded = text.translate(FULL_WIDTH)
    folded = MONTH_NAME.sub(
        lambda m: f" {MONTHS[(m.group(1) or m.group(2) or m.group(3)).lower().rstrip('.')]} ", folded
    )
    found = set()
    for match in FIGURE.finditer(folded):
        whole, fraction, unit = match.group(1), match.group(2) or "", match.group(3)
        try:
            value = Decimal(whole.replace(",", "") + fraction)
        except InvalidOperation:  # pragma: no cover - the pattern only matches digits
            continue
        if unit:
            value *= MULTIPLIERS[unit.lower()]
        found.add(_normalised(value))
    return frozenset(found)


def mismatch(english: str, chinese: str) -> str:
    """'' when both texts state the same figures, else a message naming what differs."""
    en, zh = figures(english), figures(chinese)
    if en == zh:
        return ""
    parts = []
    if en - zh:
        parts.append(f"only in en: {sorted(en - zh)}")
    if zh - en:
        parts.append(f"only in zh: {sorted(zh - en)}")
    return "; ".join(parts)
