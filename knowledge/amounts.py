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

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
_CN_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿]+")


def _section_value(text: str) -> Optional[int]:
    """A Chinese numeral below 10,000 ("三千五" = 3500, "二十" = 20, "十二" = 12); None if malformed."""
    total, digit, last_unit = 0, None, 10000
    for char in text:
        if char in _CN_DIGITS:
            if digit is not None and _CN_DIGITS[char] != 0:
                return None
            digit = _CN_DIGITS[char] if _CN_DIGITS[char] != 0 else None
            if _CN_DIGITS[char] == 0:
                last_unit = 10  # "一千零五": what follows is a unit digit
        else:
            unit = _CN_SMALL_UNITS[char]
            if unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        total += digit * (last_unit // 10 if last_unit <= 1000 and text[-2:-1] not in _CN_DIGITS else 1)
    return total


def chinese_numeral_value(text: str) -> Optional[int]:
    """The value of a Chinese numeral such as 三千五, 两万五, 一万二千, 十万, 一百二十万; None if it is not one."""
    value = 0
    rest = text
    for big, factor in (("亿", 100_000_000), ("万", 10_000)):
        if big in rest:
            head, rest = rest.split(big, 1)
            if not head:
                return None
            section = _section_value(head)
            if section is None:
                return None
            value += section * factor
            if rest and rest[0] in _CN_DIGITS and len(rest) == 1 and rest != "零":
                return value + _CN_DIGITS[rest] * factor // 10  # colloquial "两万五" = 25,000
    if rest:
        section = _section_value(rest)
        if section is None:
            return None
        value += section
    return value


def _fold_chinese_numerals(text: str) -> Tuple[str, List[int]]:
    """`text` with Chinese numerals written in digits, and each new position's index in `text`."""
    out: List[str] = []
    index: List[int] = []
    position = 0
    for match in _CN_NUMERAL.finditer(text):
        numeral = match.group()
        has_digit = any(char in _CN_DIGITS for char in numeral)
        has_unit = any(char in "十百千万亿" for char in numeral)
        value = chinese_numeral_value(numeral) if has_unit and (has_digit or numeral[0] == "十") else None
        if value is None:
            continue
        out.append(text[position : match.start()])
        index.extend(range(position, match.start()))
        digits = str(value)
        out.append(digits)
        index.extend([match.start()] * (len(digits) - 1) + [match.end() - 1])
        position = match.end()
    out.append(text[position:])
    index.extend(range(position, len(text) + 1))
    return "".join(out), index


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
    normal, index = _fold_chinese_numerals(_masked(text.translate(_FULLWIDTH)))
    found: List[Union[Amount, str]] = []
    previous_end = 0
    for match in _AMOUNT.finditer(normal):
        found.append(_to_amount(text, normal, match, previous_end, index))
        previous_end = match.end()
    return found


def _to_amount(
    text: str, normal: str, match: "re.Match[str]", previous_end: int, index: List[int]
) -> Union[Amount, str]:
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
    original_start, original_end = index[start], index[end - 1] + 1
    return Amount(_clean_value(number), period, text[original_start:original_end], original_start, original_end)


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
