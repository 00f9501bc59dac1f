"""The guided calculators' forms: what each calculator asks, how answers are read, and the slot
validation (Rasa forms with `FormValidationAction` subclasses).

A taxpayer may give every figure in one message ("my salary was 240k, social insurance 24,000 ...",
"年收入24万，社保每月2000 ...") or one at a time, in their own notation ("240k", "24,000", "2.4万",
"三千五", "¥5000/month"); an amount goes to the slot its words name (salary, social insurance,
withheld ... / 收入, 社保, 个税 ...), otherwise to the slot being asked. "none" / "no" / "没有" answer
the slots where zero makes sense. Naming a slot that is already filled changes it ("actually my income
was 250k", "不对 我收入是25万"); a correction naming none ("改成25万", "不是2万，是2.5万") changes
the answer it quotes, else the one given just before.
Impossible values are refused with the reason, and the form asks again. A message that answers nothing
(a tax question, "stop", "算了") is left to the rules: the validation action returns no slot, the form
rejects, and the rules answer or cancel.

Every text the taxpayer sees comes from the message catalogue (knowledge/messages/calculators.<lang>.yml,
keys `calc.*`) in the language of the reply (`actions.language.reply_language`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.language import reply_language
from actions.taxcalc.money import format_money
from knowledge.amounts import chinese_numeral_value, find_amounts, parse_amount
from knowledge.catalogue import text as phrase

# ------------------------------------------------------------------------------------ settings

#: Amounts above this are refused as typing mistakes (10 billion yuan).
MAX_AMOUNT = Decimal("10000000000")
#: Intents whose messages are read for answers; any other intent only when the message is a bare answer.
ANSWER_INTENTS = frozenset({"inform", "start_calculation", "affirm", "deny", "nlu_fallback"})
#: Intents never read for answers (the rules handle them).
NEVER_ANSWER_INTENTS = frozenset({"stop_form"})
YEAR_SLOT = "tax_year"


def today() -> date:
    """Today's date (a function so that tests can fix it)."""
    return date.today()


def default_tax_year() -> int:
    """The tax year used when the taxpayer names none: the current year."""
    return today().year


# ------------------------------------------------------------------------------ what to ask


@dataclass(frozen=True)
class Field:
    """One thing a calculator asks for; its label, question and answer hint are the catalogue's
    `calc.label.<slot>`, `calc.ask.<slot>` (may use {year}) and `calc.hint.<slot>`."""

    slot: str
    kind: str = "amount"  # amount | month | period
    per: Optional[str] = None  # amounts: "year" or "month" (converted from other periods); None = as given
    keywords: Optional[str] = None  # regex naming this slot in free text
    allow_zero: bool = False

    def label(self, language: str = "en") -> str:
        """'salary income for the year' / '全年工资薪金收入'."""
        return phrase(f"calc.label.{self.slot}", language)

    def question(self, language: str = "en", year: Optional[int] = None) -> str:
        return phrase(f"calc.ask.{self.slot}", language, year=year if year is not None else default_tax_year())

    def hint(self, language: str = "en") -> str:
        """How an answer looks: '"240k" or "20,000 a month"'."""
        return phrase(f"calc.hint.{self.slot}", language)


@dataclass(frozen=True)
class Calculator:
    """A guided calculator: its name (the `calculator` entity value), its form and its fields."""

    name: str
    fields: Tuple[Field, ...]
    foreign: Optional[str] = None  # regex for amounts that belong to another calculator (ignored)

    @property
    def form(self) -> str:
        return f"{self.name}_form"

    @property
    def slots(self) -> Tuple[str, ...]:
        return tuple(f.slot for f in self.fields)

    @property
    def title(self) -> str:
        """The English title ('annual bonus tax'); `title_in` for a reply's language."""
        return self.title_in("en")

    def title_in(self, language: str) -> str:
        return phrase(f"calc.title.{self.name}", language)

    def field(self, slot: str) -> Field:
        return next(f for f in self.fields if f.slot == slot)


