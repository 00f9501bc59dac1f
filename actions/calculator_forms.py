"""The guided calculators' forms: what each calculator asks, how answers are read, and the slot
validation (Rasa forms with `FormValidationAction` subclasses).

A taxpayer may give every figure in one message ("my salary was 240k, social insurance 24,000 ...")
or one at a time, in their own notation ("240k", "24,000", "2.4万", "¥5000/month"); an amount goes
to the slot its words name (salary, social insurance, withheld ...), otherwise to the slot being
asked. "none" / "no" answer the slots where zero makes sense. Naming a slot that is already filled
changes it ("actually my income was 250k"). Impossible values are refused with the reason, and the
form asks again. A message that answers nothing (a tax question, "stop") is left to the rules: the
validation action returns no slot, the form rejects, and the rules answer or cancel.
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

from actions.taxcalc.money import format_money
from knowledge.amounts import find_amounts, parse_amount

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
    """One thing a calculator asks for."""

    slot: str
    label: str  # "salary income for the year"
    question: str  # may use {year}
    kind: str = "amount"  # amount | month | period
    per: Optional[str] = None  # amounts: "year" or "month" (converted from other periods); None = as given
    keywords: Optional[str] = None  # regex naming this slot in free text
    allow_zero: bool = False
    hint: str = ""


@dataclass(frozen=True)
class Calculator:
    """A guided calculator: its name (the `calculator` entity value), its form and its fields."""

    name: str
    title: str
    fields: Tuple[Field, ...]
    foreign: Optional[str] = None  # regex for amounts that belong to another calculator (ignored)

    @property
    def form(self) -> str:
        return f"{self.name}_form"

    @property
    def slots(self) -> Tuple[str, ...]:
        return tuple(f.slot for f in self.fields)

    def field(self, slot: str) -> Field:
        return next(f for f in self.fields if f.slot == slot)


_WITHHELD = (
    r"withh[eo]ld|withholding|prepaid|pre-paid|tax (?:was |were |already )?(?:paid|deducted|taken)|"
    r"(?:in|of) (?:income )?tax\b|income tax|\biit\b|个税|已预缴|已扣|预扣|已缴"
)
_SPECIAL_ADDITIONAL = r"special additional|additional deductions?|专项附加"
_SOCIAL = r"social insurance|social security|housing (?:provident )?fund|provident fund|insurance|五险一金|社保|公积金"
_INCOME = r"salary|salaries|wages?|income|earn(?:s|ed|ing)?|gross|\bpay\b|年薪|月薪|工资|收入|薪水"
_BONUS = r"bonus|年终奖|奖金"
_SALES = r"sales|revenue|turnover|sold|sell(?:s|ing)?|invoiced|income|销售额|营业额|收入"
_VAT_WORDS = r"\bvat\b|增值税"
_NONE_WORDS = re.compile(
    r"^\s*(?:none|no|nope|nah|nothing|zero|nil|n/?a|not any|no,? none|i have none|i don'?t have any|"
    r"i do not have any|don'?t have any|没有|无)\s*[.!]*\s*$",
    re.IGNORECASE,
)
_NEGATION = r"\b(?:no|zero|nil|without|don'?t have(?: any)?|do not have(?: any)?|didn'?t pay(?: any)?|never paid)\b"

CALCULATORS: Dict[str, Calculator] = {
    calc.name: calc
    for calc in (
        Calculator(
            name="annual_reconciliation",
            title="annual reconciliation estimate",
            fields=(
                Field(
                    "annual_income",
                    "salary income for the year",
                    "What was your total salary income for {year}, before tax? "
                    'For example "240k" or "20,000 a month".',
                    per="year",
                    keywords=_INCOME,
                    hint='"240k" or "20,000 a month"',
                ),
                Field(
                    "social_insurance",
                    "social insurance and housing fund paid",
                    "How much did you pay into social insurance and the housing fund in {year} "
                    '(your own share)? For example "24,000" or "2,000 a month"; say "none" if nothing.',
                    per="year",
                    keywords=_SOCIAL,
                    allow_zero=True,
                    hint='"24,000" or "2,000 a month"',
                ),
                Field(
                    "special_additional",
                    "special additional deductions per month",
                    "What are your special additional deductions per month in total (children's education, "
                    "infant care, elderly support, housing rent or loan interest, continuing education)? "
                    'For example "3,000"; say "none" if you have none.',
                    per="month",
                    keywords=_SPECIAL_ADDITIONAL,
                    allow_zero=True,
                    hint='"3,000" or "none"',
                ),
                Field(
                    "tax_withheld",
                    "tax already withheld",
                    "How much income tax was already withheld from your pay in {year}? "
                    '(Your payslips or the IIT app show it.) Say "none" if nothing was withheld.',
                    per="year",
                    keywords=_WITHHELD,
                    allow_zero=True,
                    hint='"12,000" or "none"',
                ),
            ),
            foreign=_BONUS + "|" + _VAT_WORDS,
        ),
        Calculator(
            name="monthly_withholding",
            title="monthly withholding estimate",
            fields=(
                Field(
                    "monthly_salary",
                    "monthly salary",
                    "What is your monthly salary before tax? For example \"20,000\" or \"2万\".",
                    per="month",
                    keywords=_INCOME,
                    hint='"20,000" or "2万"',
                ),
                Field(
                    "monthly_social_insurance",
                    "social insurance and housing fund per month",
                    "How much social insurance and housing fund is taken from your salary each month "
                    '(your own share)? Say "none" if nothing.',
                    per="month",
                    keywords=_SOCIAL,
                    allow_zero=True,
                    hint='"2,200" or "none"',
                ),
                Field(
                    "monthly_special_additional",
                    "special additional deductions per month",
                    "What are your special additional deductions per month in total (children's education, "
                    "infant care, elderly support, housing rent or loan interest)? Say \"none\" if you have none.",
                    per="month",
                    keywords=_SPECIAL_ADDITIONAL,
                    allow_zero=True,
                    hint='"2,500" or "none"',
                ),
                Field(
                    "withholding_month",
                    "month",
                    "Which month of {year} is it for? For example \"March\" or \"3\" "
                    "(I assume the same pay every month since January).",
                    kind="month",
                    hint='"March" or "3"',
                ),
            ),
            foreign=_BONUS + "|" + _VAT_WORDS,
        ),
        Calculator(
            name="annual_bonus",
            title="annual bonus tax",
            fields=(
                Field(
                    "bonus_amount",
                    "annual bonus",
                    'How much is the annual one-off bonus, before tax? For example "50,000" or "5万".',
                    keywords=_BONUS,
                    hint='"50,000" or "5万"',
                ),
            ),
            foreign=_INCOME + "|" + _SOCIAL + "|" + _SALES,
        ),
        Calculator(
            name="small_scale_vat",
            title="small-scale VAT",
            fields=(
                Field(
                    "sales_amount",
                    "sales",
                    "How much were your sales for the period, excluding VAT? For example \"120,000\".",
                    keywords=_SALES,
                    hint='"120,000"',
                ),
                Field(
                    "vat_period",
                    "tax period",
                    "Do you file VAT monthly or quarterly? (Say \"month\" or \"quarter\".)",
                    kind="period",
                    hint='"month" or "quarter"',
                ),
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
_MONTH_NUMBER = re.compile(
    r"\bmonth\s*(?:no\.?\s*)?(\d{1,3})\b|\b(\d{1,3})(?:st|nd|rd|th)?\s+month\b(?!s)|(?<![\d/每.])(\d{1,3})\s*月(?!份?薪)",
    re.IGNORECASE,
)
_RELATIVE_MONTH = re.compile(r"\b(this|current|last|previous|next)\s+month\b|\bright now\b|本月|这个月|上个月|下个月", re.IGNORECASE)
_BARE_INTEGER = re.compile(r"^\s*(?:the\s+)?(\d{1,3})(?:st|nd|rd|th)?\s*[.!]?\s*$", re.IGNORECASE)
_QUARTER = re.compile(r"quarter|quarterly|\bqtr\b|\bq[1-4]\b|季度|按季", re.IGNORECASE)
_MONTH_PERIOD = re.compile(r"\bmonth\b|\bmonthly\b|按月|每月|月度", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\d.,])(20[1-3]\d)(?![\d,]|\s*(?:yuan|rmb|元|块|k\b))", re.IGNORECASE)
_NEGATIVE = re.compile(r"(?:^|[^\w\d])[-−]\s*[¥￥]?\s*\d|\b(?:minus|negative)\s+[¥￥]?\d", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[.;!?。；！？\n]|,\s|，|\band\b|\bbut\b|\bplus\b|\balso\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z\u4e00-\u9fff]+")
_FILLER = re.compile(
    r"^(?:it'?s|it is|its|was|is|about|around|roughly|approx(?:imately)?|maybe|say|yuan|rmb|cny|per|a|an|the|"
    r"i|my|paid|pay|earn|got|get|ok|okay|well|um|uh|total|in|of|for|each|every|month|monthly|year|yearly|"
    r"annually|quarter|quarterly|just|only|exactly|actually|sorry|yes|no|none|nothing|zero)$",
    re.IGNORECASE,
)
_CONVERSIONS = {
    ("month", "year"): Decimal(12),
    ("quarter", "year"): Decimal(4),
    ("year", "month"): Decimal(1) / Decimal(12),
    ("quarter", "month"): Decimal(1) / Decimal(3),
}
_PERIOD_TEXT = {"month": "a month", "quarter": "a quarter", "year": "a year"}


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
    go through the pipeline), the amounts module on the raw text, leaving out bare years."""
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


