"""Reading a taxpayer's message into a calculator's slots: amounts, months, VAT periods, tax years.

A taxpayer may give every figure in one message ("my salary was 240k, social insurance 24,000 ...",
"年收入24万，社保每月2000 ...") or one at a time, in their own notation ("240k", "24,000", "2.4万",
"三千五", "¥5000/month"); an amount goes to the slot its words name (salary, social insurance,
withheld ... / 收入, 社保, 个税 ...), otherwise to the slot being asked. "none" / "no" / "没有" answer
the slots where zero makes sense. Naming a slot that is already filled changes it ("actually my income
was 250k", "不对 我收入是25万"); a correction naming none ("改成25万", "不是2万，是2.5万") changes
the answer it quotes, else the one given just before. A message that answers nothing (a tax question,
"stop", "算了") reads as nothing, so that the rules answer or cancel.

Pure functions over the NLU's parse data (`text`, `intent`, `entities`); money amounts come from the
NLU `amount` entities, or from `knowledge.amounts` for a message that did not go through the pipeline.
No Rasa imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, List, Optional, Sequence, Tuple

from actions.calculators.catalog import Calculator, Field
from actions.taxcalc.money import format_money
from knowledge.amounts import chinese_numeral_value, find_amounts, parse_amount
from knowledge.catalogue import text as phrase

#: Intents whose messages are read for answers; any other intent only when the message is a bare answer.
ANSWER_INTENTS = frozenset({"inform", "start_calculation", "affirm", "deny", "nlu_fallback"})
#: Intents never read for answers (the rules handle them).
NEVER_ANSWER_INTENTS = frozenset({"stop_form"})

_NONE_WORDS = re.compile(
    r"^\s*(?:none|no|nope|nah|nothing|zero|nil|n/?a|not any|no,? none|i have none|i don'?t have any|"
    r"i do not have any|don'?t have any|"
    r"没有|无|没|零|都没有|没有的|没有了|一分(?:钱)?(?:都|也)?没有|(?:一分(?:钱)?(?:都|也)?)?没(?:有)?(?:交|缴|扣)(?:过)?|"
    r"无扣除|没有扣除|不涉及|没这项|没有这项)"
    r"\s*[.!。！~～]*\s*$",
    re.IGNORECASE,
)
_NEGATION = r"\b(?:no|zero|nil|without|don'?t have(?: any)?|do not have(?: any)?|didn'?t pay(?: any)?|never paid)\b"
#: Chinese "no ..." before the words naming a slot ("没有专项附加", "没交社保") or after them ("个税没扣").
_CN_NEGATION_BEFORE = r"(?:没有|没|无|未|不用交|不交)[^\d，。,;；!！?？]{0,6}?"
_CN_NEGATION_AFTER = r"[^\d，。,;；!！?？]{0,6}?(?:没有|没(?:交|缴|扣)|无|为零|是零|为0|是0)"
#: Words that say an earlier answer was wrong ("不对", "改成25万", "不是2万，是2.5万"): an amount naming
#: no slot then changes an earlier answer (see `corrected_slot`). "不是" only before a figure
#: ("不是每个月都交" is an answer, not a correction).
_CORRECTION = re.compile(
    r"不对|错了|说错|搞错|写错|填错|改成|改为|改一下|更正|(?<!是)不是\s*[¥￥]?\s*[\d零〇一二两三四五六七八九十]"
)
#: Replies that correct rather than deny (never "none" even when NLU says deny).
_CORRECTION_ONLY = re.compile(
    r"^\s*(?:不对|不是|错了|说错了|搞错了|wrong|that'?s wrong|not right)\s*[.!。！]*\s*$", re.IGNORECASE
)
#: Messages that cancel the calculation: never an answer, whatever the NLU intent.
_CANCEL_WORDS = re.compile(
    r"^\s*(?:(?:please\s+)?(?:stop|cancel|quit|abort)(?:\s+(?:it|this|that|please|the calculation))?|"
    r"never\s*mind|forget it|"
    r"算了|不算了|不用算了|别算了|不要算了|不用了|不要了|取消|取消吧|取消计算|停|停止|停下|停吧|停止计算|退出|不算|不想算了)"
    r"\s*(?:吧|啦|了)?\s*[.!。！~～]*\s*$",
    re.IGNORECASE,
)


def is_cancellation(text: str) -> bool:
    """True when the whole message asks to stop ("stop", "cancel", "算了", "不算了", "取消", "停")."""
    return bool(_CANCEL_WORDS.match(text or ""))


_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
_MONTH_NAME = re.compile(
    r"\b(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?",
    re.IGNORECASE,
)
_CN_MONTH = r"十[一二]|十|[一二两三四五六七八九]"
_MONTH_NUMBER = re.compile(
    r"\bmonth\s*(?:no\.?\s*)?(\d{1,3})\b|\b(\d{1,3})(?:st|nd|rd|th)?\s+month\b(?!s)|(?<![\d/每.])(\d{1,3})\s*月(?!份?薪)"
    r"|第\s*(\d{1,3}|" + _CN_MONTH + r")\s*个?月"
    r"|(?<![\d/每.零〇一二两三四五六七八九十百千万第])(" + _CN_MONTH + r")\s*月(?!份?薪)",
    re.IGNORECASE,
)
_RELATIVE_MONTH = re.compile(
    r"\b(this|current|last|previous|next)\s+month\b|\bright now\b|本月|这个月|这月|当月|上个月|上月|下个月|下月",
    re.IGNORECASE,
)
_BARE_INTEGER = re.compile(
    r"^\s*(?:the\s+)?(\d{1,3}|" + _CN_MONTH + r")(?:st|nd|rd|th)?\s*[.!。！]?\s*$", re.IGNORECASE
)
# VAT filing periods named in words. knowledge.amounts has its own, private, tables of period words
# and of negative signs (`_PERIOD_WORDS`, `_NEGATIVE_BEFORE`): they read the words around one amount,
# these read a whole answer ("按季度申报", "minus 5000", "负五千").
_QUARTER = re.compile(r"quarter|quarterly|\bqtr\b|\bq[1-4]\b|季度|按季|每季|季报", re.IGNORECASE)
_MONTH_PERIOD = re.compile(r"\bmonth\b|\bmonthly\b|按月|每月|每个月|月度|月报", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\d.,])(20[1-3]\d)(?![\d,]|\s*(?:yuan|rmb|元|块|k\b))", re.IGNORECASE)
_NEGATIVE = re.compile(
    r"(?:^|[^\w\d])[-−]\s*[¥￥]?\s*\d|\b(?:minus|negative)\s+[¥￥]?\d|负\s*[¥￥]?\s*[\d零〇一二两三四五六七八九十百千万]",
    re.IGNORECASE,
)
_NEGATIVE_SIGN_BEFORE = re.compile(r"负\s*[¥￥]?\s*$")
_CLAUSE_BREAK = re.compile(r"[.;!?。；！？\n]|,\s|，|\band\b|\bbut\b|\bplus\b|\balso\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z\u4e00-\u9fff]+")
_FILLER = re.compile(
    r"^(?:it'?s|it is|its|was|is|about|around|roughly|approx(?:imately)?|maybe|say|yuan|rmb|cny|per|a|an|the|"
    r"i|my|paid|pay|earn|got|get|ok|okay|well|um|uh|total|in|of|for|each|every|month|monthly|year|yearly|"
    r"annually|quarter|quarterly|just|only|exactly|actually|sorry|yes|no|none|nothing|zero)$",
    re.IGNORECASE,
)
#: A Chinese question without a question mark ("24000的社保正常吗", "起征点是多少").
_CHINESE_QUESTION = re.compile(
    r"[吗呢][\s。.!！~～]*$|多少|怎么|什么|如何|是否|能否|为什么|为啥|哪些|哪个|哪里|几月|几个"
)
_CONVERSIONS = {
    ("month", "year"): Decimal(12),
    ("quarter", "year"): Decimal(4),
    ("year", "month"): Decimal(1) / Decimal(12),
    ("quarter", "month"): Decimal(1) / Decimal(3),
}


@dataclass
class Reading:
    """What one message says for a calculator: slot values, problems, the tax year."""

    values: Dict[str, Any] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)  # slot -> how the value was read (conversion)
    problems: Dict[str, str] = field(default_factory=dict)  # slot -> why the answer cannot be used
    year: Optional[int] = None

    @property
    def empty(self) -> bool:
        """True when the message said nothing for the calculator."""
        return not self.values and not self.problems and self.year is None


@dataclass(frozen=True)
class FoundAmount:
    """A money amount in a message: its value in yuan, its period if stated, and where it was."""

    value: Decimal
    period: Optional[str]
    start: int
    end: int


def _entity_amounts(message: Dict[str, Any], text: str) -> List[FoundAmount]:
    """Money amounts from the NLU `amount` entities, or from `knowledge.amounts` without any entities.

    A message without NLU entities did not go through the pipeline: its raw text is read, leaving out
    bare years. Amounts written after 负 ("负五千") are negative numbers, not amounts.
    """
    return [f for f in _all_amounts(message, text) if not _NEGATIVE_SIGN_BEFORE.search(text[: f.start])]


def _all_amounts(message: Dict[str, Any], text: str) -> List[FoundAmount]:
    found: List[FoundAmount] = []
    entities = message.get("entities") or []
    for entity in entities:
        if entity.get("entity") != "amount":
            continue
        try:
            value = Decimal(str(entity.get("value")).replace(",", ""))
        except ArithmeticError:
            continue
        start, end = entity.get("start"), entity.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            start, end = 0, 0
        found.append(FoundAmount(value, entity.get("role"), start, end))
    if entities or not text:
        return sorted(found, key=lambda f: f.start)
    for amount in find_amounts(text):
        if amount.period is None and _YEAR.fullmatch(amount.text.strip()):
            continue  # "2025" on its own is a year, not money
        found.append(FoundAmount(amount.value, amount.period, amount.start, amount.end))
    if not found:
        single = parse_amount(text)
        if single is not None and not _YEAR.fullmatch(single.text.strip()):
            found.append(FoundAmount(single.value, single.period, single.start, single.end))
    return found


def _windows(text: str, amounts: Sequence[FoundAmount]) -> List[str]:
    """For each amount, the words of its clause around it (bounded by neighbouring amounts)."""
    windows = []
    for index, amount in enumerate(amounts):
        left_floor = amounts[index - 1].end if index > 0 else 0
        right_ceiling = amounts[index + 1].start if index + 1 < len(amounts) else len(text)
        left = text[left_floor : amount.start]
        breaks = list(_CLAUSE_BREAK.finditer(left))
        if breaks:
            left = left[breaks[-1].end() :]
        right = text[amount.end : right_ceiling]
        first_break = _CLAUSE_BREAK.search(right)
        if first_break:
            right = right[: first_break.start()]
        windows.append(f"{left} \u2016 {right}")
    return windows


def _keyed_slot(calculator: Calculator, window: str) -> Tuple[Optional[str], bool]:
    """The slot an amount's words name (in `_KEY_ORDER`), and whether they name another calculator's."""
    for slot in _KEY_ORDER[calculator.name]:
        pattern = calculator.field(slot).keywords
        if pattern and re.search(pattern, window, re.IGNORECASE):
            return slot, False
    foreign = bool(calculator.foreign and re.search(calculator.foreign, window, re.IGNORECASE))
    return None, foreign


#: Which slot wins when an amount's words name several ("tax withheld from my salary" is withheld).
_KEY_ORDER: Dict[str, Tuple[str, ...]] = {
    "annual_reconciliation": ("tax_withheld", "special_additional", "social_insurance", "annual_income"),
    "monthly_withholding": ("monthly_special_additional", "monthly_social_insurance", "monthly_salary"),
    "annual_bonus": ("bonus_amount",),
    "small_scale_vat": ("sales_amount",),
}


def _quantize(value: Decimal) -> Decimal:
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _convert(
    value: Decimal, period: Optional[str], spec: Field, language: str = "en"
) -> Tuple[Decimal, Optional[str]]:
    """`value` expressed per the field's period, and a note saying how it was converted."""
    if spec.per is None or period is None or period == spec.per:
        return _quantize(value), None
    factor = _CONVERSIONS[(period, spec.per)]
    converted = _quantize(value * factor)
    return converted, phrase(
        "calc.note.converted", language,
        value=format_money(value), period=phrase(f"calc.per.{period}", language),
        converted=format_money(converted), to_period=phrase(f"calc.per.{spec.per}", language),
    )