_WITHHELD = (
    r"withh[eo]ld|withholding|prepaid|pre-paid|tax (?:was |were |already )?(?:paid|deducted|taken)|"
    r"(?:in|of) (?:income )?tax\b|income tax|\biit\b|个税|个人所得税|已预缴|已扣|预扣|已缴|扣税|扣了?.{0,3}税"
)
_SPECIAL_ADDITIONAL = r"special additional|additional deductions?|专项附加"
_SOCIAL = r"social insurance|social security|housing (?:provident )?fund|provident fund|insurance|五险一金|三险一金|社保|公积金"
_INCOME = r"salary|salaries|wages?|income|earn(?:s|ed|ing)?|gross|\bpay\b|年薪|月薪|工资|收入|薪水|薪资|税前"
_BONUS = r"bonus|年终奖|奖金"
_SALES = r"sales|revenue|turnover|sold|sell(?:s|ing)?|invoiced|income|销售额|营业额|收入|卖了|开票"
_VAT_WORDS = r"\bvat\b|增值税"
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
_CORRECTION = re.compile(r"不对|错了|说错|搞错|写错|填错|改成|改为|改一下|更正|(?<!是)不是\s*[¥￥]?\s*[\d零〇一二两三四五六七八九十]")
#: Replies that correct rather than deny (never "none" even when NLU says deny).
_CORRECTION_ONLY = re.compile(r"^\s*(?:不对|不是|错了|说错了|搞错了|wrong|that'?s wrong|not right)\s*[.!。！]*\s*$", re.IGNORECASE)
#: Messages that cancel the calculation: never an answer, whatever the NLU intent.
_CANCEL_WORDS = re.compile(
    r"^\s*(?:(?:please\s+)?(?:stop|cancel|quit|abort)(?:\s+(?:it|this|that|please|the calculation))?|never\s*mind|forget it|"
    r"算了|不算了|不用算了|别算了|不要算了|不用了|不要了|取消|取消吧|取消计算|停|停止|停下|停吧|停止计算|退出|不算|不想算了)"
    r"\s*(?:吧|啦|了)?\s*[.!。！~～]*\s*$",
    re.IGNORECASE,
)


def is_cancellation(text: str) -> bool:
    """True when the whole message asks to stop ("stop", "cancel", "算了", "不算了", "取消", "停")."""
    return bool(_CANCEL_WORDS.match(text or ""))


CALCULATORS: Dict[str, Calculator] = {
    calc.name: calc
    for calc in (
        Calculator(
            name="annual_reconciliation",
            fields=(
                Field("annual_income", per="year", keywords=_INCOME),
                Field("social_insurance", per="year", keywords=_SOCIAL, allow_zero=True),
                Field("special_additional", per="month", keywords=_SPECIAL_ADDITIONAL, allow_zero=True),
                Field("tax_withheld", per="year", keywords=_WITHHELD, allow_zero=True),
            ),
            foreign=_BONUS + "|" + _VAT_WORDS,
        ),
        Calculator(
            name="monthly_withholding",
            fields=(
                Field("monthly_salary", per="month", keywords=_INCOME),
                Field("monthly_social_insurance", per="month", keywords=_SOCIAL, allow_zero=True),
                Field("monthly_special_additional", per="month", keywords=_SPECIAL_ADDITIONAL, allow_zero=True),
                Field("withholding_month", kind="month"),
            ),
            foreign=_BONUS + "|" + _VAT_WORDS,
        ),
        Calculator(
            name="annual_bonus",
            fields=(Field("bonus_amount", keywords=_BONUS),),
            foreign=_INCOME + "|" + _SOCIAL + "|" + _SALES,
        ),
        Calculator(
            name="small_scale_vat",
            fields=(
                Field("sales_amount", keywords=_SALES),
                Field("vat_period", kind="period"),
            ),
            foreign=_BONUS + "|" + _SOCIAL + "|" + _WITHHELD,
        ),
    )
}

SLOT_TO_CALCULATOR: Dict[str, Calculator] = {f.slot: c for c in CALCULATORS.values() for f in c.fields}
ALL_CALCULATOR_SLOTS: Tuple[str, ...] = tuple(SLOT_TO_CALCULATOR)


def form_payload(calculator: Optional[str], slot: Optional[str], status: str, **extra: Any) -> Dict[str, Any]:
    """The `custom` payload of every message sent while a calculator collects its figures."""
    payload: Dict[str, Any] = {"kind": "form", "calculator": calculator, "slot": slot, "status": status}
    payload.update(extra)
    return payload


# ------------------------------------------------------------------------------ reading answers

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
_CHINESE_QUESTION = re.compile(r"[吗呢][\s。.!！~～]*$|多少|怎么|什么|如何|是否|能否|为什么|为啥|哪些|哪个|哪里|几月|几个")
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
        return not self.values and not self.problems and self.year is None