def _convert(value: Decimal, period: Optional[str], spec: Field) -> Tuple[Decimal, Optional[str]]:
    """`value` expressed per the field's period, and a note saying how it was converted."""
    if spec.per is None or period is None or period == spec.per:
        return _quantize(value), None
    factor = _CONVERSIONS[(period, spec.per)]
    converted = _quantize(value * factor)
    return converted, (
        f"{format_money(value)} {_PERIOD_TEXT[period]} = {format_money(converted)} {_PERIOD_TEXT[spec.per]}"
    )


def read_month(text: str, requested: bool) -> Tuple[Optional[int], Optional[str], Optional[Tuple[int, int]]]:
    """(month, problem, span) named in `text`; a bare number counts only when the month is being asked."""
    relative = _RELATIVE_MONTH.search(text)
    if relative:
        word = relative.group(0).lower()
        month = today().month
        if any(w in word for w in ("last", "previous", "上个")):
            month -= 1
        elif any(w in word for w in ("next", "下个")):
            month += 1
        if not 1 <= month <= 12:
            return None, "that month is in another tax year; please name a month from January to December", None
        return month, None, relative.span()
    number = _MONTH_NUMBER.search(text)
    if number:
        value = int(next(g for g in number.groups() if g))
        if not 1 <= value <= 12:
            return None, f"there is no month {value}: a tax year has months 1 to 12 (January to December)", None
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
            value = int(bare.group(1))
            if not 1 <= value <= 12:
                return None, f"there is no month {value}: a tax year has months 1 to 12 (January to December)", None
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
    words = [w for w in _WORD.findall(rest) if not _FILLER.match(w)]
    return len(words) <= 3


