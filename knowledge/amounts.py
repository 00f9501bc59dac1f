"""Money amounts in taxpayers' words: "240k", "24,000", "2.4万", "2万5", "¥5000/month", "1.2 million".

Pure Python (no Rasa), so both the NLU entity component and the action server can use it.
Amounts are in yuan; a period ('month', 'quarter', 'year') is recognised when the text says one
("/month", "a year", "per quarter", "每月", "年薪 ...", "monthly salary of ..."). Negative numbers,
percentages, counts ("12 months", "2 children"), dates, years ("in 2023") and reference numbers
("No. 30", "call 12366") are not amounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import List, Literal, Optional, Tuple, Union

Period = Literal["month", "quarter", "year"]

_CENT = Decimal("0.01")
_MAX_VALUE = Decimal("1e15")  # beyond any tax amount a person would type; treated as nonsense

# Full-width digits and punctuation -> ASCII, one character for one (spans stay valid).
_FULLWIDTH = str.maketrans(
    "０１２３４５６７８９．／－",
    "0123456789./-",
)

_MULTIPLIERS = {
    "k": Decimal(1000),
    "thousand": Decimal(1000),
    "m": Decimal(1000000),
    "mn": Decimal(1000000),
    "mil": Decimal(1000000),
    "million": Decimal(1000000),
    "bn": Decimal(1000000000),
    "billion": Decimal(1000000000),
    "千": Decimal(1000),
    "仟": Decimal(1000),
    "万": Decimal(10000),
    "萬": Decimal(10000),
    "十万": Decimal(100000),
    "百万": Decimal(1000000),
    "千万": Decimal(10000000),
    "亿": Decimal(100000000),
}

_PERIOD_WORDS = {
    "month": "month",
    "months": "month",
    "mo": "month",
    "mth": "month",
    "月": "month",
    "个月": "month",
    "monthly": "month",
    "quarter": "quarter",
    "qtr": "quarter",
    "季度": "quarter",
    "季": "quarter",
    "个季度": "quarter",
    "quarterly": "quarter",
    "year": "year",
    "yr": "year",
    "annum": "year",
    "年": "year",
    "annually": "year",
    "yearly": "year",
    "p.a.": "year",
    "pa": "year",
}

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_AMOUNT = re.compile(
    r"""
    (?:(?P<currency_before>(?:[¥￥]|\b(?:rmb|cny)|\byuan\b))\s*|(?<![A-Za-z0-9_.,/]))
    (?P<number>"""
    + _NUMBER
    + r""")
    (?![\d,]*\d)
    (?:\s*(?P<multiplier>十万|百万|千万|千|仟|万|萬|亿)(?:(?P<tail>\d)(?P<tail_unit>千|百)?(?![\d.,]))?
       |\s?(?P<word_multiplier>k|thousand|million|mn|mil|m|billion|bn)(?![a-z]))?
    (?P<currency_after>\s*(?:yuan|rmb|cny|kuai|元|块钱|块|圆)(?![a-z]))?
    (?P<period>
        \s*(?:/|per\s+|a\s+|an\s+|each\s+|every\s+|in\s+a\s+|每个?|/每|一个?)\s*
            (?P<period_unit>months?|mo|mth|quarter|qtr|year|yr|annum|个月|月|个季度|季度|季|年)(?![a-z])
      | \s*(?P<period_adverb>monthly|quarterly|annually|yearly|p\.a\.|pa)(?![a-z])
    )?
    """,
    re.IGNORECASE | re.VERBOSE,
)

# What follows a bare number that makes it a count, a percentage or a date rather than money.
_NOT_MONEY_AFTER = re.compile(
    r"""[A-Za-z]|\s*(?:%|percent|per\s*cent|個|个|岁|歲|年|月|日|号|號|天|人|次|套|周|小时|分|号线|
        (?:months?|years?|yrs?|days?|weeks?|hours?|hrs?|minutes?|mins?|kids?|child(?:ren)?|
           people|persons?|times|sons?|daughters?|parents?|siblings?|st|nd|rd|th|am|pm)(?![a-z]))""",
    re.IGNORECASE | re.VERBOSE,
)
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}")
_YEAR_CONTEXT = re.compile(
    r"(?:\b(?:in|since|from|for|year|until|till|to|before|after|during|by|of|fy|announcement|circular|law)\s*)$",
    re.IGNORECASE,
)
_REFERENCE_CONTEXT = re.compile(
    r"(?:\b(?:no|number|art|article|tier|call|dial|phone|tel|hotline|level|grade|page|step|option|room)\.?\s*|#\s*|第\s*)$",
    re.IGNORECASE,
)
_NEGATIVE_BEFORE = re.compile(r"(?:(?:^|[^\w])[-−]|\b(?:minus|negative)\s+)$", re.IGNORECASE)
_PERIOD_BEFORE = re.compile(
    r"""(?P<word>monthly|per\s+month|a\s+month|each\s+month|every\s+month|quarterly|per\s+quarter|
        each\s+quarter|every\s+quarter|annual|annually|yearly|per\s+year|a\s+year|each\s+year|every\s+year|
        per\s+annum|每个?月|月薪|月收入|月工资|月销售额|每个?季度?|季度|年薪|年收入|全年|每年|一年)""",
    re.IGNORECASE | re.VERBOSE,
)
_PERIOD_BEFORE_WORDS = {
    "monthly": "month",
    "annual": "year",
    "annually": "year",
    "yearly": "year",
    "quarterly": "quarter",
}
_CLAUSE_BREAK = re.compile(r"[.;!?。；！？\n]|,\s|，|\band\b|\bbut\b|\bplus\b")


@dataclass(frozen=True)
class Amount:
    """A money amount found in text: value in yuan, its period if stated, and where it was."""

    value: Decimal
    period: Optional[Period]
    text: str
    start: int
    end: int

    @property
    def span(self) -> Tuple[int, int]:
        """(start, end) of the amount in the text it was found in."""
        return self.start, self.end

    def per_year(self) -> Optional[Decimal]:
        """The amount for a whole year (month x 12, quarter x 4); None without a period."""
        if self.period is None:
            return None
        factor = {"month": 12, "quarter": 4, "year": 1}[self.period]
        return self.value * factor


def _clean_value(number: Decimal) -> Decimal:
    """Whole yuan without decimals, otherwise rounded half up to the cent."""
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.quantize(_CENT, rounding=ROUND_HALF_UP)


def _period_before(text: str, start: int, floor: int) -> Optional[Period]:
    """A period word shortly before `start` in the same clause ("monthly salary is 5000")."""
    window = text[max(floor, start - 40) : start]
    breaks = list(_CLAUSE_BREAK.finditer(window))
    if breaks:
        window = window[breaks[-1].end() :]
    words = window.split()
    if len(words) > 5:
        window = " ".join(words[-5:])
    matches = list(_PERIOD_BEFORE.finditer(window))
    if not matches:
        return None
    word = re.sub(r"\s+", " ", matches[-1].group("word").lower())
    if word in _PERIOD_BEFORE_WORDS:
        return _PERIOD_BEFORE_WORDS[word]  # type: ignore[return-value]
    for key, period in (
        ("month", "month"),
        ("月", "month"),
        ("quarter", "quarter"),
        ("季", "quarter"),
        ("year", "year"),
        ("annum", "year"),
        ("年", "year"),
    ):
        if key in word:
            return period  # type: ignore[return-value]
    return None


def _masked(text: str) -> str:
    """`text` with dates and times blanked out (same length) so their digits are not amounts."""
    return _DATE_LIKE.sub(lambda m: " " * len(m.group(0)), text)


_NEGATIVE = "negative"


def _scan(text: str) -> List[Union[Amount, str]]:
    """Every candidate number in `text`, in order: an Amount, or why it is not one."""
    if not isinstance(text, str) or not text:
        return []
    normal = _masked(text.translate(_FULLWIDTH))
    found: List[Union[Amount, str]] = []
    previous_end = 0
    for match in _AMOUNT.finditer(normal):
        found.append(_to_amount(text, normal, match, previous_end))
        previous_end = match.end()
    return found


def _to_amount(text: str, normal: str, match: "re.Match[str]", previous_end: int) -> Union[Amount, str]:
    """The Amount a pattern match stands for, or the reason it is refused."""
    start, end = match.span()
    number_start = match.start("number")
    if _NEGATIVE_BEFORE.search(normal[max(0, start - 30) : start]):
        return _NEGATIVE
    try:
        number = Decimal(match.group("number").replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern only matches valid numbers
        return "not a number"
    multiplier_text = match.group("multiplier") or match.group("word_multiplier")
    has_currency = bool(match.group("currency_before") or match.group("currency_after"))
    unit = match.group("period_unit") or match.group("period_adverb")
    period: Optional[Period] = _PERIOD_WORDS[unit.lower()] if unit else None  # type: ignore[assignment]
    if not (multiplier_text or has_currency or period):
        context = normal[max(0, number_start - 20) : number_start]
        if _NOT_MONEY_AFTER.match(normal, match.end("number")):
            return "count, percentage or unit"
        if _REFERENCE_CONTEXT.search(context):
            return "reference number"
        if re.fullmatch(r"(?:19|20)\d\d", match.group("number")) and _YEAR_CONTEXT.search(context):
            return "year"
    if multiplier_text:
        factor = _MULTIPLIERS[multiplier_text.lower()]
        number *= factor
        if match.group("tail"):  # colloquial "2万5" = 25,000, "3千5" = 3,500, "2万5千" = 25,000
            tail_unit = match.group("tail_unit")
            tail_factor = (Decimal(1000) if tail_unit == "千" else Decimal(100)) if tail_unit else factor / 10
            number += int(match.group("tail")) * tail_factor
    if not number.is_finite() or number < 0 or number > _MAX_VALUE:
        return "out of range"
    if period is None:
        period = _period_before(normal, start, previous_end)
    return Amount(_clean_value(number), period, text[start:end], start, end)


def find_amounts(text: str) -> List[Amount]:
    """Every money amount in `text`, in order; refused numbers (negative, counts...) are left out."""
    return [item for item in _scan(text) if isinstance(item, Amount)]


def parse_amount(text: str) -> Optional[Amount]:
    """The first money amount in `text`; None when there is none or the first one is negative."""
    for item in _scan(text):
        if isinstance(item, Amount):
            return item
        if item == _NEGATIVE:
            return None
    return None