@dataclass(frozen=True)
class _Found:
    value: Decimal
    period: Optional[str]
    start: int
    end: int


def _entity_amounts(message: Dict[str, Any], text: str) -> List[_Found]:
    """Money amounts from the NLU `amount` entities; without any NLU entities (a message that did not
    go through the pipeline), the amounts module on the raw text, leaving out bare years. Amounts
    written after 负 ("负五千") are negative numbers, not amounts."""
    return [f for f in _all_amounts(message, text) if not _NEGATIVE_SIGN_BEFORE.search(text[: f.start])]


def _all_amounts(message: Dict[str, Any], text: str) -> List[_Found]:
    found: List[_Found] = []
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
        found.append(_Found(value, entity.get("role"), start, end))
    if entities or not text:
        return sorted(found, key=lambda f: f.start)
    for amount in find_amounts(text):
        if amount.period is None and _YEAR.fullmatch(amount.text.strip()):
            continue  # "2025" on its own is a year, not money
        found.append(_Found(amount.value, amount.period, amount.start, amount.end))
    if not found:
        single = parse_amount(text)
        if single is not None and not _YEAR.fullmatch(single.text.strip()):
            found.append(_Found(single.value, single.period, single.start, single.end))
    return found


def _windows(text: str, amounts: Sequence[_Found]) -> List[str]:
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
    """The slot an amount's words name (first field in precedence order), and whether they name
    something belonging to another calculator."""
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
    text: str, requested: bool, language: str = "en"
) -> Tuple[Optional[int], Optional[str], Optional[Tuple[int, int]]]:
    """(month, problem, span) named in `text` ("March", "month 3", "3月", "三月", "第3个月", "本月");
    a bare number ("3", "三") counts only when the month is being asked."""
    relative = _RELATIVE_MONTH.search(text)
    if relative:
        word = relative.group(0).lower()
        month = today().month
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
) -> Reading:
    """Everything the latest message says for `calculator`'s slots (problems and notes in `language`).

    `requested` is the slot being asked (None at activation); an amount whose words name no slot
    goes to it, or at activation to the first slot the message has not filled yet. `filled` holds the
    slots' current values: a correction naming no slot ("不对，是25万", "改成25万") changes the answer
    it quotes ("不是2万，是2.5万") or else the one given just before the question being asked.
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
        month, problem, month_span = read_month(text, requested == month_field.slot, language)
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
    unkeyed: List[_Found] = []
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
    calculator: Calculator, requested: Optional[str], filled: Dict[str, Any], amounts: Sequence[_Found]
) -> Optional[str]:
    """The answered amount slot a correction without a slot name changes: the one whose value it
    quotes ("不是2万，是2.5万" -> the slot holding 20,000), else the nearest answered one before
    `requested` in the form's order ("改成25万" just after the income was given)."""
    answered = [
        f.slot for f in calculator.fields
        if f.kind == "amount" and f.slot != requested and filled.get(f.slot) is not None
    ]
    for amount in amounts[:-1]:
        for slot in answered:
            if Decimal(str(filled[slot])) in (amount.value, _convert(amount.value, amount.period, calculator.field(slot))[0]):
                return slot
    if requested not in calculator.slots:
        return None
    before = set(calculator.slots[: calculator.slots.index(requested)])
    return next((slot for slot in reversed(answered) if slot in before), None)


def loop_at_latest_message(tracker: Tracker) -> Optional[str]:
    """The form that was active when the taxpayer sent the latest message (None: none was).

    A form validation action runs at activation as well as after each answer; at activation the
    form was not active yet when the message came.
    """
    events = list(tracker.events or [])
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    loop: Optional[str] = None
    for event in events[: users[-1]] if users else events:
        if event.get("event") == "active_loop":
            loop = event.get("name") or None
        elif event.get("event") in ("restart", "session_started"):
            loop = None
    return loop