def read_answer(
    calculator: Calculator, message: Dict[str, Any], requested: Optional[str], activating: bool = False
) -> Reading:
    """Everything the latest message says for `calculator`'s slots.

    `requested` is the slot being asked (None at activation); an amount whose words name no slot
    goes to it, or at activation to the first slot the message has not filled yet.
    """
    text = (message.get("text") or "").strip()
    reading = Reading()
    if not text or text.startswith("/"):
        return reading
    intent = ((message.get("intent") or {}).get("name")) or ""
    if intent in NEVER_ANSWER_INTENTS:
        return reading
    amounts = _entity_amounts(message, text)
    spans: List[Tuple[int, int]] = [(a.start, a.end) for a in amounts]

    month_field = next((f for f in calculator.fields if f.kind == "month"), None)
    period_field = next((f for f in calculator.fields if f.kind == "period"), None)
    month_span: Optional[Tuple[int, int]] = None
    if month_field is not None:
        month, problem, month_span = read_month(text, requested == month_field.slot)
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
            reading.problems[slot] = (
                "VAT is worked out for one month or one quarter, so please give the sales of one month or "
                "one quarter rather than a whole year"
            )
            continue
        converted, note = _convert(value, period, spec)
        reading.values[slot] = float(converted)
        if note:
            reading.notes[slot] = note

    # "none" / "no" for the slots where zero makes sense
    zero_ok = [f for f in amount_fields if f.allow_zero]
    if requested in [f.slot for f in zero_ok] and requested not in reading.values:
        if _NONE_WORDS.match(text) or (intent == "deny" and not amounts):
            reading.values[requested] = 0.0
    for spec in zero_ok:
        if spec.slot in reading.values or not spec.keywords:
            continue
        if re.search(_NEGATION + r"[\w\s'-]{0,25}?(?:" + spec.keywords + ")", text, re.IGNORECASE):
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
            reading.problems[target] = "an amount cannot be negative"
    return reading


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


def years_text(years: Sequence[int]) -> str:
    if not years:
        return "no year"
    if list(years) == list(range(years[0], years[-1] + 1)):
        return f"{years[0]} to {years[-1]}" if len(years) > 1 else str(years[0])
    return ", ".join(str(y) for y in years)


# ------------------------------------------------------------------------------------ actions