def _number_value(digits: str) -> int:
    """'3' or a Chinese numeral ('三', '十二') as an int."""
    return int(digits) if digits.isdigit() else int(chinese_numeral_value(digits) or 0)


def read_month(
    text: str, requested: bool, language: str = "en", *, today: date
) -> Tuple[Optional[int], Optional[str], Optional[Tuple[int, int]]]:
    """(month, problem, span) named in `text` ("March", "month 3", "3月", "三月", "第3个月", "本月").

    A bare number ("3", "三") counts only when the month is being asked (`requested`); "this month",
    "上个月" are counted from `today`.
    """
    relative = _RELATIVE_MONTH.search(text)
    if relative:
        word = relative.group(0).lower()
        month = today.month
        if any(w in word for w in ("last", "previous", "上")):
            month -= 1
        elif any(w in word for w in ("next", "下")):
            month += 1
        if not 1 <= month <= 12:
            return None, phrase("calc.reason.other_tax_year", language), None
        return month, None, relative.span()
    number = _MONTH_NUMBER.search(text)
    if number:
        value = _number_value(next(g for g in number.groups() if g))
        if not 1 <= value <= 12:
            return None, phrase("calc.reason.no_such_month", language, month=value), None
        return value, None, number.span()
    for match in _MONTH_NAME.finditer(text):
        name = match.group(1).lower()
        if name == "may" and not requested:
            continue  # "may" is usually the verb
        if name == "mar" and not requested:
            continue
        return _MONTHS[name], None, match.span()
    if requested:
        bare = _BARE_INTEGER.match(text)
        if bare:
            value = _number_value(bare.group(1))
            if not 1 <= value <= 12:
                return None, phrase("calc.reason.no_such_month", language, month=value), None
            return value, None, bare.span()
    return None, None, None