def message_before_choice(tracker: Tracker) -> Optional[Dict[str, Any]]:
    """The taxpayer's message before "which calculation?" was asked, when the latest message answers it.

    That message asked for a calculation without naming one and may hold the figures.
    """
    users = [i for i, e in enumerate(tracker.events or []) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    previous, latest = users[-2], users[-1]
    between = tracker.events[previous + 1 : latest]
    asked = any(e.get("event") == "action" and e.get("name") == "action_ask_calculator" for e in between)
    if not asked:
        return None
    event = tracker.events[previous]
    parse = dict(event.get("parse_data") or {})
    parse.setdefault("text", event.get("text") or "")
    return parse


# ----------------------------------------------------------------------------- year support


@lru_cache(maxsize=None)
def supported_years(calculator: str) -> Tuple[int, ...]:
    """The tax years the rules data covers for `calculator` (tried with a zero input)."""
    from actions import calculators

    years = []
    for year in range(2015, 2036):
        try:
            calculators.dry_run(calculator, year)
        except LookupError:
            continue
        years.append(year)
    return tuple(years)


def years_text(years: Sequence[int], language: str = "en") -> str:
    """'2019 to 2027' / '2019年至2027年'; a list when the years have gaps."""
    if not years:
        return phrase("calc.years.none", language)
    if list(years) == list(range(years[0], years[-1] + 1)) and len(years) > 1:
        return phrase("calc.years.range", language, first=years[0], last=years[-1])
    separator = phrase("calc.years.separator", language)
    return separator.join(phrase("calc.years.one", language, year=y) for y in years)


# ------------------------------------------------------------------------------------ actions


class CalculatorFormValidation(FormValidationAction):
    """Reads the latest message into the calculator's slots and validates them.

    Subclasses name their calculator; the `validate_<slot>` methods hold the per-slot checks. Every
    message is in the reply's language (`reply_language`).
    """

    @property
    @abstractmethod
    def calculator_name(self) -> str:
        """The calculator this form belongs to (a class attribute in each subclass)."""

    @property
    def calculator(self) -> Calculator:
        return CALCULATORS[self.calculator_name]

    def name(self) -> Text:
        return f"validate_{self.calculator.form}"

    def _say(self, dispatcher: CollectingDispatcher, text: str, slot: Optional[str], status: str) -> None:
        dispatcher.utter_message(text=text, custom=form_payload(self.calculator_name, slot, status))

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        calc = self.calculator
        language = reply_language(tracker)
        message = tracker.latest_message or {}
        activating = loop_at_latest_message(tracker) != calc.form
        requested = None if activating else tracker.get_slot(REQUESTED_SLOT)
        filled = {slot: tracker.get_slot(slot) for slot in calc.slots}
        reading = read_answer(calc, message, requested, activating, language, filled)
        first_message = len(dispatcher.messages)
        if activating:
            earlier = message_before_choice(tracker)
            if earlier is not None:
                # "calculate the tax on an 80k bonus" -> which calculator? -> [bonus button]: keep the 80k
                before = read_answer(calc, earlier, None, True, language)
                before.values.update(reading.values)
                before.notes.update(reading.notes)
                before.problems.update(reading.problems)
                before.year = reading.year if reading.year is not None else before.year
                reading = before
        events: List[EventType] = []

        def set_slot(slot: str, value: Any) -> None:
            events.append(SlotSet(slot, value))
            tracker.slots[slot] = value

        if activating:
            # a fresh start: nothing from an earlier, unfinished run of this calculator is kept
            for slot in calc.slots:
                set_slot(slot, None)
            set_slot(YEAR_SLOT, None)
        elif reading.empty:
            intent = ((message.get("intent") or {}).get("name")) or ""
            if intent in NEVER_ANSWER_INTENTS or intent not in ANSWER_INTENTS:
                return []  # the form rejects; the rules answer the question or cancel
            if is_cancellation(message.get("text") or ""):
                return []  # "算了" / "stop" whatever the intent: never an answer, the rules cancel
            entity_calculators = {
                e.get("value") for e in message.get("entities") or [] if e.get("entity") == "calculator"
            }
            if intent in ("start_calculation", "inform") and entity_calculators - {calc.name}:
                return []  # another calculator was asked for: the rules switch to it
            if intent == "nlu_fallback":
                return []  # not understood: the knowledge action decides, then the form asks again
            if requested in calc.slots:
                spec = calc.field(requested)
                if intent == "start_calculation":
                    text = phrase("calc.form.already_started", language, title=calc.title_in(language))
                else:
                    text = phrase(
                        "calc.form.not_understood", language, label=spec.label(language), hint=spec.hint(language)
                    )
                self._say(dispatcher, text, requested, "invalid")
                set_slot(requested, None)
            return events

        if reading.year is not None:
            self._apply_year(reading.year, dispatcher, set_slot, language, announce=not activating)

        for slot, value in reading.values.items():
            previous_value = tracker.get_slot(slot)
            validate = getattr(self, f"validate_{slot}")
            result = validate(value, dispatcher, tracker, domain)
            new_value = result.get(slot)
            set_slot(slot, new_value)
            if new_value is None:
                continue
            note = reading.notes.get(slot)
            label = calc.field(slot).label(language)
            if not activating and previous_value is not None and previous_value != new_value:
                self._say(
                    dispatcher,
                    phrase(
                        "calc.form.changed", language, label=label,
                        value=self._show(slot, new_value, language), previous=self._show(slot, previous_value, language),
                    ),
                    slot,
                    "updated",
                )
            elif note:
                self._say(dispatcher, phrase("calc.form.noted", language, label=label, note=note), slot, "noted")
        for slot, reason in reading.problems.items():
            self._refuse_in(dispatcher, slot, reason, language)
            set_slot(slot, None)
        if activating:
            self._introduce(dispatcher, tracker, first_message, language)
        return events

    def _introduce(self, dispatcher: CollectingDispatcher, tracker: Tracker, position: int, language: str) -> None:
        """At activation, when questions will follow: what this calculator does and how to stop."""
        calc = self.calculator
        missing = [slot for slot in calc.slots if tracker.slots.get(slot) is None]
        if not missing:
            return  # every figure was in the first message: the result follows at once
        year = tracker.slots.get(YEAR_SLOT)
        shown_year = int(year) if year else default_tax_year()
        count = len(missing)
        text = phrase(
            "calc.form.started_many" if count > 1 else "calc.form.started_one", language,
            title=calc.title_in(language), year=shown_year, count=count,
        )
        dispatcher.messages.insert(position, {
            "text": text, "buttons": [], "elements": [], "custom": form_payload(calc.name, None, "started"),
            "template": None, "response": None, "image": None, "attachment": None,
        })

    def _apply_year(
        self, year: int, dispatcher: CollectingDispatcher, set_slot: Any, language: str = "en", announce: bool = False
    ) -> None:
        years = supported_years(self.calculator_name)
        title = self.calculator.title_in(language)
        if year in years:
            set_slot(YEAR_SLOT, float(year))
            if announce:
                self._say(dispatcher, phrase("calc.form.year_noted", language, title=title, year=year), YEAR_SLOT, "noted")
            return
        set_slot(YEAR_SLOT, None)
        self._say(
            dispatcher,
            phrase(
                "calc.form.year_refused", language, year=year, title=title, years=years_text(years, language),
                default_year=default_tax_year(),
            ),
            YEAR_SLOT,
            "invalid",
        )

    @staticmethod
    def _show(slot: str, value: Any, language: str = "en") -> str:
        if slot == "withholding_month":
            return phrase(f"calc.month.{int(value)}", language)
        if slot == "vat_period":
            return phrase(f"calc.show.vat_period.{value}", language)
        return phrase("calc.money", language, amount=format_money(Decimal(str(value))))

    # ------------------------------------------------------------------ shared checks

    def _refuse_in(self, dispatcher: CollectingDispatcher, slot: str, reason: str, language: str) -> Dict[Text, Any]:
        label = self.calculator.field(slot).label(language)
        self._say(dispatcher, phrase("calc.form.refused", language, label=label, reason=reason), slot, "invalid")
        return {slot: None}

    def _refuse(
        self, dispatcher: CollectingDispatcher, slot: str, tracker: Tracker, reason: str, **values: Any
    ) -> Dict[Text, Any]:
        """Says why the answer for `slot` cannot be used (`reason` a key under calc.reason) and clears it."""
        language = reply_language(tracker)
        return self._refuse_in(dispatcher, slot, phrase(f"calc.reason.{reason}", language, **values), language)

    def _check_amount(
        self, value: Any, dispatcher: CollectingDispatcher, slot: str, tracker: Tracker, at_most: Optional[str] = None
    ) -> Dict[Text, Any]:
        """A non-negative amount (above zero unless the field allows zero), not absurdly large, and
        when `at_most` (another slot) is given not above that slot's value (the reason is the
        catalogue's calc.reason.why.<slot>)."""
        if value is None:
            return {slot: None}
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            return self._refuse(dispatcher, slot, tracker, "not_a_number")
        if not amount.is_finite():
            return self._refuse(dispatcher, slot, tracker, "not_a_number")
        spec = self.calculator.field(slot)
        if amount < 0:
            return self._refuse(dispatcher, slot, tracker, "negative")
        if amount == 0 and not spec.allow_zero:
            return self._refuse(dispatcher, slot, tracker, "zero")
        if amount > MAX_AMOUNT:
            return self._refuse(dispatcher, slot, tracker, "too_large", amount=format_money(amount))
        if at_most is not None:
            limit = tracker.get_slot(at_most)
            if limit is not None and amount > Decimal(str(limit)):
                language = reply_language(tracker)
                return self._refuse(
                    dispatcher, slot, tracker, "above_limit",
                    amount=format_money(amount), other=self.calculator.field(at_most).label(language),
                    limit=format_money(Decimal(str(limit))), why=phrase(f"calc.reason.why.{slot}", language),
                )
        return {slot: float(amount)}


class ValidateAnnualReconciliationForm(CalculatorFormValidation):
    calculator_name = "annual_reconciliation"

    def validate_annual_income(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "annual_income", tracker)

    def validate_social_insurance(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "social_insurance", tracker, at_most="annual_income")

    def validate_special_additional(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "special_additional", tracker)

    def validate_tax_withheld(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "tax_withheld", tracker, at_most="annual_income")


class ValidateMonthlyWithholdingForm(CalculatorFormValidation):
    calculator_name = "monthly_withholding"

    def validate_monthly_salary(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "monthly_salary", tracker)

    def validate_monthly_social_insurance(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "monthly_social_insurance", tracker, at_most="monthly_salary")

    def validate_monthly_special_additional(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                            domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "monthly_special_additional", tracker)

    def validate_withholding_month(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        if value is None:
            return {"withholding_month": None}
        try:
            month = float(value)
        except (TypeError, ValueError):
            return self._refuse(dispatcher, "withholding_month", tracker, "name_a_month")
        if month != int(month) or not 1 <= month <= 12:
            return self._refuse(dispatcher, "withholding_month", tracker, "months_1_to_12")
        return {"withholding_month": float(int(month))}


class ValidateAnnualBonusForm(CalculatorFormValidation):
    calculator_name = "annual_bonus"

    def validate_bonus_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "bonus_amount", tracker)


class ValidateSmallScaleVatForm(CalculatorFormValidation):
    calculator_name = "small_scale_vat"

    def validate_sales_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "sales_amount", tracker)

    def validate_vat_period(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        if value in ("month", "quarter"):
            return {"vat_period": value}
        if value is None:
            return {"vat_period": None}
        return self._refuse(dispatcher, "vat_period", tracker, "vat_period")


# ---------------------------------------------------------------------------- the questions

#: The calculators offered by "which calculation?", in order (button titles: calc.choice.<name>).
CHOICES: Tuple[str, ...] = ("annual_reconciliation", "monthly_withholding", "annual_bonus", "small_scale_vat")


class AskWhichCalculator(Action):
    """Asks which calculation the taxpayer wants, with one button per calculator.

    (A custom action rather than a response: Rasa would try to fill the payloads' braces as slots.)
    """

    def name(self) -> Text:
        return "action_ask_calculator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        language = reply_language(tracker)
        buttons = [
            {"title": phrase(f"calc.choice.{name}", language), "payload": '/start_calculation{"calculator": "%s"}' % name}
            for name in CHOICES
        ]
        dispatcher.utter_message(
            text=phrase("calc.choice.prompt", language),
            buttons=buttons,
            custom=form_payload(None, "calculator", "asking", options=list(CHOICES)),
        )
        return []


class AskForSlot(Action, ABC):
    """Asks for one slot of a calculator form (`action_ask_<slot>`), naming the tax year."""

    @property
    @abstractmethod
    def slot_name(self) -> str:
        """The slot asked for (a class attribute in each subclass)."""

    def name(self) -> Text:
        return f"action_ask_{self.slot_name}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        calc = SLOT_TO_CALCULATOR[self.slot_name]
        spec = calc.field(self.slot_name)
        year = tracker.get_slot(YEAR_SLOT)
        shown_year = int(year) if year else default_tax_year()
        dispatcher.utter_message(
            text=spec.question(reply_language(tracker), shown_year),
            custom=form_payload(calc.name, self.slot_name, "asking", tax_year=shown_year),
        )
        return []


def _ask_action(slot: str) -> type:
    class_name = "Ask" + "".join(part.title() for part in slot.split("_"))
    return type(class_name, (AskForSlot,), {"slot_name": slot, "__module__": __name__})


ASK_ACTIONS = {slot: _ask_action(slot) for slot in ALL_CALCULATOR_SLOTS}
globals().update({cls.__name__: cls for cls in ASK_ACTIONS.values()})