class CalculatorFormValidation(FormValidationAction):
    """Reads the latest message into the calculator's slots and validates them.

    Subclasses name their calculator; the `validate_<slot>` methods hold the per-slot checks.
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
        message = tracker.latest_message or {}
        activating = loop_at_latest_message(tracker) != calc.form
        requested = None if activating else tracker.get_slot(REQUESTED_SLOT)
        reading = read_answer(calc, message, requested, activating)
        first_message = len(dispatcher.messages)
        if activating:
            earlier = message_before_choice(tracker)
            if earlier is not None:
                # "calculate the tax on an 80k bonus" -> which calculator? -> [bonus button]: keep the 80k
                before = read_answer(calc, earlier, None, True)
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
                    text = f"We're already working on your {calc.title}; let's carry on."
                else:
                    text = f"Sorry, I didn't catch the {spec.label} there. Please answer like {spec.hint}."
                self._say(dispatcher, text, requested, "invalid")
                set_slot(requested, None)
            return events

        if reading.year is not None:
            self._apply_year(reading.year, dispatcher, set_slot, announce=not activating)

        for slot, value in reading.values.items():
            previous = tracker.get_slot(slot)
            validate = getattr(self, f"validate_{slot}")
            result = validate(value, dispatcher, tracker, domain)
            new_value = result.get(slot)
            set_slot(slot, new_value)
            if new_value is None:
                continue
            note = reading.notes.get(slot)
            if not activating and previous is not None and previous != new_value:
                self._say(
                    dispatcher,
                    f"Changed: {calc.field(slot).label} is now {self._show(slot, new_value)} "
                    f"(was {self._show(slot, previous)}).",
                    slot,
                    "updated",
                )
            elif note:
                self._say(dispatcher, f"Noted: {calc.field(slot).label} {note}.", slot, "noted")
        for slot, reason in reading.problems.items():
            spec = calc.field(slot)
            self._say(dispatcher, f"Sorry, I can't use that for the {spec.label}: {reason}.", slot, "invalid")
            set_slot(slot, None)
        if activating:
            self._introduce(dispatcher, tracker, first_message)
        return events

    def _introduce(self, dispatcher: CollectingDispatcher, tracker: Tracker, position: int) -> None:
        """At activation, when questions will follow: what this calculator does and how to stop."""
        calc = self.calculator
        missing = [slot for slot in calc.slots if tracker.slots.get(slot) is None]
        if not missing:
            return  # every figure was in the first message: the result follows at once
        year = tracker.slots.get(YEAR_SLOT)
        shown_year = int(year) if year else default_tax_year()
        count = len(missing)
        text = (
            f"Let's work out your {calc.title} for {shown_year}. I need {count} more figure{'s' if count > 1 else ''}; "
            'you can correct an answer at any time, or say "stop" to cancel.'
        )
        dispatcher.messages.insert(position, {
            "text": text, "buttons": [], "elements": [], "custom": form_payload(calc.name, None, "started"),
            "template": None, "response": None, "image": None, "attachment": None,
        })

    def _apply_year(self, year: int, dispatcher: CollectingDispatcher, set_slot: Any, announce: bool = False) -> None:
        years = supported_years(self.calculator_name)
        if year in years:
            set_slot(YEAR_SLOT, float(year))
            if announce:
                self._say(dispatcher, f"Noted: I'll work out the {self.calculator.title} for {year}.", YEAR_SLOT, "noted")
            return
        set_slot(YEAR_SLOT, None)
        self._say(
            dispatcher,
            f"Sorry, I don't have the tax rules for {year}: the {self.calculator.title} can be worked out for "
            f"{years_text(years)}. I'll use {default_tax_year()} unless you name one of those years.",
            YEAR_SLOT,
            "invalid",
        )

    @staticmethod
    def _show(slot: str, value: Any) -> str:
        if slot == "withholding_month":
            return date(2000, int(value), 1).strftime("%B")
        if slot == "vat_period":
            return str(value)
        return f"{format_money(Decimal(str(value)))} yuan"

    # ------------------------------------------------------------------ shared checks

    def _refuse(self, dispatcher: CollectingDispatcher, slot: str, reason: str) -> Dict[Text, Any]:
        label = self.calculator.field(slot).label
        self._say(dispatcher, f"Sorry, I can't use that for the {label}: {reason}.", slot, "invalid")
        return {slot: None}

    def _check_amount(
        self, value: Any, dispatcher: CollectingDispatcher, slot: str, at_most: Optional[Tuple[str, str]] = None,
        tracker: Optional[Tracker] = None,
    ) -> Dict[Text, Any]:
        """A non-negative amount (above zero unless the field allows zero), not absurdly large, and
        when `at_most` = (other slot, why) is given not above that slot's value."""
        if value is None:
            return {slot: None}
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            return self._refuse(dispatcher, slot, "it is not a number")
        if not amount.is_finite():
            return self._refuse(dispatcher, slot, "it is not a number")
        spec = self.calculator.field(slot)
        if amount < 0:
            return self._refuse(dispatcher, slot, "an amount cannot be negative")
        if amount == 0 and not spec.allow_zero:
            return self._refuse(dispatcher, slot, "it must be more than zero")
        if amount > MAX_AMOUNT:
            return self._refuse(
                dispatcher, slot, f"{format_money(amount)} yuan is beyond any amount I can check; is there a typo?"
            )
        if at_most is not None and tracker is not None:
            other, why = at_most
            limit = tracker.get_slot(other)
            if limit is not None and amount > Decimal(str(limit)):
                return self._refuse(
                    dispatcher,
                    slot,
                    f"{format_money(amount)} yuan is more than your {self.calculator.field(other).label} "
                    f"({format_money(Decimal(str(limit)))} yuan), and {why}",
                )
        return {slot: float(amount)}