def read_period(text: str) -> Optional[str]:
    """'quarter' or 'month' when the text names exactly one VAT filing period."""
    quarter = bool(_QUARTER.search(text))
    month = bool(_MONTH_PERIOD.search(text))
    if quarter and not month:
        return "quarter"
    if month and not quarter:
        return "month"
    return None


def read_year(message: Dict[str, Any], text: str) -> Optional[int]:
    """The tax year the message names (the NLU `year` entity, or a 20xx year in the text)."""
    for entity in message.get("entities") or []:
        if entity.get("entity") == "year":
            try:
                return int(str(entity.get("value")))
            except ValueError:
                continue
    if message.get("entities"):
        return None  # NLU looked at the text and saw no year
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


def is_bare_answer(text: str, spans: Sequence[Tuple[int, int]]) -> bool:
    """True when the message is little more than a figure or a short answer (not a question)."""
    if "?" in text or "？" in text:
        return False
    rest = text
    for start, end in sorted(spans, reverse=True):
        rest = rest[:start] + " " + rest[end:]
    if _CHINESE_QUESTION.search(rest):
        return False
    words = [w for w in _WORD.findall(rest) if not _FILLER.match(w)]
    return len(words) <= 3


def read_answer(
    calculator: Calculator,
    message: Dict[str, Any],
    requested: Optional[str],
    activating: bool = False,
    language: str = "en",
    filled: Optional[Dict[str, Any]] = None,
    *,
    today: date,
) -> Reading:
    """Everything the latest message (its parse data) says for `calculator`'s slots.

    `requested` is the slot being asked (None at activation); an amount whose words name no slot
    goes to it, or at activation to the first slot the message has not filled yet. `filled` holds the
    slots' current values: a correction naming no slot ("不对，是25万", "改成25万") changes the answer
    it quotes ("不是2万，是2.5万") or else the one given just before the question being asked.
    Problems and notes are in `language`; "this month" is counted from `today`.
    """
    text = (message.get("text") or "").strip()
    reading = Reading()
    if not text or text.startswith("/"):
        return reading
    intent = ((message.get("intent") or {}).get("name")) or ""
    if intent in NEVER_ANSWER_INTENTS or is_cancellation(text):
        return reading
    amounts = _entity_amounts(message, text)
    spans: List[Tuple[int, int]] = [(a.start, a.end) for a in amounts]

    month_field = next((f for f in calculator.fields if f.kind == "month"), None)
    period_field = next((f for f in calculator.fields if f.kind == "period"), None)
    month_span: Optional[Tuple[int, int]] = None
    if month_field is not None:
        month, problem, month_span = read_month(text, requested == month_field.slot, language, today=today)
        if month is not None:
            reading.values[month_field.slot] = month
        elif problem and (requested == month_field.slot or _MONTH_NUMBER.search(text)):
            reading.problems[month_field.slot] = problem
        if month_span:
            spans.append(month_span)
            # a number that named the month is not money ("3" when asked which month)
            amounts = [a for a in amounts if not (a.start < month_span[1] and month_span[0] < a.end)]
        elif month_field.slot in reading.problems and requested == month_field.slot:
            amounts = []
    if period_field is not None:
        period = read_period(text)
        if period is None:
            period = next((a.period for a in amounts if a.period in ("month", "quarter")), None)
        if period is not None:
            reading.values[period_field.slot] = period

    year = read_year(message, text)
    if year is not None:
        reading.year = year
        match = re.search(str(year), text)
        if match:
            spans.append(match.span())

    bare = is_bare_answer(text, spans)
    nothing_asked_yet = activating or requested is None
    if intent not in ANSWER_INTENTS and not bare and not nothing_asked_yet:
        return Reading()  # a question or small talk in the middle of the form: the rules answer it

    amount_fields = [f for f in calculator.fields if f.kind == "amount"]
    assigned: Dict[str, Tuple[Decimal, Optional[str]]] = {}
    unkeyed: List[FoundAmount] = []
    for amount, window in zip(amounts, _windows(text, amounts)):
        slot, foreign = _keyed_slot(calculator, window)
        if slot is not None and slot not in assigned:
            assigned[slot] = (amount.value, amount.period)
        elif slot is None and not foreign:
            unkeyed.append(amount)
    corrected = (
        corrected_slot(calculator, requested, filled or {}, unkeyed)
        if unkeyed and not nothing_asked_yet and _CORRECTION.search(text) else None
    )
    if corrected is not None and corrected not in assigned:
        # "不对，是25万" / "不是2万，是2.5万": the last figure replaces the earlier answer
        amount = unkeyed[-1]
        assigned[corrected] = (amount.value, amount.period)
        unkeyed = []
    for amount in unkeyed:
        target: Optional[str] = None
        if requested in calculator.slots and calculator.field(requested).kind == "amount" and requested not in assigned:
            target = requested
        elif nothing_asked_yet:
            target = next((f.slot for f in amount_fields if f.slot not in assigned), None)
        if target is not None:
            assigned[target] = (amount.value, amount.period)

    for slot, (value, period) in assigned.items():
        spec = calculator.field(slot)
        if spec.slot == "sales_amount" and period == "year":
            reading.problems[slot] = phrase("calc.reason.vat_whole_year", language)
            continue
        converted, note = _convert(value, period, spec, language)
        reading.values[slot] = float(converted)
        if note:
            reading.notes[slot] = note

    # "none" / "no" for the slots where zero makes sense
    zero_ok = [f for f in amount_fields if f.allow_zero]
    if requested in [f.slot for f in zero_ok] and requested not in reading.values:
        denied = intent == "deny" and not amounts and not _CORRECTION_ONLY.match(text)
        if _NONE_WORDS.match(text) or denied:
            reading.values[requested] = 0.0
    for spec in zero_ok:
        if spec.slot in reading.values or not spec.keywords:
            continue
        if (
            re.search(_NEGATION + r"[\w\s'-]{0,25}?(?:" + spec.keywords + ")", text, re.IGNORECASE)
            or re.search(_CN_NEGATION_BEFORE + "(?:" + spec.keywords + ")", text, re.IGNORECASE)
            or re.search("(?:" + spec.keywords + ")" + _CN_NEGATION_AFTER, text, re.IGNORECASE)
        ):
            reading.values[spec.slot] = 0.0

    # negative amounts are not amounts: say so for the slot they were meant for
    if _NEGATIVE.search(text) and not assigned:
        target = requested if requested in calculator.slots else None
        if target is None:
            for spec in amount_fields:
                if spec.keywords and re.search(spec.keywords, text, re.IGNORECASE):
                    target = spec.slot
                    break
        if target is not None and calculator.field(target).kind == "amount":
            reading.values.pop(target, None)
            reading.problems[target] = phrase("calc.reason.negative", language)
    return reading


def corrected_slot(
    calculator: Calculator, requested: Optional[str], filled: Dict[str, Any], amounts: Sequence[FoundAmount]
) -> Optional[str]:
    """The answered amount slot that a correction naming no slot changes.

    That is the slot whose value it quotes ("不是2万，是2.5万" -> the slot holding 20,000), else the
    nearest answered one before `requested` in the form's order ("改成25万" just after the income).
    """
    answered = [
        f.slot for f in calculator.fields
        if f.kind == "amount" and f.slot != requested and filled.get(f.slot) is not None
    ]
    for amount in amounts[:-1]:
        for slot in answered:
            converted = _convert(amount.value, amount.period, calculator.field(slot))[0]
            if Decimal(str(filled[slot])) in (amount.value, converted):
                return slot
    if requested not in calculator.slots:
        return None
    before = set(calculator.slots[: calculator.slots.index(requested)])
    return next((slot for slot in reversed(answered) if slot in before), None)

