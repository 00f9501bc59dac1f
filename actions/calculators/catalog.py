"""The calculator catalogue as data: what each guided calculator asks for and the words that name it.

A `Calculator` is a Rasa form (`<name>_form`) with its `Field`s in the order the form asks them; each
field's label, question and answer hint are catalogue texts (knowledge/messages/calculators.<lang>.yml,
keys `calc.label.<slot>`, `calc.ask.<slot>`, `calc.hint.<slot>`). domain.yml declares the same forms
and slots (a test checks that they agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, Optional, Sequence, Tuple

from knowledge.catalogue import text as phrase

#: The slot holding the tax year a calculation is for (None: the current year).
YEAR_SLOT = "tax_year"


def today() -> date:
    """Today's date (a function so that tests can fix it: patch `actions.calculators.catalog.today`)."""
    return date.today()


def default_tax_year() -> int:
    """The tax year used when the taxpayer names none: the current year."""
    return today().year


@dataclass(frozen=True)
class Field:
    """One thing a calculator asks for: its slot, what kind of answer it takes and the words naming it."""

    slot: str
    kind: str = "amount"  # amount | month | period
    per: Optional[str] = None  # amounts: "year" or "month" (converted from other periods); None = as given
    keywords: Optional[str] = None  # regex naming this slot in free text
    allow_zero: bool = False

    def label(self, language: str = "en") -> str:
        """What the slot is called: 'salary income for the year' / '全年工资薪金收入'."""
        return phrase(f"calc.label.{self.slot}", language)

    def question(self, language: str = "en", year: Optional[int] = None) -> str:
        """The question asking for the slot, naming the tax year (the current one by default)."""
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
        """The Rasa form collecting the fields (`<name>_form`)."""
        return f"{self.name}_form"

    @property
    def slots(self) -> Tuple[str, ...]:
        """The fields' slots in the order the form asks them."""
        return tuple(f.slot for f in self.fields)

    @property
    def title(self) -> str:
        """The English title ('annual bonus tax'); `title_in` for a reply's language."""
        return self.title_in("en")

    def title_in(self, language: str) -> str:
        """The calculator's title in `language`."""
        return phrase(f"calc.title.{self.name}", language)

    def field(self, slot: str) -> Field:
        """The field of `slot` (StopIteration when the calculator has none)."""
        return next(f for f in self.fields if f.slot == slot)


# Words naming a slot in free text (English and Chinese), used as `Field.keywords` and `Calculator.foreign`.
_WITHHELD = (
    r"withh[eo]ld|withholding|prepaid|pre-paid|tax (?:was |were |already )?(?:paid|deducted|taken)|"
    r"(?:in|of) (?:income )?tax\b|income tax|\biit\b|个税|个人所得税|已预缴|已扣|预扣|已缴|扣税|扣了?.{0,3}税"
)
_SPECIAL_ADDITIONAL = r"special additional|additional deductions?|专项附加"
_SOCIAL = (
    r"social insurance|social security|housing (?:provident )?fund|provident fund|insurance|"
    r"五险一金|三险一金|社保|公积金"
)
_INCOME = r"salary|salaries|wages?|income|earn(?:s|ed|ing)?|gross|\bpay\b|年薪|月薪|工资|收入|薪水|薪资|税前"
_BONUS = r"bonus|年终奖|奖金"
_SALES = r"sales|revenue|turnover|sold|sell(?:s|ing)?|invoiced|income|销售额|营业额|收入|卖了|开票"
_VAT_WORDS = r"\bvat\b|增值税"

#: The four calculators by name.
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

#: The calculator each form slot belongs to.
SLOT_TO_CALCULATOR: Dict[str, Calculator] = {f.slot: c for c in CALCULATORS.values() for f in c.fields}
#: Every form slot of every calculator.
ALL_CALCULATOR_SLOTS: Tuple[str, ...] = tuple(SLOT_TO_CALCULATOR)


def form_payload(calculator: Optional[str], slot: Optional[str], status: str, **extra: Any) -> Dict[str, Any]:
    """The `custom` payload of every message sent while a calculator collects its figures."""
    payload: Dict[str, Any] = {"kind": "form", "calculator": calculator, "slot": slot, "status": status}
    payload.update(extra)
    return payload


def years_text(years: Sequence[int], language: str = "en") -> str:
    """The tax years a calculator covers in words: '2019 to 2027' / '2019年至2027年'; a list when they have gaps."""
    if not years:
        return phrase("calc.years.none", language)
    if list(years) == list(range(years[0], years[-1] + 1)) and len(years) > 1:
        return phrase("calc.years.range", language, first=years[0], last=years[-1])
    separator = phrase("calc.years.separator", language)
    return separator.join(phrase("calc.years.one", language, year=y) for y in years)