class ValidateAnnualReconciliationForm(CalculatorFormValidation):
    calculator_name = "annual_reconciliation"

    def validate_annual_income(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "annual_income")

    def validate_social_insurance(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(
            value, dispatcher, "social_insurance",
            ("annual_income", "your contributions are paid out of that salary"), tracker,
        )

    def validate_special_additional(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "special_additional")

    def validate_tax_withheld(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(
            value, dispatcher, "tax_withheld",
            ("annual_income", "tax is withheld from that income"), tracker,
        )


class ValidateMonthlyWithholdingForm(CalculatorFormValidation):
    calculator_name = "monthly_withholding"

    def validate_monthly_salary(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "monthly_salary")

    def validate_monthly_social_insurance(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(
            value, dispatcher, "monthly_social_insurance",
            ("monthly_salary", "your contributions are taken out of that salary"), tracker,
        )

    def validate_monthly_special_additional(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                            domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "monthly_special_additional")

    def validate_withholding_month(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        if value is None:
            return {"withholding_month": None}
        try:
            month = float(value)
        except (TypeError, ValueError):
            return self._refuse(dispatcher, "withholding_month", "please name a month from January to December")
        if month != int(month) or not 1 <= month <= 12:
            return self._refuse(
                dispatcher, "withholding_month", "a tax year has months 1 to 12 (January to December)"
            )
        return {"withholding_month": float(int(month))}


class ValidateAnnualBonusForm(CalculatorFormValidation):
    calculator_name = "annual_bonus"

    def validate_bonus_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "bonus_amount")


class ValidateSmallScaleVatForm(CalculatorFormValidation):
    calculator_name = "small_scale_vat"

    def validate_sales_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return self._check_amount(value, dispatcher, "sales_amount")

    def validate_vat_period(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        if value in ("month", "quarter"):
            return {"vat_period": value}
        if value is None:
            return {"vat_period": None}
        return self._refuse(dispatcher, "vat_period", 'small-scale taxpayers file per "month" or per "quarter"')


# ---------------------------------------------------------------------------- the questions

CHOICES = (
    ("annual_reconciliation", "Annual tax refund (reconciliation)"),
    ("monthly_withholding", "This month's salary withholding"),
    ("annual_bonus", "Tax on a year-end bonus"),
    ("small_scale_vat", "Small-scale VAT on sales"),
)


class AskWhichCalculator(Action):
    """Asks which calculation the taxpayer wants, with one button per calculator.

    (A custom action rather than a response: Rasa would try to fill the payloads' braces as slots.)
    """

    def name(self) -> Text:
        return "action_ask_calculator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        buttons = [
            {"title": title, "payload": '/start_calculation{"calculator": "%s"}' % name} for name, title in CHOICES
        ]
        dispatcher.utter_message(
            text="I can work out four estimates for you. Which one would you like?",
            buttons=buttons,
            custom=form_payload(None, "calculator", "asking", options=[name for name, _ in CHOICES]),
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
            text=spec.question.format(year=shown_year),
            custom=form_payload(calc.name, self.slot_name, "asking", tax_year=shown_year),
        )
        return []


def _ask_action(slot: str) -> type:
    class_name = "Ask" + "".join(part.title() for part in slot.split("_"))
    return type(class_name, (AskForSlot,), {"slot_name": slot, "__module__": __name__})


ASK_ACTIONS = {slot: _ask_action(slot) for slot in ALL_CALCULATOR_SLOTS}
globals().update({cls.__name__: cls for cls in ASK_ACTIONS.values()})
